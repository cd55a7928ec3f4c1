// More than one process: `mpirun -np N loupe eval ...` (Open MPI). Built with MPI when CMake finds
// it (LOUPE_MPI); otherwise, and whenever a process was not started by mpirun, a job of one.
// docs/ci.md says which commands split their work and what equals a single-process run.
#pragma once

#include <string>
#include <vector>

#include "analysis/data.h"

namespace loupe::cli {

struct Ranks {
  int rank = 0;
  int size = 1;
  bool multi() const { return size > 1; }
};

// This process's rank; starts MPI the first time when mpirun launched the process.
Ranks ranks();
// Each rank's bytes on rank 0, in rank order (rank 0's own first); other ranks get nothing back.
std::vector<std::string> gather_on_root(const std::string& mine);
// This process's share of the job's sequences, gathering on rank 0 (a job of one: everything).
analysis::JobSplit job_split();
// Ends the job: MPI_Abort with the code when a rank fails (so no rank waits for it and mpirun
// exits non-zero naming it), MPI_Finalize otherwise. No-op for a job of one.
void end_ranks(int exit_code);

}  // namespace loupe::cli
