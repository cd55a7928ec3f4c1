#include "analysis/monitor.h"

#include <algorithm>
#include <cmath>

#include "analysis/divergence.h"
#include "core/error.h"
#include "engine/driver.h"
#include "model/weights.h"

namespace loupe::analysis {
namespace {

// Counts, per neuron of every mlp.hook_pre, the positions where it is positive.
class PositiveCount : public Observer {
 public:
  std::vector<std::vector<int64_t>> counts;  // per hook subscribed (in order)
  std::vector<int> hooks;
  void on_hook(const HookEvent& e) override {
    const auto it = std::find(hooks.begin(), hooks.end(), e.hook);
    std::vector<int64_t>& c = counts[static_cast<size_t>(it - hooks.begin())];
    const int64_t rows = e.shape.dims[0], w = e.shape.numel() / std::max<int64_t>(1, rows);
    c.resize(static_cast<size_t>(w), 0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < w; ++j) c[static_cast<size_t>(j)] += e.data[r * w + j] > 0.0f;
  }
};

void matrix(const Weight& w, int layer, std::vector<float>& buf,
            const std::function<void(int, const float*, int64_t)>& f) {
  if (w.empty()) return;
  buf.resize(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    w.row(r, buf.data());
    f(layer, buf.data(), w.cols);
  }
}

}  // namespace

void for_each_weight(const Model& m, const std::function<void(int layer, const float* v, int64_t n)>& f) {
  const ModelConfig& c = m.config;
  std::vector<float> buf;
  matrix(m.tok_embed, -1, buf, f);
  matrix(m.pos_embed, -1, buf, f);
  if (m.unembed.data != m.tok_embed.data) matrix(m.unembed, -1, buf, f);
  auto vec = [&](int layer, const float* v, int64_t n) {
    if (v != nullptr) f(layer, v, n);
  };
  vec(-1, m.ln_final_w, c.d_model);
  vec(-1, m.ln_final_b, c.d_model);
  for (int l = 0; l < static_cast<int>(m.layers.size()); ++l) {
    const LayerWeights& L = m.layers[static_cast<size_t>(l)];
    for (const Weight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down, &L.router})
      matrix(*w, l, buf, f);
    for (const auto* experts : {&L.expert_gate, &L.expert_up, &L.expert_down})
      for (const Weight& w : *experts) matrix(w, l, buf, f);
    vec(l, L.ln1_w, c.d_model);
    vec(l, L.ln1_b, c.d_model);
    vec(l, L.ln2_w, c.d_model);
    vec(l, L.ln2_b, c.d_model);
    vec(l, L.bq, c.d_q());
    vec(l, L.bk, c.d_kv());
    vec(l, L.bv, c.d_kv());
    vec(l, L.bo, c.d_model);
    vec(l, L.b_up, c.d_mlp);
    vec(l, L.b_down, c.d_model);
  }
}

std::vector<CheckpointStats> run_monitor(const Model& teacher, const std::vector<const Model*>& students,
                                         const std::string& data_path, const MonitorOptions& o) {
  if (students.empty()) fail("monitor: no checkpoints");
  if (!(o.tau > 0.0)) fail("--tau ", o.tau, " must be positive");
  if (!teacher.tokenizer) fail(teacher.path, ": the teacher has no tokenizer to read the data with");
  const int64_t V = teacher.config.d_vocab;
  for (const Model* s : students)
    if (s->config.d_vocab != V)
      fail(s->path, ": vocabulary of ", s->config.d_vocab, " tokens; the teacher's has ", V, " (they must match)");
  RunOptions run = o.run;
  Interpreter t_interp(teacher, run);
  std::vector<std::unique_ptr<Interpreter>> s_interp;
  std::vector<PositiveCount> positive(students.size());
  std::vector<std::vector<Subscription>> subs(students.size());
  int64_t n_ctx = t_interp.n_ctx();
  for (size_t i = 0; i < students.size(); ++i) {
    s_interp.push_back(std::make_unique<Interpreter>(*students[i], run));
    n_ctx = std::min(n_ctx, s_interp.back()->n_ctx());
    const Program& p = s_interp.back()->program();
    for (int h = 0; h < p.hooks.size(); ++h)
      if (p.hooks[h].kind == HookKind::MlpPre) {
        positive[i].hooks.push_back(h);
        subs[i].push_back(s_interp.back()->subscribe(h, &positive[i]));
      }
    positive[i].counts.resize(positive[i].hooks.size());
  }
  std::vector<OutputDivergence> at1, at_tau;
  for (size_t i = 0; i < students.size(); ++i) {
    at1.emplace_back(V);
    at_tau.emplace_back(V);
  }
  DocumentReader reader(data_path, "text", o.seq.format, o.seq.strict);
  SequencerOptions so = o.seq;
  so.max_len = n_ctx;
  Sequencer seq(teacher, reader, so);
  std::vector<float> t_logits, ts(static_cast<size_t>(V)), ss(static_cast<size_t>(V));
  int64_t positions = 0;
  const auto inv_tau = static_cast<float>(1.0 / o.tau);
  while (std::optional<Sequence> s = seq.next()) {
    const std::span<const int32_t> tokens(s->tokens);
    const auto n = static_cast<int64_t>(tokens.size());
    t_logits.assign(static_cast<size_t>(n * V), 0.0f);
    auto run_all = [&](Interpreter& in, float* out) {
      in.rewind(0);
      forward(in, tokens, true,
              [&](const float* l, int64_t rows, int64_t first) { std::copy_n(l, rows * V, out + first * V); });
    };
    run_all(t_interp, t_logits.data());
    std::vector<float> s_logits(static_cast<size_t>(n * V));
    for (size_t i = 0; i < students.size(); ++i) {
      run_all(*s_interp[i], s_logits.data());
      for (int64_t pos = s->first_scored; pos + 1 < n; ++pos) {
        const float* tl = t_logits.data() + pos * V;
        const float* sl = s_logits.data() + pos * V;
        const int32_t next = tokens[static_cast<size_t>(pos + 1)];
        at1[i].add(tl, sl, next);
        for (int64_t j = 0; j < V; ++j) {
          ts[static_cast<size_t>(j)] = tl[j] * inv_tau;
          ss[static_cast<size_t>(j)] = sl[j] * inv_tau;
        }
        at_tau[i].add(ts.data(), ss.data(), next);
      }
    }
    positions += std::max<int64_t>(0, n - 1 - s->first_scored);
  }
  if (positions == 0) fail(data_path, ": no token to score (every document is shorter than two tokens)");

  std::vector<CheckpointStats> out;
  std::vector<float> first;  // the first checkpoint's weights, for the drift
  bool first_kept = false;
  for (size_t i = 0; i < students.size(); ++i) {
    const Model& m = *students[i];
    CheckpointStats c;
    c.path = m.path;
    const OutputStats a = at1[i].stats(), b = at_tau[i].stats();
    c.n_scored = a.count;
    c.kl = a.kld.value;
    c.kd_loss = o.tau * o.tau * b.kld.value;
    c.perplexity = a.ppl_cand.value;
    c.cross_entropy = std::log(a.ppl_cand.value);
    c.top1_agreement = a.same_top_p.value;
    c.layers.assign(m.layers.size(), {});
    double s1 = 0, s2 = 0, d2 = 0, f2 = 0;
    size_t at = 0;
    bool same = true;
    const bool keep = i == 0;
    for_each_weight(m, [&](int layer, const float* v, int64_t n) {
      double l1 = 0, l2 = 0;
      for (int64_t j = 0; j < n; ++j) {
        l1 += std::fabs(static_cast<double>(v[j]));
        l2 += static_cast<double>(v[j]) * v[j];
      }
      s1 += l1, s2 += l2;
      if (layer >= 0) {
        c.layers[static_cast<size_t>(layer)].l1 += l1;
        c.layers[static_cast<size_t>(layer)].l2 += l2;
      }
      if (keep) {
        first.insert(first.end(), v, v + n);
      } else if (first_kept && same) {
        if (at + static_cast<size_t>(n) > first.size()) {
          same = false;
          return;
        }
        for (int64_t j = 0; j < n; ++j) {
          const double d = static_cast<double>(v[j]) - first[at + static_cast<size_t>(j)];
          d2 += d * d;
          f2 += static_cast<double>(first[at + static_cast<size_t>(j)]) * first[at + static_cast<size_t>(j)];
        }
        at += static_cast<size_t>(n);
      }
    });
    c.total = {s1, std::sqrt(s2)};
    for (auto& l : c.layers) l.l2 = std::sqrt(l.l2);
    if (keep) {
      first_kept = true;
      c.drift = 0.0;
    } else if (same && at == first.size() && f2 > 0) {
      c.drift = std::sqrt(d2 / f2);
    }
    int64_t neurons = 0, dead = 0;
    for (const auto& cnt : positive[i].counts)
      for (int64_t v : cnt) neurons += 1, dead += v == 0;
    if (neurons > 0) c.dead_neurons = static_cast<double>(dead) / static_cast<double>(neurons);
    out.push_back(std::move(c));
  }
  return out;
}

nlohmann::ordered_json to_json(const std::vector<CheckpointStats>& series, double tau) {
  auto arr = nlohmann::ordered_json::array();
  for (const CheckpointStats& c : series) {
    nlohmann::ordered_json j;
    j["path"] = c.path;
    j["n_scored"] = c.n_scored;
    j["kd_loss"] = c.kd_loss;
    j["kl"] = c.kl;
    j["cross_entropy"] = c.cross_entropy;
    j["perplexity"] = c.perplexity;
    j["top1_agreement"] = c.top1_agreement;
    j["l1"] = c.total.l1;
    j["l2"] = c.total.l2;
    auto layers = nlohmann::ordered_json::array();
    for (const auto& l : c.layers) layers.push_back({{"l1", l.l1}, {"l2", l.l2}});
    j["layers"] = layers;
    j["dead_neurons"] = c.dead_neurons ? nlohmann::ordered_json(*c.dead_neurons) : nlohmann::ordered_json(nullptr);
    j["drift"] = c.drift ? nlohmann::ordered_json(*c.drift) : nlohmann::ordered_json(nullptr);
    arr.push_back(j);
  }
  return {{"tau", tau}, {"checkpoints", arr}};
}

}  // namespace loupe::analysis
