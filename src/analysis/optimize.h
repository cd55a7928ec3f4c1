// Optimisations that write a new GGUF file, and what they need from data:
//  - input statistics of every matmul weight over a corpus: per input column the sum of x^2 and
//    the rows seen (llama-imatrix's importance matrix; Wanda's ||X_j||_2);
//  - quantize: every 2-D weight re-encoded in one type (rows that do not fit its blocks in q8_0
//    or f16), the importance matrix weighting the fits of Q4_0, Q4_K and Q5_K;
//  - prune: magnitude or Wanda scores, per tensor (magnitude) or per output row (Wanda), or whole
//    heads / MLP neurons per layer; the achieved sparsity is measured on the file as written.
// Every other tensor and every metadata key is copied; the file appears whole or not at all.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/data.h"
#include "engine/interpreter.h"

namespace loupe::analysis {

struct InputStats {
  std::map<std::string, std::vector<double>> sum_sq;  // by GGUF tensor name: per input column
  std::map<std::string, int64_t> rows;                // rows (token positions) seen
  int64_t n_tokens = 0;
  int64_t n_sequences = 0;
  // Mean of x^2 per column (the importance llama-imatrix writes); empty when not collected.
  std::vector<float> importance(const std::string& tensor) const;
};

// Runs the corpus through the model (sequences as eval reads them) and sums the squares of
// every dense matmul's input columns. Mixture-of-experts experts are not covered.
InputStats collect_input_stats(const Model& model, const std::string& data_path, const SequencerOptions& seq,
                               const RunOptions& run);

// llama.cpp's imatrix files (GGUF, general.type "imatrix"): per weight "NAME.in_sum2" (sums of
// x^2 per input column) and "NAME.counts" (rows seen), with imatrix.datasets / chunk_count /
// chunk_size. Errors name the file and tensor.
InputStats load_imatrix(const std::string& path);
void save_imatrix(const InputStats& stats, const std::string& path, const std::string& dataset, int64_t chunks,
                  int64_t chunk_size);

struct TensorReport {
  std::string name;
  std::string from, to;  // types
  int64_t n = 0;         // elements
  double sparsity = 0;   // share of exact zeros as written
  std::string note;
};

struct QuantizeOptions {
  DType type = DType::Q8_0;
  const InputStats* imatrix = nullptr;
};
std::vector<TensorReport> quantize_gguf(const std::string& in, const std::string& out, const QuantizeOptions& options);

enum class PruneMethod : uint8_t { Magnitude, Wanda };
enum class PruneStructure : uint8_t { None, Heads, Neurons };
struct PruneOptions {
  double sparsity = 0.5;
  PruneMethod method = PruneMethod::Magnitude;
  PruneStructure structure = PruneStructure::None;
  const InputStats* stats = nullptr;  // Wanda
};
// The model (loaded from `in`) gives the head layout for structured pruning.
std::vector<TensorReport> prune_gguf(const Model& model, const std::string& in, const std::string& out,
                                     const PruneOptions& options);

nlohmann::ordered_json to_json(const std::vector<TensorReport>& tensors);

}  // namespace loupe::analysis
