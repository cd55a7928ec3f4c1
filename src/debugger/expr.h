// The debugger's little languages: command-line words, numbers, numpy-like slices
// ("[2, -1, :]", "[0:4, ::2]"), tensor expressions ("blocks.3.attn.hook_pattern[2, -1, :]")
// and breakpoint conditions ("nan", "absmax > 100", "top1 != 42"). Every parse error names
// the text and the character where it went wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loupe::dbg {

// Splits a command line into words at white space. Brackets keep their contents together
// ("p pattern3[2, -1, :]" is two words) and double quotes group a phrase ("run \"Once upon\"");
// \" inside quotes is a quote. Throws Error for an unclosed quote or bracket.
std::vector<std::string> split_words(std::string_view line);

// A whole word as a number; `what` names it in the error ("break: 'x1' is not a number").
double parse_number(std::string_view text, std::string_view what);
int64_t parse_int(std::string_view text, std::string_view what);

// One entry of a slice: a single index (drops the dimension) or start:stop:step.
struct SliceItem {
  bool is_index = false;
  int64_t index = 0;
  std::optional<int64_t> start;
  std::optional<int64_t> stop;
  int64_t step = 1;
};

// Entries for the leading dimensions; dimensions past the last entry are taken whole.
struct Slice {
  std::vector<SliceItem> items;
  bool empty() const { return items.empty(); }
};

// Parses "[...]" including the brackets; "[]" is an empty slice (the whole tensor).
Slice parse_slice(std::string_view text);
std::string slice_to_string(const Slice& slice);

// A slice resolved against a shape: the chosen indices of every dimension of the source.
struct Selection {
  std::vector<std::vector<int64_t>> index;  // per source dimension, ascending
  std::vector<bool> kept;                   // per source dimension: false for a single index
  std::vector<int64_t> shape;               // shape of the result (kept dimensions only)
  int64_t numel() const;
  // Flat offsets into the source tensor, in C order of the result.
  std::vector<int64_t> offsets(const std::vector<int64_t>& source_shape) const;
};

// Resolves with numpy's rules (negative indices count from the end, ranges clamp, single
// indices must be in range). Errors name `what` (the expression), the dimension and its size.
Selection select(const Slice& slice, const std::vector<int64_t>& shape, std::string_view what);

// Positions are absolute, as TransformerLens's cache has them: dimension pos_dim of `shape`
// holds positions pos0 .. pos0 + shape[pos_dim] - 1 of a run whose positions so far are
// 0 .. pos0 + shape[pos_dim] - 1, and the slice indexes that whole run ([-1] is the newest
// position, [3] is position 3). The selection is of `shape`'s tensor. Positions the slice
// names before pos0 are an error naming them, or left out when keep_outside is false (an
// edit or a condition that does not reach this pass then selects nothing).
enum class Outside : uint8_t { Fail, Skip };
Selection select_positions(const Slice& slice, const std::vector<int64_t>& shape, size_t pos_dim, int64_t pos0,
                           Outside outside, std::string_view what);

// A hook pattern with an optional slice: "pattern3[2, -1, :]". An empty hook ("[0, :]" or "")
// means the tensor the debugger is stopped at.
struct TensorExpr {
  std::string hook;
  Slice slice;
  std::string text;
};
TensorExpr parse_tensor_expr(std::string_view text);

enum class Metric : uint8_t { Nan, Inf, AbsMax, Rms, Mean, Std, Min, Max, AttnEntropy, Top1 };
enum class Compare : uint8_t { Lt, Le, Gt, Ge, Eq, Ne };

std::string_view metric_name(Metric metric);
std::string_view compare_name(Compare compare);
bool compare(double lhs, Compare op, double rhs);

// "nan" | "inf" | METRIC OP NUMBER with METRIC one of absmax rms mean std min max
// attn_entropy top1 and OP one of < <= > >= == !=.
struct Condition {
  Metric metric = Metric::Nan;
  Compare op = Compare::Gt;
  double value = 0;
  std::string text;
};
Condition parse_condition(std::string_view text);

}  // namespace loupe::dbg
