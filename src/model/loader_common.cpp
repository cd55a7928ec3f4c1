#include "model/loader_common.h"

#include "core/error.h"

namespace loupe::detail {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void TensorTable::add(RawTensor t) {
  std::string name = t.name;
  order_.push_back(name);
  if (!tensors_.emplace(name, std::move(t)).second) fail(source_, ": tensor ", quoted(name), " appears twice");
}

std::vector<TensorSummary> TensorTable::summaries() const {
  std::vector<TensorSummary> out;
  for (const auto& name : order_) {
    const RawTensor& t = tensors_.at(name);
    std::string type = t.group_scales != nullptr ? cat("int8 group ", t.group_size) : std::string(dtype_name(t.type));
    out.push_back({name, type, t.shape, t.nbytes});
  }
  return out;
}

std::string TensorTable::quoted(const std::string& name) const {
  const std::string shown = file_name_ ? file_name_(name) : std::string();
  if (shown.empty() || shown == name) return cat("'", name, "'");
  return cat("'", shown, "' (", name, ")");
}

const RawTensor* TensorTable::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const RawTensor& TensorTable::need(const std::string& name) const {
  const RawTensor* t = find(name);
  if (t == nullptr) fail(source_, ": tensor ", quoted(name), " is missing");
  return *t;
}

Weight TensorTable::bind(const RawTensor& t, int64_t rows, int64_t cols) const {
  std::vector<int64_t> want = rows == 0 ? std::vector<int64_t>{cols} : std::vector<int64_t>{rows, cols};
  std::vector<int64_t> got = t.shape;
  // Accept [1, n] for vectors and drop leading ones of higher-rank tensors.
  while (got.size() > want.size() && got.front() == 1) got.erase(got.begin());
  if (got != want)
    fail(source_, ": tensor ", quoted(t.name), " has shape ", shape_str(t.shape), ", expected ", shape_str(want));
  if (!row_fits_blocks(t.type, cols))
    fail(source_, ": tensor ", quoted(t.name), ": rows of ", cols, " elements are not a multiple of the ",
         dtype_name(t.type), " block size ", dtype_traits(t.type).block_elems);
  Weight w;
  w.name = t.name;
  w.type = t.type;
  w.rows = rows == 0 ? 1 : rows;
  w.cols = cols;
  w.data = t.data;
  if (t.group_scales != nullptr) {
    w.storage = Storage::GroupI8;
    w.group_scales = t.group_scales;
    w.group_size = t.group_size;
  }
  if (w.nbytes() > t.nbytes)
    fail(source_, ": tensor ", quoted(t.name), " holds ", t.nbytes, " bytes, its shape needs ", w.nbytes());
  return w;
}

Weight TensorTable::matrix(const std::string& name, int64_t rows, int64_t cols) const {
  return bind(need(name), rows, cols);
}

Weight TensorTable::matrix_or_empty(const std::string& name, int64_t rows, int64_t cols) const {
  const RawTensor* t = find(name);
  return t == nullptr ? Weight{} : bind(*t, rows, cols);
}

Weight TensorTable::vector(const std::string& name, int64_t n) const {
  return bind(need(name), 0, n);
}

Weight TensorTable::vector_or_empty(const std::string& name, int64_t n) const {
  const RawTensor* t = find(name);
  return t == nullptr ? Weight{} : bind(*t, 0, n);
}

std::vector<int32_t> unpermute_rotate_half(int64_t n_heads, int64_t d_head) {
  std::vector<int32_t> map(static_cast<size_t>(n_heads * d_head));
  const int64_t half = d_head / 2;
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j)
        map[static_cast<size_t>(h * d_head + 2 * i + j)] = static_cast<int32_t>(h * d_head + j * half + i);
  return map;
}

}  // namespace loupe::detail
