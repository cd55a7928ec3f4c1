#include "debugger/print.h"

#include <cmath>
#include <cstdio>

namespace loupe::dbg {
namespace {

struct Printer {
  const std::vector<float>& data;
  const std::vector<int64_t>& shape;
  std::vector<int64_t> stride;
  int digits;
  bool summarise;
  int64_t edge;
  std::string out;

  void dim(size_t d, int64_t base, int indent) {
    const int64_t n = shape[d];
    const bool cut = summarise && n > 2 * edge;
    out += '[';
    for (int64_t i = 0; i < n; ++i) {
      if (cut && i == edge) {
        out += d + 1 == shape.size() ? "..., " : "...,\n" + std::string(static_cast<size_t>(indent + 1), ' ');
        i = n - edge;
      }
      if (d + 1 == shape.size()) {
        out += format_number(data[static_cast<size_t>(base + i)], digits);
      } else {
        dim(d + 1, base + i * stride[d], indent + 1);
      }
      if (i + 1 < n) out += d + 1 == shape.size() ? ", " : ",\n" + std::string(static_cast<size_t>(indent + 1), ' ');
    }
    out += ']';
  }
};

}  // namespace

std::string format_number(double v, int digits) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string format_shape(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string format_tensor(const std::vector<float>& data, const std::vector<int64_t>& shape, int digits,
                          int64_t threshold, int64_t edge) {
  if (shape.empty()) return data.empty() ? "[]" : format_number(data[0], digits);
  Printer p{data, shape, std::vector<int64_t>(shape.size(), 1), digits, static_cast<int64_t>(data.size()) > threshold,
            edge, {}};
  for (size_t d = shape.size() - 1; d > 0; --d) p.stride[d - 1] = p.stride[d] * shape[d];
  for (int64_t n : shape)
    if (n == 0) return "[]";
  p.dim(0, 0, 0);
  return p.out;
}

}  // namespace loupe::dbg
