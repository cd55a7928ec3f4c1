#include "analysis/optimize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "engine/driver.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "model/synth.h"
#include "model/weights.h"
#include "tensor/half.h"
#include "tensor/quant_rows.h"

namespace loupe::analysis {
namespace {

// Sums x^2 per input column of every dense matmul, from the op's input just before it runs.
class InputTap : public OpListener {
 public:
  InputTap(Interpreter& interp, InputStats& out) : interp_(interp), out_(out) {
    const auto& ops = interp.program().ops;
    source_.assign(ops.size(), -1);
    for (size_t k = 0; k < ops.size(); ++k) {
      if (ops[k].kind != OpKind::MatMul || ops[k].final_rows) continue;
      for (size_t j = k; j-- > 0;)
        if (ops[j].kind != OpKind::KvStore && ops[j].out == ops[k].in0) {
          source_[k] = static_cast<int>(j);
          break;
        }
    }
  }
  void before_op(int k) override {
    const int s = source_[static_cast<size_t>(k)];
    if (s < 0) return;
    const Weight& w = *interp_.program().ops[static_cast<size_t>(k)].w;
    const HookEvent e = interp_.view(s);
    const int64_t rows = e.shape.dims[0];
    const int64_t cols = e.shape.numel() / std::max<int64_t>(1, rows);
    if (cols != w.cols) return;
    std::vector<double>& acc = out_.sum_sq[w.name];
    acc.resize(static_cast<size_t>(cols), 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) {
        const double v = e.data[r * cols + j];
        acc[static_cast<size_t>(j)] += v * v;
      }
    out_.rows[w.name] += rows;
  }
  void after_op(int /*k*/) override {}

 private:
  Interpreter& interp_;
  InputStats& out_;
  std::vector<int> source_;
};

bool prunable(const std::string& name, const std::vector<int64_t>& ne) {
  if (ne.size() < 2 || !name.starts_with("blk.")) return false;
  if (name.find("ffn_gate_inp") != std::string::npos) return false;  // the router
  return name.find(".attn_") != std::string::npos || name.find(".ffn_") != std::string::npos;
}

int64_t numel(const std::vector<int64_t>& ne) {
  return std::accumulate(ne.begin(), ne.end(), int64_t{1}, std::multiplies<>());
}

std::vector<float> dequantize(const GgufTensorInfo& t) {
  const int64_t n = numel(t.ne), row = t.ne[0];
  std::vector<float> out(static_cast<size_t>(n));
  const size_t rb = row_bytes(t.type, row);
  for (int64_t r = 0; r < n / row; ++r)
    dequantize_row(t.type, t.data + static_cast<size_t>(r) * rb, out.data() + r * row, row);
  return out;
}

// Encodes values as `type` rows (falling back when the rows do not fit its blocks: q8_0 when
// they fit 32, else f16); says what it did.
std::vector<uint8_t> encode(const std::vector<float>& v, int64_t row, DType type, const std::vector<float>* weights,
                            DType& used, std::string& note) {
  used = type;
  if (!row_fits_blocks(type, row)) {
    used = row_fits_blocks(DType::Q8_0, row) ? DType::Q8_0 : DType::F16;
    note = cat("rows of ", row, " do not fit ", dtype_name(type), " blocks: ", dtype_name(used));
  }
  if (!can_quantize(used)) fail("quantize: ", dtype_name(used), " needs a grid search loupe does not write");
  const int64_t rows = static_cast<int64_t>(v.size()) / row;
  const size_t rb = row_bytes(used, row);
  std::vector<uint8_t> out(rb * static_cast<size_t>(rows));
  const bool weighted =
      weights != nullptr && !weights->empty() && uses_importance(used) && static_cast<int64_t>(weights->size()) == row;
  for (int64_t r = 0; r < rows; ++r)
    quantize_row_weighted(used, v.data() + r * row, out.data() + static_cast<size_t>(r) * rb, row,
                          weighted ? weights->data() : nullptr);
  if (weighted) note = "importance-weighted scales";
  return out;
}

double zero_share(const std::vector<uint8_t>& bytes, DType type, int64_t row, int64_t n) {
  std::vector<float> back(static_cast<size_t>(row));
  const size_t rb = row_bytes(type, row);
  int64_t zeros = 0;
  for (int64_t r = 0; r < n / row; ++r) {
    dequantize_row(type, bytes.data() + static_cast<size_t>(r) * rb, back.data(), row);
    for (float f : back) zeros += f == 0.0f;
  }
  return n > 0 ? static_cast<double>(zeros) / static_cast<double>(n) : 0.0;
}

// Copies every metadata key (but the alignment: the writer aligns to 32) into a writer.
void copy_metadata(const GgufFile& g, GgufWriter& w) {
  for (const auto& [key, value] : g.metadata())
    if (key != "general.alignment") w.set(key, value);
}

}  // namespace

std::vector<float> InputStats::importance(const std::string& tensor) const {
  const auto it = sum_sq.find(tensor);
  if (it == sum_sq.end()) return {};
  const double n = static_cast<double>(std::max<int64_t>(1, rows.at(tensor)));
  std::vector<float> out(it->second.size());
  for (size_t j = 0; j < out.size(); ++j) out[j] = static_cast<float>(it->second[j] / n);
  return out;
}

InputStats collect_input_stats(const Model& model, const std::string& data_path, const SequencerOptions& seq,
                               const RunOptions& run) {
  if (!model.tokenizer) fail(data_path, ": the model has no tokenizer to read data with");
  InputStats stats;
  Interpreter interp(model, run);
  InputTap tap(interp, stats);
  Subscription sub = interp.listen(&tap);
  DocumentReader reader(data_path, "text", seq.format, seq.strict);
  SequencerOptions so = seq;
  so.max_len = interp.n_ctx();
  Sequencer s(model, reader, so);
  while (std::optional<Sequence> q = s.next()) {
    interp.rewind(0);
    forward(interp, q->tokens, false, nullptr);
    stats.n_tokens += static_cast<int64_t>(q->tokens.size());
    ++stats.n_sequences;
  }
  if (stats.n_tokens == 0) fail(data_path, ": no tokens to collect statistics from");
  return stats;
}

InputStats load_imatrix(const std::string& path) {
  const GgufFile g = GgufFile::open(path);
  if (g.get_string_or("general.type", "") != "imatrix")
    fail(path,
         ": not an imatrix GGUF file (general.type is not \"imatrix\"; a legacy imatrix.dat can be converted "
         "with llama-imatrix --output-format gguf)");
  InputStats s;
  for (const GgufTensorInfo& t : g.tensors()) {
    if (!t.name.ends_with(".in_sum2")) continue;
    const std::string name = t.name.substr(0, t.name.size() - 8);
    const GgufTensorInfo* c = g.find_tensor(name + ".counts");
    if (c == nullptr) fail(path, ": tensor ", t.name, " has no ", name, ".counts");
    if (t.type != DType::F32 || c->type != DType::F32 || t.ne.empty() || c->nbytes < sizeof(float))
      fail(path, ": tensors ", t.name, " / ", name, ".counts must be F32");
    // The first matrix's statistics (experts' stacks hold one row per expert).
    const auto* v = reinterpret_cast<const float*>(t.data);
    float count = 0;
    std::memcpy(&count, c->data, sizeof(float));
    if (!(count >= 0) || !std::isfinite(count)) fail(path, ": ", name, ".counts is ", count);
    std::vector<double>& acc = s.sum_sq[name];
    acc.assign(v, v + t.ne[0]);
    s.rows[name] = static_cast<int64_t>(count);
  }
  if (s.sum_sq.empty()) fail(path, ": the imatrix file holds no NAME.in_sum2 tensor");
  s.n_sequences = static_cast<int64_t>(g.get_uint_or("imatrix.chunk_count", 0));
  return s;
}

void save_imatrix(const InputStats& stats, const std::string& path, const std::string& dataset, int64_t chunks,
                  int64_t chunk_size) {
  GgufWriter w;
  w.set_string("general.type", "imatrix");
  GgufValue datasets;
  datasets.type = GgufType::ARRAY;
  datasets.elem_type = GgufType::STRING;
  datasets.strs = {dataset};
  w.set("imatrix.datasets", datasets);
  w.set_u32("imatrix.chunk_count", static_cast<uint32_t>(chunks));
  w.set_u32("imatrix.chunk_size", static_cast<uint32_t>(chunk_size));
  for (const auto& [name, sums] : stats.sum_sq) {
    std::vector<uint8_t> a(sums.size() * sizeof(float)), b(sizeof(float));
    for (size_t j = 0; j < sums.size(); ++j) {
      const auto f = static_cast<float>(sums[j]);
      std::memcpy(a.data() + j * sizeof(float), &f, sizeof(float));
    }
    const auto count = static_cast<float>(stats.rows.at(name));
    std::memcpy(b.data(), &count, sizeof(float));
    w.add_tensor(name + ".in_sum2", DType::F32, {static_cast<int64_t>(sums.size()), 1}, std::move(a));
    w.add_tensor(name + ".counts", DType::F32, {1, 1}, std::move(b));
  }
  w.write(path);
}

std::vector<TensorReport> quantize_gguf(const std::string& in, const std::string& out, const QuantizeOptions& o) {
  if (!can_quantize(o.type))
    fail("--type ", dtype_name(o.type), ": loupe does not write this type (it needs llama.cpp's grid search)");
  const GgufFile g = GgufFile::open(in);
  GgufWriter w;
  copy_metadata(g, w);
  w.set_u32("general.file_type", llama_file_type(o.type));
  w.set_string("general.quantized_by", "loupe quantize");
  std::vector<TensorReport> report;
  for (const GgufTensorInfo& t : g.tensors()) {
    if (t.ne.size() < 2 || !t.name.ends_with(".weight")) {
      w.add_tensor(t.name, t.type, t.ne, std::vector<uint8_t>(t.data, t.data + t.nbytes));
      continue;
    }
    TensorReport r{t.name, std::string(dtype_name(t.type)), "", numel(t.ne), 0.0, ""};
    const std::vector<float> v = dequantize(t);
    std::vector<float> imp;
    if (o.imatrix != nullptr) imp = o.imatrix->importance(t.name);
    if (!imp.empty() && static_cast<int64_t>(imp.size()) != t.ne[0]) {
      r.note = cat("importance has ", imp.size(), " columns, the tensor ", t.ne[0], " (not used)");
      imp.clear();
    }
    DType used = o.type;
    std::vector<uint8_t> bytes = encode(v, t.ne[0], o.type, imp.empty() ? nullptr : &imp, used, r.note);
    if (o.imatrix != nullptr && imp.empty() && r.note.empty()) r.note = "no importance for it (round to nearest)";
    if (o.imatrix != nullptr && !imp.empty() && !uses_importance(used) && r.note.empty())
      r.note = "importance not used for this type (round to nearest)";
    r.to = std::string(dtype_name(used));
    r.sparsity = zero_share(bytes, used, t.ne[0], r.n);
    w.add_tensor(t.name, used, t.ne, std::move(bytes));
    report.push_back(std::move(r));
  }
  w.write(out);
  return report;
}

std::vector<TensorReport> prune_gguf(const Model& model, const std::string& in, const std::string& out,
                                     const PruneOptions& o) {
  if (!(o.sparsity >= 0.0 && o.sparsity < 1.0)) fail("--sparsity ", o.sparsity, " must be in [0, 1)");
  if (o.method == PruneMethod::Wanda && o.stats == nullptr) fail("--method wanda needs --data (activation norms)");
  const ModelConfig& c = model.config;
  const GgufFile g = GgufFile::open(in);
  // Structured pruning: which heads / neurons of each layer go, decided once per layer.
  std::map<int, std::vector<bool>> gone;  // layer -> head or neuron removed
  auto layer_of = [](const std::string& name) { return std::stoi(name.substr(4, name.find('.', 4) - 4)); };
  auto column_norms = [&](const std::string& name) {  // per input column: Wanda's ||X_j||
    std::vector<float> imp = o.stats != nullptr ? o.stats->importance(name) : std::vector<float>{};
    for (float& x : imp) x = std::sqrt(x);
    return imp;
  };
  if (o.structure != PruneStructure::None) {
    const bool heads = o.structure == PruneStructure::Heads;
    const char* key = heads ? ".attn_output.weight" : ".ffn_down.weight";
    for (const GgufTensorInfo& t : g.tensors()) {
      if (!t.name.ends_with(key) || t.ne.size() != 2) continue;
      // Columns of W_O are the heads' z values; of W_down, the neurons: score each group by the
      // L2 norm of its columns (times the input's norm with Wanda).
      const std::vector<float> v = dequantize(t);
      const int64_t cols = t.ne[0], rows = t.ne[1];
      const int64_t group = heads ? c.d_head : 1;
      const int64_t n_groups = cols / group;
      const std::vector<float> xn = o.method == PruneMethod::Wanda ? column_norms(t.name) : std::vector<float>{};
      std::vector<std::pair<double, int64_t>> score;
      for (int64_t gi = 0; gi < n_groups; ++gi) {
        double s = 0;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = gi * group; j < (gi + 1) * group; ++j) {
            const double a = v[static_cast<size_t>(r * cols + j)] * (xn.empty() ? 1.0 : xn[static_cast<size_t>(j)]);
            s += a * a;
          }
        score.emplace_back(s, gi);
      }
      std::sort(score.begin(), score.end());
      const auto k = static_cast<size_t>(std::llround(o.sparsity * static_cast<double>(n_groups)));
      std::vector<bool>& out_groups = gone[layer_of(t.name)];
      out_groups.assign(static_cast<size_t>(n_groups), false);
      for (size_t i = 0; i < k; ++i) out_groups[static_cast<size_t>(score[i].second)] = true;
    }
  }
  GgufWriter w;
  copy_metadata(g, w);
  w.set_string("general.pruned_by", cat("loupe prune --sparsity ", o.sparsity));
  std::vector<TensorReport> report;
  for (const GgufTensorInfo& t : g.tensors()) {
    if (!prunable(t.name, t.ne)) {
      w.add_tensor(t.name, t.type, t.ne, std::vector<uint8_t>(t.data, t.data + t.nbytes));
      continue;
    }
    TensorReport r{t.name, std::string(dtype_name(t.type)), "", numel(t.ne), 0.0, ""};
    std::vector<float> v = dequantize(t);
    const int64_t cols = t.ne[0], rows = r.n / cols;
    if (o.structure == PruneStructure::None) {
      std::vector<float> xn = o.method == PruneMethod::Wanda ? column_norms(t.name) : std::vector<float>{};
      if (o.method == PruneMethod::Wanda && xn.empty()) r.note = "no activation norms (magnitude per row)";
      if (o.method == PruneMethod::Magnitude) {
        // One threshold per tensor: the k smallest |w| go (ties broken by position).
        std::vector<int64_t> order(v.size());
        std::iota(order.begin(), order.end(), 0);
        const auto k = static_cast<size_t>(std::llround(o.sparsity * static_cast<double>(v.size())));
        std::nth_element(
            order.begin(), order.begin() + static_cast<ptrdiff_t>(k), order.end(), [&](int64_t a, int64_t b) {
              const float fa = std::fabs(v[static_cast<size_t>(a)]), fb = std::fabs(v[static_cast<size_t>(b)]);
              return fa != fb ? fa < fb : a < b;
            });
        for (size_t i = 0; i < k; ++i) v[static_cast<size_t>(order[i])] = 0.0f;
      } else {
        // Wanda: within each output row, the k lowest |w_ij| ||X_j|| go.
        const auto k = static_cast<size_t>(std::llround(o.sparsity * static_cast<double>(cols)));
        std::vector<int64_t> order(static_cast<size_t>(cols));
        for (int64_t rr = 0; rr < rows; ++rr) {
          float* row = v.data() + rr * cols;
          std::iota(order.begin(), order.end(), 0);
          auto score = [&](int64_t j) {
            return std::fabs(row[j]) * (xn.empty() ? 1.0f : xn[static_cast<size_t>(j) % xn.size()]);
          };
          std::nth_element(order.begin(), order.begin() + static_cast<ptrdiff_t>(k), order.end(),
                           [&](int64_t a, int64_t b) { return score(a) != score(b) ? score(a) < score(b) : a < b; });
          for (size_t i = 0; i < k; ++i) row[order[i]] = 0.0f;
        }
      }
    } else {
      const int layer = layer_of(t.name);
      const auto it = gone.find(layer);
      const bool heads = o.structure == PruneStructure::Heads;
      if (it != gone.end()) {
        const std::vector<bool>& out_groups = it->second;
        if (heads && t.name.ends_with(".attn_q.weight")) {  // the head's rows of W_Q
          for (int64_t rr = 0; rr < rows; ++rr)
            if (out_groups[static_cast<size_t>(rr / c.d_head) % out_groups.size()])
              std::fill(v.begin() + rr * cols, v.begin() + (rr + 1) * cols, 0.0f);
        } else if (heads && t.name.ends_with(".attn_output.weight")) {  // its columns of W_O
          for (int64_t rr = 0; rr < rows; ++rr)
            for (int64_t j = 0; j < cols; ++j)
              if (out_groups[static_cast<size_t>(j / c.d_head)]) v[static_cast<size_t>(rr * cols + j)] = 0.0f;
        } else if (!heads && (t.name.ends_with(".ffn_gate.weight") || t.name.ends_with(".ffn_up.weight"))) {
          for (int64_t rr = 0; rr < rows; ++rr)
            if (out_groups[static_cast<size_t>(rr) % out_groups.size()])
              std::fill(v.begin() + rr * cols, v.begin() + (rr + 1) * cols, 0.0f);
        } else if (!heads && t.name.ends_with(".ffn_down.weight")) {
          for (int64_t rr = 0; rr < rows; ++rr)
            for (int64_t j = 0; j < cols; ++j)
              if (out_groups[static_cast<size_t>(j)]) v[static_cast<size_t>(rr * cols + j)] = 0.0f;
        }
      }
    }
    DType used = t.type;
    const bool float_type = t.type == DType::F32 || t.type == DType::F16 || t.type == DType::BF16;
    std::vector<uint8_t> bytes;
    if (t.type == DType::F32) {
      bytes.resize(v.size() * sizeof(float));
      std::memcpy(bytes.data(), v.data(), bytes.size());
    } else {
      bytes = encode(v, cols, can_quantize(t.type) ? t.type : DType::F16, nullptr, used, r.note);
      if (!float_type && r.note.empty()) r.note = "re-quantised (round to nearest)";
    }
    r.to = std::string(dtype_name(used));
    r.sparsity = zero_share(bytes, used, cols, r.n);
    w.add_tensor(t.name, used, t.ne, std::move(bytes));
    report.push_back(std::move(r));
  }
  w.write(out);
  return report;
}

nlohmann::ordered_json to_json(const std::vector<TensorReport>& tensors) {
  auto arr = nlohmann::ordered_json::array();
  int64_t n = 0;
  double zeros = 0;
  for (const auto& t : tensors) {
    nlohmann::ordered_json j = {{"name", t.name}, {"from", t.from}, {"to", t.to}, {"n", t.n}, {"sparsity", t.sparsity}};
    if (!t.note.empty()) j["note"] = t.note;
    arr.push_back(j);
    n += t.n;
    zeros += t.sparsity * static_cast<double>(t.n);
  }
  return {{"tensors", arr}, {"n", n}, {"sparsity", n > 0 ? zeros / static_cast<double>(n) : 0.0}};
}

}  // namespace loupe::analysis
