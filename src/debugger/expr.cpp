#include "debugger/expr.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>

#include "core/error.h"

namespace loupe::dbg {
namespace {

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// An optional signed integer inside a slice; `at` is its offset in the slice text.
std::optional<int64_t> slice_int(std::string_view whole, std::string_view part, size_t at) {
  part = trim(part);
  if (part.empty()) return std::nullopt;
  int64_t v = 0;
  const char* first = part.data();
  if (*first == '+') ++first;
  auto [ptr, ec] = std::from_chars(first, part.data() + part.size(), v);
  if (ec != std::errc() || ptr != part.data() + part.size())
    fail("bad slice ", whole, ": '", part, "' at character ", at, " is not an integer");
  return v;
}

}  // namespace

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    if (is_space(line[i])) {
      ++i;
      continue;
    }
    std::string word;
    int depth = 0;
    while (i < line.size() && (depth > 0 || !is_space(line[i]))) {
      const char c = line[i];
      if (c == '"') {
        const size_t open = i++;
        bool closed = false;
        while (i < line.size()) {
          if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '"') {
            word += '"';
            i += 2;
          } else if (line[i] == '"') {
            closed = true;
            ++i;
            break;
          } else {
            word += line[i++];
          }
        }
        if (!closed) fail("unclosed quote at character ", open);
        continue;
      }
      if (c == '[') ++depth;
      if (c == ']' && depth > 0) --depth;
      word += c;
      ++i;
    }
    if (depth > 0) fail("unclosed '[' in '", word, "'");
    words.push_back(std::move(word));
  }
  return words;
}

double parse_number(std::string_view text, std::string_view what) {
  std::string s(trim(text));
  if (s.empty()) fail(what, ": expected a number");
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno == ERANGE) fail(what, ": '", text, "' is not a number");
  return v;
}

int64_t parse_int(std::string_view text, std::string_view what) {
  std::string_view s = trim(text);
  if (s.empty()) fail(what, ": expected an integer");
  int64_t v = 0;
  const char* first = s.data();
  if (*first == '+') ++first;
  auto [ptr, ec] = std::from_chars(first, s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) fail(what, ": '", text, "' is out of range");
  if (ec != std::errc() || ptr != s.data() + s.size()) fail(what, ": '", text, "' is not an integer");
  return v;
}

Slice parse_slice(std::string_view text) {
  std::string_view t = trim(text);
  if (t.size() < 2 || t.front() != '[' || t.back() != ']') fail("bad slice ", text, ": expected [...]");
  Slice slice;
  std::string_view body = t.substr(1, t.size() - 2);
  if (trim(body).empty()) return slice;
  size_t start = 0;
  while (true) {
    size_t comma = body.find(',', start);
    std::string_view part =
        body.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    const size_t at = start + 1;
    if (trim(part).empty()) fail("bad slice ", t, ": empty entry at character ", at);
    SliceItem item;
    const size_t c1 = part.find(':');
    if (c1 == std::string_view::npos) {
      item.is_index = true;
      item.index = *slice_int(t, part, at);
    } else {
      const size_t c2 = part.find(':', c1 + 1);
      if (c2 != std::string_view::npos && part.find(':', c2 + 1) != std::string_view::npos)
        fail("bad slice ", t, ": too many ':' at character ", at);
      item.start = slice_int(t, part.substr(0, c1), at);
      const std::string_view stop =
          part.substr(c1 + 1, c2 == std::string_view::npos ? std::string_view::npos : c2 - c1 - 1);
      item.stop = slice_int(t, stop, at + c1 + 1);
      if (c2 != std::string_view::npos) {
        auto step = slice_int(t, part.substr(c2 + 1), at + c2 + 1);
        if (step) {
          if (*step == 0) fail("bad slice ", t, ": step 0 at character ", at + c2 + 1);
          if (*step < 0) fail("bad slice ", t, ": negative steps are not supported");
          item.step = *step;
        }
      }
    }
    slice.items.push_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return slice;
}

std::string slice_to_string(const Slice& slice) {
  if (slice.empty()) return "";
  std::string s = "[";
  for (size_t i = 0; i < slice.items.size(); ++i) {
    const SliceItem& it = slice.items[i];
    if (i > 0) s += ", ";
    if (it.is_index) {
      s += std::to_string(it.index);
      continue;
    }
    if (it.start) s += std::to_string(*it.start);
    s += ':';
    if (it.stop) s += std::to_string(*it.stop);
    if (it.step != 1) s += ":" + std::to_string(it.step);
  }
  return s + "]";
}

int64_t Selection::numel() const {
  int64_t n = 1;
  for (const auto& ix : index) n *= static_cast<int64_t>(ix.size());
  return n;
}

std::vector<int64_t> Selection::offsets(const std::vector<int64_t>& source_shape) const {
  const size_t rank = source_shape.size();
  std::vector<int64_t> stride(rank, 1);
  for (size_t d = rank; d-- > 1;) stride[d - 1] = stride[d] * source_shape[d];
  std::vector<int64_t> out;
  const int64_t n = numel();
  if (n == 0) return out;
  out.reserve(static_cast<size_t>(n));
  std::vector<size_t> pos(rank, 0);  // odometer over the chosen indices
  while (true) {
    int64_t off = 0;
    for (size_t d = 0; d < rank; ++d) off += index[d][pos[d]] * stride[d];
    out.push_back(off);
    size_t d = rank;
    while (d > 0) {
      --d;
      if (++pos[d] < index[d].size()) break;
      pos[d] = 0;
      if (d == 0) return out;
    }
    if (rank == 0) return out;
  }
}

Selection select(const Slice& slice, const std::vector<int64_t>& shape, std::string_view what) {
  if (slice.items.size() > shape.size())
    fail(what, ": slice has ", slice.items.size(), " entries for a tensor of rank ", shape.size());
  Selection sel;
  for (size_t d = 0; d < shape.size(); ++d) {
    const int64_t n = shape[d];
    std::vector<int64_t> ix;
    if (d >= slice.items.size()) {
      for (int64_t i = 0; i < n; ++i) ix.push_back(i);
      sel.kept.push_back(true);
      sel.shape.push_back(n);
      sel.index.push_back(std::move(ix));
      continue;
    }
    const SliceItem& it = slice.items[d];
    if (it.is_index) {
      const int64_t i = it.index < 0 ? it.index + n : it.index;
      if (i < 0 || i >= n) fail(what, ": index ", it.index, " is out of range for dimension ", d, " of size ", n);
      ix.push_back(i);
      sel.kept.push_back(false);
    } else {
      auto clamp = [n](std::optional<int64_t> v, int64_t def) {
        if (!v) return def;
        const int64_t x = *v < 0 ? *v + n : *v;
        return std::clamp<int64_t>(x, 0, n);
      };
      const int64_t b = clamp(it.start, 0);
      const int64_t e = clamp(it.stop, n);
      for (int64_t i = b; i < e; i += it.step) ix.push_back(i);
      sel.kept.push_back(true);
      sel.shape.push_back(static_cast<int64_t>(ix.size()));
    }
    sel.index.push_back(std::move(ix));
  }
  return sel;
}

Selection select_positions(const Slice& slice, const std::vector<int64_t>& shape, size_t pos_dim, int64_t pos0,
                           Outside outside, std::string_view what) {
  if (pos0 == 0 || pos_dim >= shape.size()) return select(slice, shape, what);
  std::vector<int64_t> run_shape = shape;
  run_shape[pos_dim] += pos0;
  Selection sel = select(slice, run_shape, what);
  std::vector<int64_t>& ix = sel.index[pos_dim];
  if (outside == Outside::Fail && !ix.empty() && ix.front() < pos0)
    fail(what, ": position ", ix.front(), " is not in this pass (positions ", pos0, "..", pos0 + shape[pos_dim] - 1,
         ")");
  std::erase_if(ix, [pos0](int64_t i) { return i < pos0; });
  for (int64_t& i : ix) i -= pos0;
  if (sel.kept[pos_dim]) {
    size_t out = 0;  // the result dimension of pos_dim
    for (size_t d = 0; d < pos_dim; ++d) out += sel.kept[d] ? 1 : 0;
    sel.shape[out] = static_cast<int64_t>(ix.size());
  }
  return sel;
}

TensorExpr parse_tensor_expr(std::string_view text) {
  TensorExpr e;
  e.text = std::string(trim(text));
  const size_t bracket = e.text.find('[');
  e.hook = e.text.substr(0, bracket);
  if (bracket != std::string::npos) {
    if (e.text.back() != ']') fail("bad slice in '", e.text, "': text after the closing ']'");
    e.slice = parse_slice(std::string_view(e.text).substr(bracket));
  }
  return e;
}

namespace {

struct MetricInfo {
  Metric metric;
  std::string_view name;
};
constexpr MetricInfo kMetrics[] = {
    {Metric::Nan, "nan"},   {Metric::Inf, "inf"},   {Metric::AbsMax, "absmax"},
    {Metric::Rms, "rms"},   {Metric::Mean, "mean"}, {Metric::Std, "std"},
    {Metric::Min, "min"},   {Metric::Max, "max"},   {Metric::AttnEntropy, "attn_entropy"},
    {Metric::Top1, "top1"},
};

struct CompareInfo {
  Compare op;
  std::string_view text;
};
// Two-character operators first so "<=" is not read as "<".
constexpr CompareInfo kCompares[] = {
    {Compare::Le, "<="}, {Compare::Ge, ">="}, {Compare::Eq, "=="},
    {Compare::Ne, "!="}, {Compare::Lt, "<"},  {Compare::Gt, ">"},
};

}  // namespace

std::string_view metric_name(Metric metric) {
  for (const auto& m : kMetrics)
    if (m.metric == metric) return m.name;
  return "?";
}

std::string_view compare_name(Compare op) {
  for (const auto& c : kCompares)
    if (c.op == op) return c.text;
  return "?";
}

bool compare(double lhs, Compare op, double rhs) {
  switch (op) {
    case Compare::Lt: return lhs < rhs;
    case Compare::Le: return lhs <= rhs;
    case Compare::Gt: return lhs > rhs;
    case Compare::Ge: return lhs >= rhs;
    case Compare::Eq: return lhs == rhs;
    case Compare::Ne: return lhs != rhs;
  }
  return false;
}

Condition parse_condition(std::string_view text) {
  std::string_view t = trim(text);
  Condition c;
  c.text = std::string(t);
  if (t.empty()) fail("condition is empty (try 'nan', 'inf' or 'absmax > 100')");
  size_t i = 0;
  while (i < t.size() && (std::isalnum(static_cast<unsigned char>(t[i])) || t[i] == '_')) ++i;
  const std::string_view name = t.substr(0, i);
  const MetricInfo* found = nullptr;
  for (const auto& m : kMetrics)
    if (m.name == name) found = &m;
  if (found == nullptr)
    fail("condition '", t, "': unknown metric '", name,
         "' (nan, inf, absmax, rms, mean, std, min, max, attn_entropy, top1)");
  c.metric = found->metric;
  std::string_view rest = trim(t.substr(i));
  if (c.metric == Metric::Nan || c.metric == Metric::Inf) {
    if (!rest.empty()) fail("condition '", t, "': '", name, "' takes no comparison");
    return c;
  }
  const CompareInfo* op = nullptr;
  for (const auto& k : kCompares)
    if (rest.substr(0, k.text.size()) == k.text) {
      op = &k;
      break;
    }
  if (op == nullptr) fail("condition '", t, "': expected one of < <= > >= == != after '", name, "'");
  c.op = op->op;
  rest = trim(rest.substr(op->text.size()));
  if (c.metric == Metric::Top1) {
    if (c.op != Compare::Eq && c.op != Compare::Ne) fail("condition '", t, "': top1 compares with == or != only");
    c.value = static_cast<double>(parse_int(rest, cat("condition '", t, "'")));
  } else {
    c.value = parse_number(rest, cat("condition '", t, "'"));
  }
  return c;
}

}  // namespace loupe::dbg
