#include "ranks.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

#ifdef LOUPE_MPI
#include <mpi.h>
#endif

namespace loupe::cli {

#ifdef LOUPE_MPI
namespace {

bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

Ranks g_ranks;
bool g_started = false;

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) fail("MPI: ", what, " failed (code ", rc, ")");
}

}  // namespace

Ranks ranks() {
  if (g_started || !launched_by_mpirun()) return g_ranks;
  g_started = true;
  int init = 0;
  MPI_Initialized(&init);
  if (init == 0) check(MPI_Init(nullptr, nullptr), "MPI_Init");
  MPI_Comm_rank(MPI_COMM_WORLD, &g_ranks.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_ranks.size);
  return g_ranks;
}

std::vector<std::string> gather_on_root(const std::string& mine) {
  const Ranks r = ranks();
  if (!r.multi()) return {mine};
  constexpr uint64_t kChunk = uint64_t{1} << 30;
  if (r.rank != 0) {
    const uint64_t n = mine.size();
    check(MPI_Send(&n, 1, MPI_UINT64_T, 0, 1, MPI_COMM_WORLD), "MPI_Send");
    for (uint64_t off = 0; off < n; off += kChunk)
      check(MPI_Send(mine.data() + off, static_cast<int>(std::min(kChunk, n - off)), MPI_BYTE, 0, 2, MPI_COMM_WORLD),
            "MPI_Send");
    return {};
  }
  std::vector<std::string> all{mine};
  for (int src = 1; src < r.size; ++src) {
    uint64_t n = 0;
    check(MPI_Recv(&n, 1, MPI_UINT64_T, src, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
    std::string buf(n, '\0');
    for (uint64_t off = 0; off < n; off += kChunk)
      check(MPI_Recv(buf.data() + off, static_cast<int>(std::min(kChunk, n - off)), MPI_BYTE, src, 2, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE),
            "MPI_Recv");
    all.push_back(std::move(buf));
  }
  return all;
}

void end_ranks(int exit_code) {
  if (!g_started) return;
  std::fflush(stdout);
  std::fflush(stderr);
  if (exit_code != 0 && g_ranks.size > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
  MPI_Finalize();
}

#else

Ranks ranks() {
  return {};
}

std::vector<std::string> gather_on_root(const std::string& mine) {
  return {mine};
}

void end_ranks(int) {}

#endif

analysis::JobSplit job_split() {
  const Ranks r = ranks();
  analysis::JobSplit s;
  s.part = r.rank;
  s.parts = r.size;
  if (r.multi()) s.gather = gather_on_root;
  return s;
}

}  // namespace loupe::cli
