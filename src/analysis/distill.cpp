#include "analysis/distill.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "core/error.h"
#include "engine/backward.h"
#include "engine/run.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "model/weights.h"

namespace loupe::analysis {
namespace {

bool is_gguf(const std::string& path) {
  return path.size() > 5 && path.substr(path.size() - 5) == ".gguf";
}

}  // namespace

std::vector<Param> make_trainable(Model& m) {
  if (!is_gguf(m.path)) fail(m.path, ": distill trains GGUF students (write one with loupe model new or convert it)");
  const ModelConfig& c = m.config;
  if (c.moe()) fail(m.path, ": distill does not train mixture-of-experts students yet");
  if (c.attn_sinks) fail(m.path, ": distill does not train attention sinks yet");
  const GgufFile g = GgufFile::open(m.path);
  const uint8_t* base = m.files.empty() ? nullptr : m.files.front()->data();
  std::vector<Param> params;
  std::map<std::string, size_t> by_name;  // tensor -> params index
  // The trainable copy of a whole tensor (dequantised once), shared by its slices.
  auto copy_of = [&](const GgufTensorInfo& t, bool matrix) -> Param& {
    if (const auto it = by_name.find(t.name); it != by_name.end()) return params[it->second];
    int64_t n = 1;
    for (int64_t d : t.ne) n *= d;
    std::vector<float>& buf = m.owned.emplace_back(static_cast<size_t>(n));
    const size_t rb = row_bytes(t.type, t.ne[0]);
    for (int64_t r = 0; r < n / t.ne[0]; ++r)
      dequantize_row(t.type, t.data + static_cast<size_t>(r) * rb, buf.data() + r * t.ne[0], t.ne[0]);
    by_name[t.name] = params.size();
    params.push_back({t.name, t.ne, buf.data(), n, matrix, {}});
    return params.back();
  };
  // The file tensor a pointer of the model's mapping lies in, and the byte offset in it.
  auto locate = [&](const void* p) -> std::pair<const GgufTensorInfo*, size_t> {
    if (base == nullptr) return {nullptr, 0};
    const auto off = static_cast<size_t>(static_cast<const uint8_t*>(p) - base);
    for (const GgufTensorInfo& t : g.tensors()) {
      const auto start = static_cast<size_t>(t.data - g.file()->data());
      if (off >= start && off < start + t.nbytes) return {&t, off - start};
    }
    return {nullptr, 0};
  };
  std::map<const void*, const float*> moved;  // old pointer -> new (tied embeddings: one copy)
  auto matrix = [&](Weight& w) {
    if (w.empty()) return;
    const float* now = nullptr;
    if (const auto it = moved.find(w.data); it != moved.end()) {
      now = it->second;
    } else {
      const auto [t, off] = locate(w.data);
      if (t == nullptr || w.storage != Storage::Rows || !w.row_map.empty() || t->ne[0] != w.cols)
        fail(m.path, ": weight ", w.name, " is not a row-major tensor of the file; distill cannot train it");
      const size_t rb = row_bytes(t->type, t->ne[0]);
      Param& p = copy_of(*t, true);
      now = p.data + static_cast<int64_t>(off / rb) * w.cols;
      p.parts.emplace_back(now, static_cast<int64_t>(off / rb) * w.cols);
      moved[w.data] = now;
    }
    w.data = reinterpret_cast<const uint8_t*>(now);
    w.type = DType::F32;
    w.tiles = w.panels = nullptr;
    w.group_scales = nullptr;
  };
  // A vector trains when it lies in an F32 tensor of the file (a converted one stays).
  auto vec = [&](const float*& v) {
    if (v == nullptr) return;
    if (const auto it = moved.find(v); it != moved.end()) {
      v = it->second;
      return;
    }
    const auto [t, off] = locate(v);
    if (t == nullptr || t->type != DType::F32) return;
    Param& p = copy_of(*t, false);
    const float* now = p.data + static_cast<int64_t>(off / sizeof(float));
    p.parts.emplace_back(now, static_cast<int64_t>(off / sizeof(float)));
    moved[v] = now;
    v = now;
  };
  matrix(m.tok_embed);
  matrix(m.pos_embed);
  matrix(m.unembed);
  vec(m.ln_final_w);
  vec(m.ln_final_b);
  for (LayerWeights& L : m.layers) {
    for (Weight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) matrix(*w);
    for (const float** v : {&L.ln1_w, &L.ln1_b, &L.ln2_w, &L.ln2_b, &L.bq, &L.bk, &L.bv, &L.bo, &L.b_up, &L.b_down,
                            &L.q_norm, &L.k_norm, &L.post_attn_norm, &L.post_ffn_norm})
      vec(*v);
  }
  return params;
}

void save_trainable(const Model& /*model*/, const std::vector<Param>& params, const std::string& source,
                    const std::string& out) {
  const GgufFile g = GgufFile::open(source);
  std::map<std::string, const Param*> by_name;
  for (const Param& p : params) by_name[p.name] = &p;
  GgufWriter w;
  for (const auto& [key, value] : g.metadata())
    if (key != "general.alignment" && key != "general.file_type") w.set(key, value);
  for (const GgufTensorInfo& t : g.tensors()) {
    const auto it = by_name.find(t.name);
    if (it == by_name.end()) {
      w.add_tensor(t.name, t.type, t.ne, std::vector<uint8_t>(t.data, t.data + t.nbytes));
      continue;
    }
    std::vector<uint8_t> bytes(static_cast<size_t>(it->second->n) * sizeof(float));
    std::memcpy(bytes.data(), it->second->data, bytes.size());
    w.add_tensor(t.name, DType::F32, t.ne, std::move(bytes));
  }
  w.set_string("general.trained_by", "loupe distill");
  w.write(out);
}

std::vector<DistillLog> run_distill(const Model& teacher, Model& student, const std::string& student_path,
                                    const std::string& data_path, const DistillOptions& o) {
  const int64_t V = teacher.config.d_vocab;
  if (student.config.d_vocab != V)
    fail(student_path, ": vocabulary of ", student.config.d_vocab, " tokens; the teacher's has ", V,
         " (they must match)");
  if (!(o.tau > 0.0)) fail("--tau ", o.tau, " must be positive");
  if (!(o.alpha >= 0.0 && o.alpha <= 1.0)) fail("--alpha ", o.alpha, " must be in [0, 1]");
  if (o.steps < 1) fail("--steps must be at least 1");
  if (!(o.lr > 0.0)) fail("--lr ", o.lr, " must be positive");
  if (o.seq_len < 2) fail("--seq-len must be at least 2");
  if (!teacher.tokenizer) fail(teacher.path, ": the teacher has no tokenizer to read the data with");
  std::vector<Param> params = make_trainable(student);
  // Windows no longer than either model's context.
  const int64_t seq_len = std::min(
      {o.seq_len, effective_context(teacher.config, o.run.n_ctx), effective_context(student.config, o.run.n_ctx)});

  // Training windows: documents after the held-out ones, cut into windows of seq_len tokens
  // that overlap by one (each token predicted once).
  std::vector<std::vector<int32_t>> windows;
  {
    DocumentReader reader(data_path, "text", o.seq.format, o.seq.strict);
    SequencerOptions so = o.seq;
    so.max_len = seq_len;
    Sequencer seq(teacher, reader, so);
    std::vector<std::vector<int32_t>> held;
    while (std::optional<Sequence> s = seq.next()) {
      if (s->tokens.size() < 2) continue;
      (s->doc < o.eval_docs ? held : windows).push_back(s->tokens);
    }
    if (windows.empty()) windows = held;  // too little data to hold any out: say so in the log
    if (windows.empty()) fail(data_path, ": no document of two tokens or more to train on");
  }
  RunOptions run = o.run;
  run.max_batch = std::max<int64_t>(run.max_batch, seq_len);
  Interpreter t_interp(teacher, run);
  Interpreter s_interp(student, run);
  Tape tape(s_interp, 0);
  tape.enable_weight_grads(true);
  std::vector<std::vector<double>> m1(params.size()), m2(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    m1[i].assign(static_cast<size_t>(params[i].n), 0.0);
    m2[i].assign(static_cast<size_t>(params[i].n), 0.0);
  }
  MonitorOptions mo;
  mo.run = run;
  mo.seq = o.seq;
  mo.seq.max_docs = std::max<int64_t>(1, o.eval_docs);
  mo.tau = o.tau;
  std::vector<std::vector<float>> initial;  // for the drift
  initial.reserve(params.size());
  for (const Param& p : params) initial.emplace_back(p.data, p.data + p.n);
  std::vector<DistillLog> log;
  auto checkpoint_path = [&](int step) {
    const std::string stem = o.out.size() > 5 && o.out.ends_with(".gguf") ? o.out.substr(0, o.out.size() - 5) : o.out;
    return cat(stem, "-step", step, ".gguf");
  };
  auto log_entry = [&](int step, double train, const std::string& ckpt) {
    DistillLog e;
    e.step = step;
    e.train_loss = train;
    e.eval = run_monitor(teacher, {&student}, data_path, mo).front();
    e.eval.path = step == 0 ? "initial" : cat("step ", step);
    double d2 = 0.0, f2 = 0.0;
    for (size_t i = 0; i < params.size(); ++i)
      for (int64_t j = 0; j < params[i].n; ++j) {
        const double w0 = initial[i][static_cast<size_t>(j)];
        d2 += (params[i].data[j] - w0) * (params[i].data[j] - w0);
        f2 += w0 * w0;
      }
    e.eval.drift = f2 > 0 ? std::sqrt(d2 / f2) : 0.0;
    e.checkpoint = ckpt;
    if (o.on_log) o.on_log(to_json(e, o.tau));
    log.push_back(std::move(e));
  };
  log_entry(0, 0.0, "");
  std::vector<float> t_logits, seed, ps, pt, grad;
  double loss_sum = 0.0;
  int loss_steps = 0;
  const double tau = o.tau;
  for (int step = 1; step <= o.steps; ++step) {
    const std::vector<int32_t>& tokens = windows[static_cast<size_t>(step - 1) % windows.size()];
    const auto n = static_cast<int64_t>(tokens.size());
    t_interp.rewind(0);
    t_interp.begin(tokens, true);
    t_interp.finish();
    t_logits.assign(t_interp.logits(), t_interp.logits() + n * V);
    tape.record(tokens, true);
    const std::span<const float> s_logits = tape.logits();
    seed.assign(static_cast<size_t>(n * V), 0.0f);
    const double scored = static_cast<double>(n - 1);
    double loss = 0.0;
    ps.resize(static_cast<size_t>(V));
    pt.resize(static_cast<size_t>(V));
    for (int64_t i = 0; i + 1 < n; ++i) {
      const float* sl = s_logits.data() + i * V;
      const float* tl = t_logits.data() + i * V;
      // Softened distributions and the plain one, in double.
      auto softmax = [&](const float* l, double t, std::vector<float>& out) {
        double mx = l[0], sum = 0.0;
        for (int64_t j = 1; j < V; ++j) mx = std::max(mx, static_cast<double>(l[j]));
        for (int64_t j = 0; j < V; ++j) sum += std::exp((l[j] - mx) / t);
        for (int64_t j = 0; j < V; ++j)
          out[static_cast<size_t>(j)] = static_cast<float>(std::exp((l[j] - mx) / t) / sum);
        return mx / t + std::log(sum);  // log-sum-exp of l / t
      };
      const double lse_t = softmax(tl, tau, pt);
      const double lse_s = softmax(sl, tau, ps);
      double kl = 0.0;
      for (int64_t j = 0; j < V; ++j) {
        const double p = pt[static_cast<size_t>(j)];
        if (p > 0) kl += p * ((tl[j] / tau - lse_t) - (sl[j] / tau - lse_s));
      }
      float* sd = seed.data() + i * V;
      for (int64_t j = 0; j < V; ++j)
        sd[j] = static_cast<float>(o.alpha * tau * (ps[static_cast<size_t>(j)] - pt[static_cast<size_t>(j)]) / scored);
      const double lse1 = softmax(sl, 1.0, ps);
      const int32_t next = tokens[static_cast<size_t>(i + 1)];
      const double ce = lse1 - sl[next];
      for (int64_t j = 0; j < V; ++j)
        sd[j] += static_cast<float>((1.0 - o.alpha) * ps[static_cast<size_t>(j)] / scored);
      sd[next] -= static_cast<float>((1.0 - o.alpha) / scored);
      loss += (o.alpha * tau * tau * kl + (1.0 - o.alpha) * ce) / scored;
    }
    tape.backward(seed);
    // AdamW, with the l1 / l2 penalties' gradients added to the matrices'.
    const double bc1 = 1.0 - std::pow(o.beta1, step), bc2 = 1.0 - std::pow(o.beta2, step);
    for (size_t i = 0; i < params.size(); ++i) {
      Param& p = params[i];
      grad.assign(static_cast<size_t>(p.n), 0.0f);
      for (const auto& [key, off] : p.parts)
        if (const std::vector<float>* gp = tape.weight_grad(key))
          for (size_t j = 0; j < gp->size() && off + static_cast<int64_t>(j) < p.n; ++j)
            grad[static_cast<size_t>(off) + j] += (*gp)[j];
      for (int64_t j = 0; j < p.n; ++j) {
        const double w = p.data[j];
        double gj = grad[static_cast<size_t>(j)];
        if (p.matrix) {
          gj += 2.0 * o.l2 * w + o.l1 * (w > 0 ? 1.0 : w < 0 ? -1.0 : 0.0);
          loss += o.l2 * w * w + o.l1 * std::fabs(w);
        }
        double& a = m1[i][static_cast<size_t>(j)];
        double& b = m2[i][static_cast<size_t>(j)];
        a = o.beta1 * a + (1.0 - o.beta1) * gj;
        b = o.beta2 * b + (1.0 - o.beta2) * gj * gj;
        double nw = w - o.lr * (a / bc1) / (std::sqrt(b / bc2) + o.eps);
        if (p.matrix) nw -= o.lr * o.weight_decay * w;
        p.data[j] = static_cast<float>(nw);
      }
    }
    if (!std::isfinite(loss)) fail("distill: the loss became ", loss, " at step ", step, " (lower --lr)");
    loss_sum += loss;
    ++loss_steps;
    const bool save = o.save_every > 0 && step % o.save_every == 0 && step != o.steps;
    std::string ckpt;
    if (save) {
      ckpt = checkpoint_path(step);
      save_trainable(student, params, student_path, ckpt);
    }
    if (step % std::max(1, o.log_every) == 0 || step == o.steps || save) {
      if (step == o.steps && !o.out.empty()) {
        save_trainable(student, params, student_path, o.out);
        ckpt = o.out;
      }
      log_entry(step, loss_sum / loss_steps, ckpt);
      loss_sum = 0.0;
      loss_steps = 0;
    }
  }
  return log;
}

nlohmann::ordered_json to_json(const DistillLog& e, double tau) {
  nlohmann::ordered_json j;
  j["step"] = e.step;
  j["train_loss"] = e.train_loss;
  const nlohmann::ordered_json m = to_json(std::vector<CheckpointStats>{e.eval}, tau)["checkpoints"][0];
  for (const auto& [k, v] : m.items())
    if (k != "path" && k != "layers") j[k] = v;
  if (!e.checkpoint.empty()) j["checkpoint"] = e.checkpoint;
  return j;
}

}  // namespace loupe::analysis
