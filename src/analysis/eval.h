// loupe eval: per-token loss over a data file, perplexity per document and overall (with the
// standard error llama-perplexity prints), the most surprising tokens, and detectors for
// degenerate text (repetition loops, n-gram repetition, sudden entropy collapse). Documents are
// streamed: each is handed to a callback when it ends and then forgotten.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/data.h"
#include "analysis/divergence.h"
#include "engine/interpreter.h"

namespace loupe::analysis {

// A token repeated with a fixed period at the end of a document ("a b c a b c a b c").
struct RepetitionLoop {
  int64_t period = 0;  // tokens per repetition
  int64_t start = 0;   // position where the loop starts
  int64_t length = 0;  // tokens covered by the loop, from start to the end
  double repeats = 0;  // length / period
};

// The mean entropy of the next window positions falls below ratio x that of the window before.
struct EntropyCollapse {
  int64_t pos = 0;  // first position of the low-entropy window
  double before = 0;
  double after = 0;
};

struct DegenerationOptions {
  int64_t ngram = 4;             // n of the n-gram repetition rate
  int64_t max_period = 64;       // longest loop period looked for
  double min_repeats = 3;        // a loop repeats at least this often ...
  int64_t min_loop_tokens = 8;   // ... and covers at least this many tokens
  int64_t collapse_window = 16;  // positions averaged on each side
  double collapse_ratio = 0.25;  // after < ratio x before
  double collapse_min = 1.0;     // and before >= this many nats
};

// The longest-covering periodic tail of tokens (nullopt when none qualifies).
std::optional<RepetitionLoop> find_repetition_loop(const std::vector<int32_t>& tokens, const DegenerationOptions& o);
// Fraction of the n-grams of tokens that already occurred earlier in them (0 when there are none).
double ngram_repetition_rate(const std::vector<int32_t>& tokens, int64_t n);
// The first entropy collapse in a sequence of per-position entropies.
std::optional<EntropyCollapse> find_entropy_collapse(const std::vector<double>& entropy, const DegenerationOptions& o);

struct TokenLoss {
  int64_t pos = 0;  // position of the predicted token within its document
  int32_t token = 0;
  double loss = 0;     // -log p(token)
  double entropy = 0;  // of the predictive distribution, nats
  int32_t top = 0;     // most likely token
};

struct DocEval {
  int64_t doc = 0;
  int64_t line = 0;
  std::vector<int32_t> tokens;  // the document's tokens (BOS included when added)
  std::vector<TokenLoss> losses;
  ValueError ppl;
  double mean_loss = 0;
  double mean_entropy = 0;
  double ngram_repetition = 0;
  std::optional<RepetitionLoop> loop;
  std::optional<EntropyCollapse> collapse;
};

struct SurprisingToken {
  int64_t doc = 0;
  int64_t line = 0;
  TokenLoss t;
  std::string context;
  std::string text;
  std::string top_text;
};

struct EvalOptions {
  SequencerOptions seq;
  RunOptions run;
  DegenerationOptions degeneration;
  size_t n_surprising = 20;
  std::function<void(const DocEval&)> on_doc;  // each document when it ends
  // Which documents this run evaluates (null: all): ranks of an MPI job take every size-th one.
  // The others are read and counted but not run.
  std::function<bool(int64_t doc)> take_doc;
  // This run is one part of a job: scoring nothing is not an error (the job's sum decides).
  bool part = false;
  std::function<void(int64_t docs, int64_t tokens)> progress;
};

struct EvalResult {
  std::string model;
  int64_t n_docs = 0;  // documents with at least one scored token
  int64_t n_tokens_scored = 0;
  double mean_loss = 0;
  ValueError ppl;
  double mean_entropy = 0;
  int64_t docs_with_loop = 0;
  int64_t docs_with_collapse = 0;
  double mean_ngram_repetition = 0;  // over documents
  std::vector<SurprisingToken> surprising;
};

EvalResult run_eval(const Model& model, const std::string& data_path, const std::string& field,
                    const EvalOptions& options);

// The corpus figures, accumulated document by document in document order. run_eval uses it, and
// so does the merge of an MPI job's documents, so both give the same bits.
class EvalSummary {
 public:
  void add(const DocEval& d);
  // The result, with the surprising tokens of every part (merged: the largest losses, earlier
  // documents and positions first among equals, as one run's TopK keeps them). Throws when no
  // token was scored.
  EvalResult finish(const std::string& model, const std::string& data_path, std::vector<SurprisingToken> surprising,
                    size_t n_surprising, bool allow_empty = false) const;

 private:
  EvalResult r_;
  double sum_ = 0, sum2_ = 0, hsum_ = 0, rep_sum_ = 0;
};

// Bytes that carry documents and surprising tokens between processes (exact: doubles as bits).
std::string pack(const DocEval& d);
std::string pack(const SurprisingToken& t);
DocEval unpack_doc(std::string_view& in);
SurprisingToken unpack_surprising(std::string_view& in);

nlohmann::ordered_json to_json(const EvalResult& r);
nlohmann::ordered_json to_json(const DocEval& d);

}  // namespace loupe::analysis
