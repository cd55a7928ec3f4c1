// Shared pieces of the model loaders: a tensor table in row-major terms and shape-checked
// binding of its entries to Weights. Internal to src/model.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "model/weights.h"

namespace loupe::detail {

// A tensor as a file stores it, shape outermost first (shape.back() is the contiguous row).
struct RawTensor {
  std::string name;
  DType type = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  const float* group_scales = nullptr;  // llama2.c int8: one scale per group of the flattened tensor
  int64_t group_size = 0;
};

class TensorTable {
 public:
  explicit TensorTable(std::string source) : source_(std::move(source)) {}
  void add(RawTensor t);
  const RawTensor* find(const std::string& name) const;
  const RawTensor& need(const std::string& name) const;  // Error naming the file and tensor
  const std::string& source() const { return source_; }
  // How messages name a tensor: the loader's map from table names back to the file's own names
  // (e.g. blk.0.attn_q.weight -> model.layers.0.self_attn.q_proj.weight); identity by default.
  void set_file_names(std::function<std::string(const std::string&)> file_name) { file_name_ = std::move(file_name); }
  // 'file name' as messages write it, with the table name beside it when they differ.
  std::string quoted(const std::string& name) const;
  // Every tensor, in the order added.
  std::vector<TensorSummary> summaries() const;

  // A matrix [rows, cols] stored as rows; Error when the shape differs.
  Weight matrix(const std::string& name, int64_t rows, int64_t cols) const;
  // An optional matrix: empty Weight when absent.
  Weight matrix_or_empty(const std::string& name, int64_t rows, int64_t cols) const;
  // A vector of n elements.
  Weight vector(const std::string& name, int64_t n) const;
  Weight vector_or_empty(const std::string& name, int64_t n) const;
  // A tensor of the table (or a reshaped copy of its entry) bound as [rows, cols].
  Weight bind_raw(const RawTensor& t, int64_t rows, int64_t cols) const { return bind(t, rows, cols); }

 private:
  Weight bind(const RawTensor& t, int64_t rows, int64_t cols) const;
  std::string source_;
  std::function<std::string(const std::string&)> file_name_;
  std::map<std::string, RawTensor> tensors_;
  std::vector<std::string> order_;
};

std::string shape_str(const std::vector<int64_t>& shape);

// Row map that turns Hugging Face's rotate-half Q/K rows back into adjacent RoPE pairs:
// logical row h*d_head + 2i + j reads stored row h*d_head + j*d_head/2 + i.
std::vector<int32_t> unpermute_rotate_half(int64_t n_heads, int64_t d_head);

std::unique_ptr<Model> load_gguf(const std::string& path);
std::unique_ptr<Model> load_hf(const std::string& dir);
std::unique_ptr<Model> load_llama2c(const std::string& path);

}  // namespace loupe::detail
