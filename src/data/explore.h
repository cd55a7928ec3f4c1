// The data explorer: one streaming pass over a corpus that gathers every figure of
// `loupe explore` into a Summary. See docs/explore.md for the definitions.
//
// Work split: the reader (one thread, with a read-ahead thread) yields batches of records; each
// batch is scanned by all pool threads on contiguous slices of documents (phase A: counts,
// lengths, scripts, tokens, per-slice n-gram counts), then the n-gram partitions are merged by
// the threads in a fixed partition -> thread assignment (phase B), then the duplicate index
// and the slice summaries are folded in document order (phase C). Nothing depends on timing;
// exact results do not depend on the thread count either (a partition that turned into a sketch
// may differ within its stated error bound, since slices pre-aggregate their counts).
//
// Memory: the n-gram tables share memory_budget * 0.6 (each partition turns into a Misra-Gries
// summary past its share, see counter.h), the duplicate index memory_budget * 0.3 (a cap on
// checked documents, see dedup.h); batches are ~1 MiB per thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/counter.h"
#include "data/dedup.h"
#include "data/input.h"
#include "data/lengths.h"
#include "data/scripts.h"

namespace loupe {
class Tokenizer;
}

namespace loupe::data {

constexpr int kWordOrders = 4;   // word n-grams, n = 1..4
constexpr int kCharOrders = 3;   // character (code point) n-grams, n = 1..3
constexpr int kTokenOrders = 3;  // token n-grams, n = 1..3 (1 is the dense per-id count)
constexpr size_t kSnippetBytes = 120;
constexpr size_t kMaxExamples = 10;

struct ExploreOptions {
  Format format = Format::Auto;
  std::string field = "text";
  bool lowercase = false;   // fold case for word n-grams
  bool stop_words = false;  // skip word n-grams made only of English stop words
  const Tokenizer* tokenizer = nullptr;
  int64_t context_length = 2048;  // documents with more tokens than this are counted
  int threads = 1;
  size_t memory_budget = size_t{1} << 30;
  bool keep_records = false;  // keep per-document duplicate records (for --summary / merge)
  // A share of a job over processes: only records [first_record, end_record) of the input
  // (counted as the reader yields them) are analysed; the reader's own problems (CSV, records
  // too long) are counted only when reader_problems.
  uint64_t first_record = 0;
  uint64_t end_record = UINT64_MAX;
  bool reader_problems = true;
  // Called after each batch with (raw bytes read, total raw bytes or 0 if unknown).
  std::function<void(uint64_t, uint64_t)> progress;
};

// A document picked as an example (longest, shortest, duplicate, invalid UTF-8).
struct DocExample {
  uint64_t location = 0;  // pack_location(source, line)
  uint64_t value = 0;     // characters (lengths), byte offset (invalid UTF-8)
  uint64_t other = 0;     // the original's packed location (duplicates)
  std::string snippet;    // up to kSnippetBytes of the text (valid UTF-8)
};

// One document's duplicate record (kept when keep_records, for exact merging).
struct DocRecord {
  uint64_t hash = 0;
  uint64_t location = 0;
  BandKeys bands{};
};

struct Summary {
  explicit Summary(size_t memory_budget = size_t{1} << 30);

  std::vector<std::string> sources;
  std::string format;  // as requested ("auto", "lines", ...)
  std::string field;
  bool lowercase = false;
  bool stop_words = false;

  // counts
  uint64_t documents = 0, characters = 0, bytes = 0, words = 0, lines = 0;
  uint64_t empty_documents = 0, whitespace_documents = 0;
  uint64_t invalid_utf8_documents = 0, invalid_utf8_bytes = 0;
  uint64_t control_characters = 0;
  uint64_t urls = 0, documents_with_urls = 0, emails = 0, documents_with_emails = 0, number_words = 0;
  std::array<uint64_t, kScriptCount> script_characters{};
  std::vector<DocExample> invalid_utf8_examples;  // first kMaxExamples, value = byte offset

  // lengths
  LengthDistribution char_lengths, word_lengths, token_lengths;
  std::vector<DocExample> longest, shortest;  // by characters, kMaxExamples/2 each; shortest non-empty

  // tokens (when a tokenizer was given)
  bool has_tokens = false;
  std::string tokenizer_name;
  uint64_t tokens = 0, byte_fallback_tokens = 0, unknown_tokens = 0, documents_over_context = 0;
  int64_t context_length = 0;
  std::vector<uint64_t> token_counts;  // per id

  // n-grams
  std::vector<std::unique_ptr<NgramTable>> word_ngrams;   // [kWordOrders]
  std::vector<std::unique_ptr<NgramTable>> char_ngrams;   // [kCharOrders]
  std::vector<std::unique_ptr<NgramTable>> token_ngrams;  // [kTokenOrders - 1]: n = 2, 3

  // duplicates
  uint64_t exact_duplicate_documents = 0, exact_duplicate_groups = 0, near_duplicate_documents = 0;
  uint64_t dedup_checked = 0, dedup_unchecked = 0, dedup_cap = 0;
  std::vector<DocExample> exact_examples, near_examples;
  std::vector<DocRecord> records;

  // problems found in the input (line numbers); all counted, the first 100 kept
  uint64_t problem_count = 0;
  std::vector<Problem> problems;

  size_t memory_budget;
};

// Reads the inputs and returns their summary. Throws Error for an input that cannot be opened
// or decompressed; malformed records are problems in the summary, not errors.
Summary explore(const std::vector<std::string>& inputs, const ExploreOptions& options);

// Combines b into a as if b's documents had followed a's in one run (see docs/explore.md for
// what is exact). Both must use the same n-gram options (asserted by the caller). b's sources
// follow a's, unless same_sources (two shares of one input: the locations stay as they are).
void merge_summary(Summary& a, const Summary& b, uint64_t dedup_cap, bool same_sources = false);

// The records the reader yields for the inputs (documents and broken JSONL lines), to split
// them over the processes of a job.
uint64_t count_records(const std::vector<std::string>& inputs, const ExploreOptions& options);

// Reads the inputs again for the snippets of duplicate examples that lack one (a duplicate
// found when shares were merged, its shard did not list it).
void fill_snippets(Summary& s, const std::vector<std::string>& inputs, const ExploreOptions& options);

// Words of a text as the explorer sees them: maximal runs of letters, marks, numbers and '_'
// (an apostrophe between two letters stays inside the word). Exposed for tests.
std::vector<std::string> split_words(std::string_view text);
// The built-in English stop word list.
bool is_stop_word(std::string_view lowercase_word);

}  // namespace loupe::data
