#include "analysis/activations.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "engine/driver.h"
#include "model/weights.h"

namespace loupe::analysis {

namespace {

bool is_attention_map(HookKind k) {
  return k == HookKind::AttnScores || k == HookKind::Pattern;
}

struct Accumulator {
  Moments moments;
  StreamHistogram histogram;
  ExactSum sum;       // of each row's sum of x
  ExactSum sum_abs;   // of each row's sum of |x|
  ExactSum sum_norm;  // of each row's L2 norm
  int64_t rows = 0;
  int64_t width = 0;
  std::vector<float> dim_max_abs;  // [width]
  std::vector<int64_t> positive;   // [width] mlp.hook_pre only
};

class ActivationObserver : public Observer {
 public:
  void on_hook(const HookEvent& e) override {
    Accumulator& a = acc[e.hook];
    const int64_t rows = is_attention_map(e.point->kind) ? e.shape.dims[0] * e.shape.dims[1] : e.shape.dims[0];
    const int64_t width = e.shape.numel() / std::max<int64_t>(1, rows);
    if (a.width == 0) {
      a.width = width;
      a.dim_max_abs.assign(static_cast<size_t>(width), 0.0f);
      if (e.point->kind == HookKind::MlpPre) a.positive.assign(static_cast<size_t>(width), 0);
    }
    LOUPE_ASSERT(a.width == width, e.point->name, ": width changed from ", a.width, " to ", width);
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = e.data + r * width;
      double ss = 0, row_sum = 0, row_abs = 0;
      for (int64_t k = 0; k < width; ++k) {
        const double v = x[k];
        a.moments.add(v);
        if (!std::isfinite(v)) continue;
        a.histogram.add(v);
        const double av = std::fabs(v);
        row_sum += v;
        row_abs += av;
        ss += v * v;
        float& m = a.dim_max_abs[static_cast<size_t>(k)];
        m = std::max(m, static_cast<float>(av));
        if (!a.positive.empty() && v > 0) ++a.positive[static_cast<size_t>(k)];
      }
      a.sum.add(row_sum);
      a.sum_abs.add(row_abs);
      a.sum_norm.add(std::sqrt(ss));
      ++a.rows;
    }
  }
  std::map<int, Accumulator> acc;
};

// Counts the experts chosen at every position of every MoE layer.
class ExpertLoadObserver : public Observer {
 public:
  explicit ExpertLoadObserver(const ModelConfig& c) : n_experts_(c.n_experts) {}
  void on_hook(const HookEvent& e) override {
    ExpertLoad& l = load[e.point->layer];
    l.layer = e.point->layer;
    if (l.counts.empty()) l.counts.assign(static_cast<size_t>(n_experts_), 0);
    for (int64_t i = 0; i < e.shape.numel(); ++i) {
      const auto id = static_cast<int64_t>(e.data[i]);
      if (id >= 0 && id < n_experts_) ++l.counts[static_cast<size_t>(id)];
    }
    l.positions += e.shape.dims[0];
  }
  std::map<int, ExpertLoad> load;

 private:
  int64_t n_experts_;
};

}  // namespace

struct ActivationsAnalysis::Observers {
  explicit Observers(const ModelConfig& c) : experts(c) {}
  ActivationObserver obs;
  ExpertLoadObserver experts;
};

ActivationsAnalysis::ActivationsAnalysis(const Model& model, const ActivationsOptions& options)
    : model_(model), opt_(options), observers_(std::make_unique<Observers>(model.config)) {}

ActivationsAnalysis::~ActivationsAnalysis() = default;

void ActivationsAnalysis::attach(Interpreter& interp) {
  hooks_ = &interp.hooks();
  const HookTable& hooks = interp.hooks();
  ids_.clear();
  if (opt_.hooks.empty()) {
    for (int h = 0; h < hooks.size(); ++h)
      if (!is_attention_map(hooks[h].kind)) ids_.push_back(h);
  } else {
    for (const auto& g : opt_.hooks)
      for (int id : hooks.resolve(g))
        if (std::find(ids_.begin(), ids_.end(), id) == ids_.end()) ids_.push_back(id);
    std::sort(ids_.begin(), ids_.end());
  }
  for (int id : ids_) subs_.push_back(interp.subscribe(id, &observers_->obs));
  for (int h = 0; h < hooks.size(); ++h)
    if (hooks[h].kind == HookKind::ExpertIds) subs_.push_back(interp.subscribe(h, &observers_->experts));
}

void ActivationsAnalysis::on_logits(const float* /*logits*/, int64_t rows, int64_t /*first_pos*/) {
  n_tokens_ += rows;
}

ActivationsResult ActivationsAnalysis::collect(int64_t n_docs, int64_t n_tokens) {
  subs_.clear();
  LOUPE_ASSERT(hooks_ != nullptr, "activations collected before they were attached");
  const HookTable& hooks = *hooks_;
  const auto& acc = observers_->obs.acc;
  ActivationsResult r;
  r.model = model_.path;
  r.n_docs = n_docs;
  r.n_tokens = n_tokens;
  for (int id : ids_) {
    auto it = acc.find(id);
    if (it == acc.end()) continue;
    const Accumulator& a = it->second;
    HookActivations h;
    h.name = hooks[id].name;
    h.layer = hooks[id].layer;
    h.kind = hooks[id].kind;
    h.width = a.width;
    h.rows = a.rows;
    h.moments = a.moments;
    h.histogram = a.histogram;
    const auto finite = static_cast<double>(std::max<int64_t>(1, a.moments.count()));
    h.mean = a.moments.count() > 0 ? a.sum.value() / finite : 0.0;
    h.mean_abs = a.sum_abs.value() / finite;
    h.mean_norm = a.rows > 0 ? a.sum_norm.value() / static_cast<double>(a.rows) : 0.0;
    std::vector<int64_t> order(static_cast<size_t>(a.width));
    for (int64_t k = 0; k < a.width; ++k) order[static_cast<size_t>(k)] = k;
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
      return a.dim_max_abs[static_cast<size_t>(x)] > a.dim_max_abs[static_cast<size_t>(y)];
    });
    for (int64_t k : order) {
      if (h.massive.size() >= opt_.max_massive) break;
      const double mx = a.dim_max_abs[static_cast<size_t>(k)];
      if (h.mean_abs <= 0 || mx <= opt_.massive_factor * h.mean_abs) break;
      h.massive.push_back({k, mx, mx / h.mean_abs});
    }
    for (int64_t k = 0; k < static_cast<int64_t>(a.positive.size()); ++k) {
      const int64_t p = a.positive[static_cast<size_t>(k)];
      if (p == 0) h.dead.push_back(k);
      if (p == a.rows) h.always_on.push_back(k);
    }
    r.hooks.push_back(std::move(h));
  }
  for (auto& [layer, l] : observers_->experts.load) r.expert_load.push_back(l);
  return r;
}

void ActivationsAnalysis::pack(ByteWriter& out) const {
  out.put(n_tokens_);
  const auto& acc = observers_->obs.acc;
  out.put(static_cast<uint64_t>(acc.size()));
  for (const auto& [id, a] : acc) {
    out.put(static_cast<int32_t>(id));
    a.moments.pack(out);
    a.histogram.pack(out);
    a.sum.pack(out);
    a.sum_abs.pack(out);
    a.sum_norm.pack(out);
    out.put(a.rows);
    out.put(a.width);
    out.put_span(std::span<const float>(a.dim_max_abs));
    out.put_span(std::span<const int64_t>(a.positive));
  }
  const auto& load = observers_->experts.load;
  out.put(static_cast<uint64_t>(load.size()));
  for (const auto& [layer, l] : load) {
    out.put(static_cast<int32_t>(layer));
    out.put(l.positions);
    out.put_span(std::span<const int64_t>(l.counts));
  }
}

namespace {

template <class T>
std::vector<T> read_vector(ByteReader& in, std::string_view field) {
  const auto n = in.read<uint64_t>(field);
  if (n > in.remaining() / sizeof(T)) fail(in.source(), ": ", field, ": ", n, " values do not fit the message");
  std::vector<T> v(static_cast<size_t>(n));
  for (T& x : v) x = in.read<T>(field);
  return v;
}

}  // namespace

void ActivationsAnalysis::merge(ByteReader& in) {
  n_tokens_ += in.read<int64_t>("tokens");
  auto& acc = observers_->obs.acc;
  for (auto n = in.read<uint64_t>("hooks"); n > 0; --n) {
    const int id = in.read<int32_t>("hook id");
    if (hooks_ == nullptr || id < 0 || id >= hooks_->size()) fail(in.source(), ": hook ", id, " is not in the model");
    Accumulator b;
    b.moments = Moments::unpack(in);
    b.histogram = StreamHistogram::unpack(in);
    b.sum = ExactSum::unpack(in);
    b.sum_abs = ExactSum::unpack(in);
    b.sum_norm = ExactSum::unpack(in);
    b.rows = in.read<int64_t>("rows");
    b.width = in.read<int64_t>("width");
    b.dim_max_abs = read_vector<float>(in, "maximum |x| per dimension");
    b.positive = read_vector<int64_t>(in, "positive counts");
    if (static_cast<int64_t>(b.dim_max_abs.size()) != b.width ||
        (!b.positive.empty() && static_cast<int64_t>(b.positive.size()) != b.width))
      fail(in.source(), ": hook ", (*hooks_)[id].name, ": widths disagree");
    auto it = acc.find(id);
    if (it == acc.end()) {
      acc.emplace(id, std::move(b));
      continue;
    }
    Accumulator& a = it->second;
    if (a.width != b.width || a.positive.size() != b.positive.size())
      fail(in.source(), ": hook ", (*hooks_)[id].name, " has width ", b.width, " here and ", a.width, " in part 0");
    a.moments.merge(b.moments);
    a.histogram.merge(b.histogram);
    a.sum.add(b.sum);
    a.sum_abs.add(b.sum_abs);
    a.sum_norm.add(b.sum_norm);
    a.rows += b.rows;
    for (size_t k = 0; k < a.dim_max_abs.size(); ++k) a.dim_max_abs[k] = std::max(a.dim_max_abs[k], b.dim_max_abs[k]);
    for (size_t k = 0; k < a.positive.size(); ++k) a.positive[k] += b.positive[k];
  }
  auto& load = observers_->experts.load;
  for (auto n = in.read<uint64_t>("MoE layers"); n > 0; --n) {
    const int layer = in.read<int32_t>("MoE layer");
    const auto positions = in.read<int64_t>("MoE positions");
    const std::vector<int64_t> counts = read_vector<int64_t>(in, "expert counts");
    ExpertLoad& l = load[layer];
    l.layer = layer;
    if (l.counts.empty()) l.counts.assign(counts.size(), 0);
    if (l.counts.size() != counts.size()) fail(in.source(), ": layer ", layer, ": expert counts disagree");
    for (size_t k = 0; k < counts.size(); ++k) l.counts[k] += counts[k];
    l.positions += positions;
  }
  if (in.remaining() != 0) fail(in.source(), ": ", in.remaining(), " bytes left over");
}

nlohmann::ordered_json ActivationsAnalysis::finish() {
  return to_json(collect(1, n_tokens_));
}

ActivationsResult run_activations(const Model& model, const std::string& data_path, const std::string& field,
                                  const ActivationsOptions& options) {
  Interpreter interp(model, options.run);
  ActivationsAnalysis analysis(model, options);
  analysis.attach(interp);
  DocumentReader reader(data_path, field, options.seq.format, options.seq.strict);
  SequencerOptions so = options.seq;
  so.max_len = interp.n_ctx();
  if (so.chunk > interp.n_ctx())
    fail("--chunk ", so.chunk, " is longer than the context of ", interp.n_ctx(), " positions (raise --ctx)");
  Sequencer seq(model, reader, so);
  const JobSplit& split = options.split;
  for (int64_t index = 0;; ++index) {
    std::optional<Sequence> s = seq.next();
    if (!s) break;
    if (!split.takes(index)) continue;
    interp.rewind(0);
    forward(interp, s->tokens, true, nullptr);
    analysis.on_logits(nullptr, static_cast<int64_t>(s->tokens.size()), 0);  // counts the tokens
    if (options.progress) options.progress(seq.n_docs(), analysis.n_tokens());
  }
  if (split.multi()) {
    // Every part's statistics on part 0, added in part order (the result does not depend on it
    // but for the rounding of the merged moments).
    ByteWriter mine;
    analysis.pack(mine);
    const std::vector<std::string> parts = split.gather(mine.take());
    if (!split.root()) return {};
    LOUPE_ASSERT(static_cast<int>(parts.size()) == split.parts, "gathered ", parts.size(), " of ", split.parts);
    ActivationsAnalysis all(model, options);
    all.attach(interp);
    for (size_t p = 0; p < parts.size(); ++p) {
      ByteReader in(reinterpret_cast<const uint8_t*>(parts[p].data()), parts[p].size(),
                    cat("the statistics of rank ", p));
      all.merge(in);
    }
    if (all.n_tokens() == 0) fail(data_path, ": no document to run (every document is shorter than two tokens)");
    return all.collect(seq.n_docs(), all.n_tokens());
  }
  if (analysis.n_tokens() == 0) fail(data_path, ": no document to run (every document is shorter than two tokens)");
  return analysis.collect(seq.n_docs(), analysis.n_tokens());
}

nlohmann::ordered_json to_json(const ActivationsResult& r) {
  nlohmann::ordered_json j;
  j["model"] = r.model;
  j["n_docs"] = r.n_docs;
  j["n_tokens"] = r.n_tokens;
  nlohmann::ordered_json hooks = nlohmann::ordered_json::array();
  for (const HookActivations& h : r.hooks) {
    nlohmann::ordered_json e;
    e["hook"] = h.name;
    e["layer"] = h.layer;
    e["width"] = h.width;
    e["positions"] = h.rows;
    e["count"] = h.moments.count();
    e["mean"] = h.mean;
    e["std"] = h.moments.std_dev();
    e["kurtosis"] = h.moments.kurtosis();
    e["min"] = h.moments.count() > 0 ? nlohmann::ordered_json(h.moments.min()) : nullptr;
    e["max"] = h.moments.count() > 0 ? nlohmann::ordered_json(h.moments.max()) : nullptr;
    e["nan"] = h.moments.n_nan();
    e["inf"] = h.moments.n_inf();
    e["mean_abs"] = h.mean_abs;
    e["mean_norm"] = h.mean_norm;
    e["histogram"] = {{"lo", h.histogram.lo()}, {"hi", h.histogram.hi()}, {"counts", h.histogram.counts()}};
    nlohmann::ordered_json massive = nlohmann::ordered_json::array();
    for (const MassiveDim& m : h.massive)
      massive.push_back({{"dim", m.dim}, {"max_abs", m.max_abs}, {"ratio", m.ratio}});
    e["massive"] = massive;
    if (h.kind == HookKind::MlpPre) {
      e["dead_neurons"] = h.dead;
      e["always_on_neurons"] = h.always_on;
    }
    hooks.push_back(std::move(e));
  }
  j["hooks"] = hooks;
  if (!r.expert_load.empty()) {
    nlohmann::ordered_json el = nlohmann::ordered_json::array();
    for (const ExpertLoad& l : r.expert_load) {
      int64_t total = 0, top = 0, unused = 0;
      for (int64_t n : l.counts) {
        total += n;
        top = std::max(top, n);
        unused += n == 0;
      }
      el.push_back({{"layer", l.layer},
                    {"positions", l.positions},
                    {"counts", l.counts},
                    {"max_share", total > 0 ? static_cast<double>(top) / static_cast<double>(total) : 0.0},
                    {"unused_experts", unused}});
    }
    j["expert_load"] = el;
  }
  return j;
}

}  // namespace loupe::analysis
