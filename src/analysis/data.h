// Evaluation data: documents streamed from the corpus reader (text, JSONL, CSV, gz, zst, folders),
// and the token sequences the analysis commands run, one at a time, so memory does not grow
// with the number of documents.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/input.h"

namespace loupe {
struct Model;
}

namespace loupe::analysis {

// Reads documents one at a time through the corpus reader the explorer uses (data::Reader): a
// file, a folder (its files in name order), standard input ("-"), plain or gzip / zstd, split
// by format: one document per line (text), JSONL (a string field, dotted for nesting), CSV (a
// column) or blank-line separated. Auto: by extension, else JSONL when the first non-blank
// character is '{', else lines. Blank documents are skipped. A bad record (broken JSON, a
// missing field, a CSV row without the column, invalid UTF-8, one past the size limit) is
// reported as FILE:LINE: PROBLEM and skipped, or stops the reading with that error when strict.
class DocumentReader {
 public:
  explicit DocumentReader(const std::string& path, const std::string& field = "text",
                          data::Format format = data::Format::Auto, bool strict = false);
  ~DocumentReader();
  DocumentReader(const DocumentReader&) = delete;
  DocumentReader& operator=(const DocumentReader&) = delete;

  // The format of the first input, resolved.
  data::Format format() const { return format_; }
  // The next document's text, or nullopt at the end of the data.
  std::optional<std::string> next();
  // 1-based line of the document last returned, and its file.
  int64_t line() const { return line_; }
  const std::string& path() const;
  // Records skipped so far. Each is handed to on_problem ("FILE:LINE: PROBLEM"); by default the
  // first 20 are printed to stderr as warnings.
  int64_t skipped() const { return skipped_; }
  void set_on_problem(std::function<void(const std::string&)> f) { on_problem_ = std::move(f); }

 private:
  void problem(uint32_t source, int64_t line, const std::string& message);
  void take_reader_problems();

  std::unique_ptr<data::Reader> reader_;
  std::string path_;
  std::string field_;
  bool strict_ = false;
  data::Format format_ = data::Format::Lines;
  std::vector<data::Record> batch_;
  size_t pos_ = 0;
  uint32_t source_ = 0;
  int64_t line_ = 0;
  int64_t skipped_ = 0;
  std::function<void(const std::string&)> on_problem_;
};

// One forward pass worth of tokens. Position i (i >= first_scored, i + 1 < tokens.size())
// predicts tokens[i + 1].
struct Sequence {
  int64_t doc = 0;              // index of the document (per-document mode) or chunk
  int64_t doc_line = 0;         // its 1-based line in the data file (per-document mode)
  int64_t offset = 0;           // position of tokens[0] within the document's tokens
  std::vector<int32_t> tokens;  // [n]
  int64_t first_scored = 0;     // first position whose next-token prediction is scored
  bool last_of_doc = true;      // no further window of this document follows
};

// How documents become sequences.
//  - per document (chunk = 0): each document is tokenised on its own (BOS first when the model
//    adds one) and every next-token prediction is scored. A document longer than max_len is cut
//    into windows that overlap by one token, so each token is predicted exactly once.
//  - llama-perplexity chunks (chunk = N): the whole file (documents joined by '\n') is
//    tokenised at once with BOS, cut into floor(n_tokens / N) chunks of N tokens, the first
//    token of each chunk is replaced by BOS when the model adds one, and only the second half
//    of each chunk is scored (positions N/2 .. N-2 predicting N/2+1 .. N-1).
struct SequencerOptions {
  int64_t chunk = 0;
  int64_t max_len = 0;   // per-document window length (usually the context)
  int64_t max_docs = 0;  // stop after this many documents; 0 = all
  // How the data is read (DocumentReader).
  data::Format format = data::Format::Auto;
  bool strict = false;
};

// One process's share of a job split over processes (`mpirun -np N`): it runs the sequences
// whose index modulo parts is part, and gather sends its packed state to part 0, which gets
// every part's state in part order (the others get nothing back). docs/ci.md says what merges.
struct JobSplit {
  int part = 0;
  int parts = 1;
  std::function<std::vector<std::string>(const std::string& mine)> gather;
  bool multi() const { return parts > 1; }
  bool takes(int64_t sequence) const { return sequence % parts == part; }
  bool root() const { return part == 0; }
};

class Sequencer {
 public:
  Sequencer(const Model& model, DocumentReader& reader, const SequencerOptions& options);
  // The next sequence, or nullopt when the data is exhausted.
  std::optional<Sequence> next();
  // Documents read so far.
  int64_t n_docs() const { return n_docs_; }

 private:
  bool load_next_document();

  const Model& model_;
  DocumentReader& reader_;
  SequencerOptions opt_;
  bool add_bos_ = false;
  int64_t n_docs_ = 0;
  // Per-document mode: the current document's tokens and the next window start.
  std::vector<int32_t> doc_tokens_;
  int64_t doc_line_ = 0;
  int64_t next_start_ = -1;
  // Chunk mode: all tokens of the file.
  bool chunks_loaded_ = false;
  std::vector<int32_t> all_tokens_;
  int64_t next_chunk_ = 0;
};

}  // namespace loupe::analysis
