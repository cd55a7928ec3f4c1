#include "analysis/attribute.h"

#include <cmath>
#include <map>

#include "analysis/stats.h"
#include "analysis/text.h"
#include "core/error.h"
#include "engine/driver.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace loupe::analysis {

namespace {

// Copies row `pos` of every watched [pos, ...] hook tensor.
class RowCapture : public Observer {
 public:
  explicit RowCapture(int64_t pos) : pos_(pos) {}
  void on_hook(const HookEvent& e) override {
    const int64_t width = e.shape.numel() / e.shape.dims[0];
    const int64_t row = pos_ - e.pos0;
    if (row < 0 || row >= e.shape.dims[0]) return;
    rows[e.hook].assign(e.data + row * width, e.data + (row + 1) * width);
  }
  std::map<int, std::vector<float>> rows;

 private:
  int64_t pos_;
};

// Zeroes the token embedding of one position.
class ZeroEmbedding : public Observer {
 public:
  explicit ZeroEmbedding(int64_t pos) : pos_(pos) {}
  void on_hook(const HookEvent& e) override {
    const int64_t width = e.shape.numel() / e.shape.dims[0];
    const int64_t row = pos_ - e.pos0;
    if (row < 0 || row >= e.shape.dims[0]) return;
    std::fill(e.data + row * width, e.data + (row + 1) * width, 0.0f);
  }

 private:
  int64_t pos_;
};

double dot(const std::vector<float>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Target logit and log-probability at pos of one run (the last row of the logits).
std::pair<double, double> target_at(const Model& model, const RunOptions& ro, std::span<const int32_t> tokens,
                                    int32_t target, Observer* embed_observer) {
  Interpreter interp(model, ro);
  if (embed_observer != nullptr) interp.observe(*interp.hooks().id(HookKind::Embed, -1), embed_observer);
  const int64_t V = model.config.d_vocab;
  std::vector<float> last(static_cast<size_t>(V));
  forward(interp, tokens, false,
          [&](const float* l, int64_t rows, int64_t) { std::copy_n(l + (rows - 1) * V, V, last.data()); });
  std::vector<double> lp(static_cast<size_t>(V));
  log_softmax(last.data(), V, lp.data());
  return {last[static_cast<size_t>(target)], lp[static_cast<size_t>(target)]};
}

}  // namespace

// The target position's rows of the hooks the parts come from.
struct AttributionAnalysis::Capture {
  explicit Capture(int64_t pos) : rows(pos) {}
  RowCapture rows;
  int h_embed = -1, h_pos = -1, h_scale = -1, h_logits = -1;
  std::vector<int> h_attn, h_mlp, h_z;
};

AttributionAnalysis::AttributionAnalysis(const Model& model, std::vector<int32_t> tokens,
                                         const AttributionOptions& options)
    : model_(model), opt_(options), tokens_(std::move(tokens)) {
  const int64_t V = model.config.d_vocab;
  const auto n = static_cast<int64_t>(tokens_.size());
  if (opt_.target < 0 || opt_.target >= V)
    fail("--target: token id ", opt_.target, " is out of range (vocabulary of ", V, ")");
  pos_ = opt_.pos < 0 ? n + opt_.pos : opt_.pos;
  if (pos_ < 0 || pos_ >= n) fail("--pos: ", opt_.pos, " is outside the prompt of ", n, " tokens");
  cap_ = std::make_unique<Capture>(pos_);
}

AttributionAnalysis::~AttributionAnalysis() = default;

void AttributionAnalysis::attach(Interpreter& interp) {
  const HookTable& hooks = interp.hooks();
  auto watch = [&](HookKind k, int layer) {
    if (auto id = hooks.id(k, layer)) {
      subs_.push_back(interp.subscribe(*id, &cap_->rows));
      return *id;
    }
    return -1;
  };
  cap_->h_embed = watch(HookKind::Embed, -1);
  cap_->h_pos = watch(HookKind::PosEmbed, -1);
  cap_->h_scale = watch(HookKind::LnFinalScale, -1);
  cap_->h_logits = watch(HookKind::Logits, -1);
  for (int l = 0; l < model_.config.n_layers; ++l) {
    cap_->h_attn.push_back(watch(HookKind::AttnOut, l));
    cap_->h_mlp.push_back(watch(HookKind::MlpOut, l));
    cap_->h_z.push_back(watch(HookKind::Z, l));
  }
}

nlohmann::ordered_json AttributionAnalysis::finish() {
  return to_json(result(), model_);
}

const AttributionResult& AttributionAnalysis::result() {
  if (result_) return *result_;
  subs_.clear();
  const Model& model = model_;
  const ModelConfig& c = model.config;
  const int64_t V = c.d_vocab;
  const AttributionOptions& options = opt_;
  const int64_t pos = pos_;
  const std::vector<int32_t>& tokens = tokens_;
  const std::span<const int32_t> upto(tokens.data(), static_cast<size_t>(pos + 1));
  const auto row = [&](int hook) -> const std::vector<float>& {
    auto it = cap_->rows.rows.find(hook);
    if (it == cap_->rows.rows.end()) fail("attribution: position ", pos, " was not in the pass it watched");
    return it->second;
  };
  AttributionResult r;
  r.tokens = tokens;
  r.target = options.target;
  r.pos = pos;
  const float scale = row(cap_->h_scale)[0];
  const std::vector<float>& logits = row(cap_->h_logits);
  r.logit = logits[static_cast<size_t>(options.target)];
  {
    std::vector<double> lp(static_cast<size_t>(V));
    log_softmax(logits.data(), V, lp.data());
    r.logprob = lp[static_cast<size_t>(options.target)];
  }

  // u = gamma * W_U[target] / scale, centred for LayerNorm (so that (x - mean x) . u' = x . u_c).
  const int64_t d = c.d_model;
  std::vector<float> wu(static_cast<size_t>(d));
  model.unembed.row(options.target, wu.data());
  std::vector<double> u(static_cast<size_t>(d));
  for (int64_t k = 0; k < d; ++k)
    u[static_cast<size_t>(k)] = static_cast<double>(model.ln_final_w[k]) * wu[static_cast<size_t>(k)] / scale;
  if (c.norm == NormKind::LayerNorm) {
    double m = 0;
    for (double v : u) m += v;
    m /= static_cast<double>(d);
    for (double& v : u) v -= m;
  }

  auto add_part = [&](const std::string& name, int layer, double value) {
    r.parts.push_back({name, layer, value});
    r.parts_sum += value;
  };
  add_part("embed", -1, dot(row(cap_->h_embed), u));
  if (cap_->h_pos >= 0) add_part("pos_embed", -1, dot(row(cap_->h_pos), u));
  const int64_t d_q = c.d_q();
  std::vector<float> wo_row(static_cast<size_t>(d_q));
  for (int l = 0; l < c.n_layers; ++l) {
    const double attn = dot(row(cap_->h_attn[static_cast<size_t>(l)]), u);
    add_part("blocks." + std::to_string(l) + ".attn", l, attn);
    // Per head: z_h . (W_O^T u)_h.
    std::vector<double> v(static_cast<size_t>(d_q), 0.0);
    const Weight& wo = model.layers[static_cast<size_t>(l)].wo;
    for (int64_t row = 0; row < d; ++row) {
      wo.row(row, wo_row.data());
      for (int64_t k = 0; k < d_q; ++k)
        v[static_cast<size_t>(k)] += static_cast<double>(wo_row[static_cast<size_t>(k)]) * u[static_cast<size_t>(row)];
    }
    const std::vector<float>& z = row(cap_->h_z[static_cast<size_t>(l)]);
    double heads_sum = 0;
    for (int64_t h = 0; h < c.n_heads; ++h) {
      double s = 0;
      for (int64_t k = h * c.d_head; k < (h + 1) * c.d_head; ++k)
        s += static_cast<double>(z[static_cast<size_t>(k)]) * v[static_cast<size_t>(k)];
      r.heads.push_back({l, static_cast<int>(h), s});
      heads_sum += s;
    }
    r.attn_bias.push_back(attn - heads_sum);
    add_part("blocks." + std::to_string(l) + ".mlp", l, dot(row(cap_->h_mlp[static_cast<size_t>(l)]), u));
  }
  if (model.ln_final_b != nullptr) {
    double b = 0;
    for (int64_t k = 0; k < d; ++k) b += static_cast<double>(model.ln_final_b[k]) * wu[static_cast<size_t>(k)];
    add_part("ln_final.bias", -1, b);
  }

  if (options.occlusion) {
    for (int64_t i = 0; i <= pos; ++i) {
      ZeroEmbedding zero(i);
      auto [logit, logprob] = target_at(model, options.run, upto, options.target, &zero);
      r.occlusion.push_back({i, tokens[static_cast<size_t>(i)], logit, logprob, logit - r.logit, logprob - r.logprob});
    }
  }
  result_ = std::move(r);
  return *result_;
}

AttributionResult run_attribution(const Model& model, const std::vector<int32_t>& tokens,
                                  const AttributionOptions& options) {
  AttributionAnalysis a(model, tokens, options);
  const int64_t pos = a.result_pos();
  Interpreter interp(model, options.run);
  a.attach(interp);
  forward(interp, std::span<const int32_t>(tokens.data(), static_cast<size_t>(pos + 1)), false, nullptr);
  return a.result();
}

nlohmann::ordered_json to_json(const AttributionResult& r, const Model& model) {
  auto text = [&model](int32_t id) { return token_text(model, id); };
  nlohmann::ordered_json j;
  j["tokens"] = r.tokens;
  j["target"] = r.target;
  j["target_text"] = text(r.target);
  j["pos"] = r.pos;
  j["logit"] = r.logit;
  j["logprob"] = r.logprob;
  j["parts_sum"] = r.parts_sum;
  nlohmann::ordered_json parts = nlohmann::ordered_json::array();
  for (const Part& p : r.parts) parts.push_back({{"name", p.name}, {"layer", p.layer}, {"logit", p.logit}});
  j["parts"] = parts;
  nlohmann::ordered_json heads = nlohmann::ordered_json::array();
  for (const HeadPart& h : r.heads) heads.push_back({{"layer", h.layer}, {"head", h.head}, {"logit", h.logit}});
  j["heads"] = heads;
  j["attn_bias"] = r.attn_bias;
  nlohmann::ordered_json occ = nlohmann::ordered_json::array();
  for (const Occlusion& o : r.occlusion)
    occ.push_back({{"pos", o.pos},
                   {"token", o.token},
                   {"text", text(o.token)},
                   {"logit", o.logit},
                   {"logprob", o.logprob},
                   {"delta_logit", o.delta_logit},
                   {"delta_logprob", o.delta_logprob}});
  j["occlusion"] = occ;
  return j;
}

}  // namespace loupe::analysis
