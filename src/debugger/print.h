// Tensors as text, the way numpy prints them: nested brackets, and long dimensions summarised
// with their first and last entries around "...".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loupe::dbg {

// One number with `digits` significant digits ("%.4g"); nan / inf / -inf spelled out.
std::string format_number(double v, int digits = 4);

// data in C order of shape. Tensors with more than `threshold` elements show `edge` entries at
// each end of every dimension longer than 2 * edge.
std::string format_tensor(const std::vector<float>& data, const std::vector<int64_t>& shape, int digits = 4,
                          int64_t threshold = 200, int64_t edge = 3);

std::string format_shape(const std::vector<int64_t>& shape);

}  // namespace loupe::dbg
