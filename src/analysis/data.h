// Evaluation data: documents streamed from a plain-text file (one document per line) or a JSONL
// file (one object per line with a text field), and the token sequences the analysis commands
// run, one at a time, so memory does not grow with the number of documents.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace loupe {
struct Model;
}

namespace loupe::analysis {

enum class DataFormat : uint8_t { Text, Jsonl };

// Reads documents one at a time. Empty lines are skipped. The format is JSONL when the file
// name ends in .jsonl / .ndjson or its first non-blank character is '{'. Errors name file:line.
class DocumentReader {
 public:
  explicit DocumentReader(const std::string& path, const std::string& field = "text");
  DataFormat format() const { return format_; }
  // The next document's text, or nullopt at the end of the file.
  std::optional<std::string> next();
  // 1-based line of the document last returned.
  int64_t line() const { return line_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string field_;
  std::ifstream in_;
  DataFormat format_ = DataFormat::Text;
  int64_t line_ = 0;
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
