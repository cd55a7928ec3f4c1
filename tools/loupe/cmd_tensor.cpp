// loupe tensor FILE NAME [-o OUT.npy] [--json]: one tensor of any GGUF file (a model or not: the
// file is read with the GGUF reader, never the model loader), dequantised to float32 with the
// exact dequantisers, written as .npy or summarised.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "core/npy.h"
#include "formats/gguf.h"

namespace loupe::cli {

namespace {

// Levenshtein distance, for suggesting names close to a mistyped one.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The closest few tensor names: those containing the query first, then by edit distance.
std::vector<std::string> close_names(const GgufFile& g, std::string_view query, size_t n) {
  std::vector<std::pair<size_t, const std::string*>> scored;
  for (const auto& t : g.tensors()) {
    const bool contains = !query.empty() && t.name.find(query) != std::string::npos;
    scored.emplace_back(contains ? 0 : 1 + edit_distance(t.name, query), &t.name);
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && i < n; ++i) out.push_back(*scored[i].second);
  return out;
}

// Summary of the values: min / max / mean / std (population, numpy's default) over the finite
// ones, in double, with a fixed order (element by element, Welford's update), so that the
// numbers do not depend on how the rows are visited.
struct Stats {
  int64_t count = 0;  // finite values
  int64_t nan = 0, inf = 0, zeros = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double mean = 0, m2 = 0;

  void add(const float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[i];
      if (std::isnan(v)) {
        ++nan;
        continue;
      }
      if (std::isinf(v)) {
        ++inf;
        continue;
      }
      if (v == 0.0f) ++zeros;
      const double d = v;
      min = std::min(min, d);
      max = std::max(max, d);
      ++count;
      const double delta = d - mean;
      mean += delta / static_cast<double>(count);
      m2 += delta * (d - mean);
    }
  }
  double std_dev() const { return count > 0 ? std::sqrt(m2 / static_cast<double>(count)) : 0.0; }
};

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace

void add_tensor(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("tensor", "one tensor of a GGUF file as float32: .npy, or its summary statistics");
  auto file = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto json_out = std::make_shared<bool>(false);
  cmd->add_option("FILE", *file, "GGUF file (any architecture, or none)")->required();
  cmd->add_option("NAME", *name, "tensor name, e.g. blk.0.attn_q.weight")->required();
  cmd->add_option("-o,--output", *out, "write the dequantised values as float32 .npy, shape in numpy order");
  cmd->add_flag("--json", *json_out, "print the summary as JSON");
  cmd->callback([=, &action] {
    action = [=] {
      const GgufFile g = GgufFile::open(*file);
      const GgufTensorInfo* t = g.find_tensor(*name);
      if (t == nullptr) {
        std::string hint;
        for (const auto& n : close_names(g, *name, 5)) hint += (hint.empty() ? "" : ", ") + n;
        fail(g.path(), ": no tensor named '", *name, "' (", g.tensors().size(), " tensors",
             hint.empty() ? std::string(")") : cat("; closest: ", hint, ")"));
      }
      // GGUF ne is innermost first; numpy shows the outermost first.
      const std::vector<int64_t> shape(t->ne.rbegin(), t->ne.rend());
      const int64_t cols = t->ne[0];
      int64_t elements = 1;
      for (int64_t d : t->ne) elements *= d;
      const int64_t rows = elements / cols;
      const size_t row_stride = row_bytes(t->type, cols);
      // The reader checked that the data lies inside the file; checked again here because every
      // byte below is read from the map.
      const uint8_t* base = g.file()->data();
      const size_t file_size = g.file()->size();
      if (t->data < base || static_cast<size_t>(t->data - base) > file_size ||
          row_stride * static_cast<size_t>(rows) > file_size - static_cast<size_t>(t->data - base))
        fail(g.path(), ": tensor '", t->name, "': ", row_stride * static_cast<size_t>(rows),
             " bytes of data at file offset ", t->data - base, " run past the end of the file (", file_size, " bytes)");

      Stats st;
      std::vector<float> all;  // [rows, cols] when written out
      std::vector<float> one;  // [cols] otherwise
      if (!out->empty())
        all.resize(static_cast<size_t>(elements));
      else
        one.resize(static_cast<size_t>(cols));
      for (int64_t r = 0; r < rows; ++r) {
        float* dst = out->empty() ? one.data() : all.data() + r * cols;
        dequantize_row(t->type, t->data + row_stride * static_cast<size_t>(r), dst, cols);
        st.add(dst, cols);
      }
      if (!out->empty()) write_npy_f32(*out, all.data(), shape);

      const bool any = st.count > 0;
      nlohmann::ordered_json j;
      j["file"] = g.path();
      j["name"] = t->name;
      j["type"] = std::string(dtype_name(t->type));
      j["ggml_type"] = dtype_traits(t->type).ggml_id;
      j["shape"] = shape;
      j["ne"] = t->ne;
      j["elements"] = elements;
      j["bytes"] = t->nbytes;
      j["file_offset"] = static_cast<uint64_t>(t->data - base);
      j["min"] = any ? nlohmann::ordered_json(st.min) : nlohmann::ordered_json();
      j["max"] = any ? nlohmann::ordered_json(st.max) : nlohmann::ordered_json();
      j["mean"] = any ? nlohmann::ordered_json(st.mean) : nlohmann::ordered_json();
      j["std"] = any ? nlohmann::ordered_json(st.std_dev()) : nlohmann::ordered_json();
      j["nan"] = st.nan;
      j["inf"] = st.inf;
      j["zeros"] = st.zeros;
      if (!out->empty()) j["output"] = *out;
      if (*json_out) {
        std::printf("%s\n", j.dump(1).c_str());
        return;
      }
      if (!out->empty()) {
        std::fprintf(stderr, "wrote %s (float32 %s)\n", out->c_str(), dims_text(shape).c_str());
        return;
      }
      std::printf("%s  %s\n", g.path().c_str(), t->name.c_str());
      std::printf("type      %s (ggml type %u)\n", std::string(dtype_name(t->type)).c_str(),
                  dtype_traits(t->type).ggml_id);
      std::printf("shape     %s (GGUF ne %s)\n", dims_text(shape).c_str(), dims_text(t->ne).c_str());
      std::printf("elements  %lld\n", static_cast<long long>(elements));
      std::printf("bytes     %zu at file offset %llu\n", t->nbytes, static_cast<unsigned long long>(t->data - base));
      if (any) {
        std::printf("min       %.9g\n", st.min);
        std::printf("max       %.9g\n", st.max);
        std::printf("mean      %.9g\n", st.mean);
        std::printf("std       %.9g\n", st.std_dev());
      } else {
        std::printf("min, max, mean, std: no finite values\n");
      }
      std::printf("nan %lld  inf %lld  zeros %lld\n", static_cast<long long>(st.nan), static_cast<long long>(st.inf),
                  static_cast<long long>(st.zeros));
    };
  });
}

}  // namespace loupe::cli
