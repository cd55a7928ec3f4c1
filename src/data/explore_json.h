// The explorer's outputs: the --json report, the vocabulary laws, and the mergeable summary
// file (docs/explore.md describes both formats field by field).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "data/explore.h"

namespace loupe::data {

// Vocabulary size V after W words, at up to max_points points spaced evenly in log W, from the
// first-occurrence positions of the word unigrams (exact while the unigram table is exact).
std::vector<std::pair<uint64_t, uint64_t>> vocabulary_growth(const Summary& s, int max_points = 40);

// Least-squares fit of log y = log k + beta * log x over points with x, y > 0.
struct PowerFit {
  double k = 0;
  double beta = 0;
  int points = 0;
};
PowerFit fit_power_law(const std::vector<std::pair<double, double>>& points);

// Heaps' law V = k * W^beta over vocabulary_growth.
PowerFit heaps_fit(const Summary& s);
// Zipf: the slope of log(frequency) against log(rank) over the word unigrams (ranks 1..1000,
// or all when fewer); about -1 for natural text.
double zipf_slope(const Summary& s);

// The --json report; top_k n-grams per order. tok (may be null) names token pieces.
nlohmann::ordered_json report_json(const Summary& s, const Tokenizer* tok, size_t top_k);

// The summary file: everything needed to merge exactly (see docs/explore.md).
void save_summary(const Summary& s, const std::string& path);
// Throws Error naming the path and the field on a bad file.
Summary load_summary(const std::string& path, size_t memory_budget);
// The same as text (the messages of an MPI job); name stands for the path in errors.
std::string summary_text(const Summary& s);
Summary parse_summary(std::string_view text, const std::string& name, size_t memory_budget);

// Token n-gram keys (little-endian int32 ids) as display text: pieces joined by spaces.
std::string token_ngram_text(const std::string& key, const Tokenizer* tok);

}  // namespace loupe::data
