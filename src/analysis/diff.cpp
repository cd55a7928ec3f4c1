#include "analysis/diff.h"

#include <algorithm>
#include <cmath>

#include "analysis/lens.h"
#include "analysis/stats.h"
#include "analysis/text.h"
#include "core/error.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace loupe::analysis {

namespace {

bool is_resid(HookKind k) {
  return k == HookKind::ResidPre || k == HookKind::ResidMid || k == HookKind::ResidPost;
}

bool is_attention_map(HookKind k) {
  return k == HookKind::AttnScores || k == HookKind::Pattern;
}

// Running sums for one hook.
// Sums of per-row figures, exact: the same for any split of the sequences over processes.
struct HookAccumulator {
  ExactSum sum_sq_diff;
  ExactSum sum_sq_ref;
  double max_abs = 0;
  ExactSum cos_sum;
  int64_t cos_rows = 0;
  int64_t n = 0;
  int64_t nonfinite = 0;
  ExactSum lens_kl_sum;
  int64_t lens_rows = 0;
  bool shape_mismatch = false;

  void pack(ByteWriter& out) const {
    sum_sq_diff.pack(out);
    sum_sq_ref.pack(out);
    out.put(max_abs);
    cos_sum.pack(out);
    for (int64_t v : {cos_rows, n, nonfinite}) out.put(v);
    lens_kl_sum.pack(out);
    out.put(lens_rows);
    out.put(static_cast<uint8_t>(shape_mismatch));
  }
  void merge(ByteReader& in) {
    sum_sq_diff.add(ExactSum::unpack(in));
    sum_sq_ref.add(ExactSum::unpack(in));
    max_abs = std::max(max_abs, in.read<double>("max |difference|"));
    cos_sum.add(ExactSum::unpack(in));
    for (int64_t* v : {&cos_rows, &n, &nonfinite}) *v += in.read<int64_t>("counts");
    lens_kl_sum.add(ExactSum::unpack(in));
    lens_rows += in.read<int64_t>("lens rows");
    shape_mismatch = shape_mismatch || in.read<uint8_t>("shape mismatch") != 0;
  }
};

// Compares the candidate's hook tensors with the reference's, op by op. The reference side
// copies its tensor; the candidate runs the same op right after and compares.
class LockstepComparer {
 public:
  LockstepComparer(const Interpreter& ref, const Interpreter& cand, ThreadPool& pool, bool lens)
      : hooks_(ref.hooks()),
        lens_(lens),
        lens_ref_(ref.model(), pool, ref.numerics()),
        lens_cand_(cand.model(), pool, cand.numerics()),
        acc_(ref.hooks().size()),
        d_vocab_(ref.model().config.d_vocab) {}

  class RefSide : public Observer {
   public:
    explicit RefSide(LockstepComparer& owner) : owner_(owner) {}
    void on_hook(const HookEvent& e) override {
      owner_.hook_ = e.hook;
      owner_.shape_ = e.shape;
      owner_.ref_.assign(e.data, e.data + e.shape.numel());
    }

   private:
    LockstepComparer& owner_;
  };

  class CandSide : public Observer {
   public:
    explicit CandSide(LockstepComparer& owner) : owner_(owner) {}
    void on_hook(const HookEvent& e) override { owner_.compare(e); }

   private:
    LockstepComparer& owner_;
  };

  RefSide ref_side{*this};
  CandSide cand_side{*this};

  const std::vector<HookAccumulator>& accumulators() const { return acc_; }
  std::vector<HookAccumulator>& accumulators() { return acc_; }

 private:
  void compare(const HookEvent& e) {
    LOUPE_ASSERT(e.hook == hook_, "lockstep lost: candidate at hook ", e.hook, ", reference at ", hook_);
    HookAccumulator& a = acc_[static_cast<size_t>(e.hook)];
    if (e.shape.vec() != shape_.vec()) {
      a.shape_mismatch = true;
      return;
    }
    const HookKind kind = hooks_[e.hook].kind;
    const int64_t numel = e.shape.numel();
    const int64_t rows = is_attention_map(kind) ? e.shape.dims[0] * e.shape.dims[1] : e.shape.dims[0];
    const int64_t width = rows > 0 ? numel / rows : 0;
    const float* c = e.data;
    const float* r = ref_.data();
    for (int64_t i = 0; i < rows; ++i) {
      double dot = 0, nr = 0, nc = 0, sq_diff = 0;
      for (int64_t k = 0; k < width; ++k) {
        const float rv = r[i * width + k];
        const float cv = c[i * width + k];
        if (!std::isfinite(rv) || !std::isfinite(cv)) {
          if (!(rv == cv)) ++a.nonfinite;  // equal infinities (masked scores) agree
          continue;
        }
        const double d = static_cast<double>(cv) - rv;
        sq_diff += d * d;
        a.max_abs = std::max(a.max_abs, std::fabs(d));
        dot += static_cast<double>(rv) * cv;
        nr += static_cast<double>(rv) * rv;
        nc += static_cast<double>(cv) * cv;
        ++a.n;
      }
      a.sum_sq_diff.add(sq_diff);
      a.sum_sq_ref.add(nr);
      if (nr > 0 && nc > 0) {
        a.cos_sum.add(dot / std::sqrt(nr * nc));
        ++a.cos_rows;
      }
    }
    if (!lens_) return;
    if (kind == HookKind::Logits) {
      add_kl(r, c, rows, a);
    } else if (is_resid(kind)) {
      lens_r_.resize(static_cast<size_t>(rows * d_vocab_));
      lens_c_.resize(static_cast<size_t>(rows * d_vocab_));
      lens_ref_.apply(r, rows, lens_r_.data());
      lens_cand_.apply(c, rows, lens_c_.data());
      add_kl(lens_r_.data(), lens_c_.data(), rows, a);
    }
  }

  void add_kl(const float* r, const float* c, int64_t rows, HookAccumulator& a) {
    lp_r_.resize(static_cast<size_t>(d_vocab_));
    lp_c_.resize(static_cast<size_t>(d_vocab_));
    for (int64_t i = 0; i < rows; ++i) {
      log_softmax(r + i * d_vocab_, d_vocab_, lp_r_.data());
      log_softmax(c + i * d_vocab_, d_vocab_, lp_c_.data());
      a.lens_kl_sum.add(kl_divergence(lp_r_.data(), lp_c_.data(), d_vocab_));
      ++a.lens_rows;
    }
  }

  const HookTable& hooks_;
  bool lens_;
  LogitLens lens_ref_, lens_cand_;
  std::vector<HookAccumulator> acc_;  // per hook id
  int64_t d_vocab_;
  int hook_ = -1;
  Shape shape_;
  std::vector<float> ref_;              // the reference tensor of the current op
  std::vector<float> lens_r_, lens_c_;  // [rows, d_vocab]
  std::vector<double> lp_r_, lp_c_;     // [d_vocab]
};

// Whether the two programs run the same ops with the same hooks, so they can be stepped together.
// A worst-token candidate and the index of its sequence (the order one process offers them in).
struct RankedToken {
  int64_t sequence = 0;
  WorstToken t;
};

void put_divergence(ByteWriter& out, const TokenDivergence& d) {
  for (double v : {d.kld, d.nll_ref, d.nll_cand, d.p_ref, d.p_cand}) out.put(v);
  out.put(d.top_ref);
  out.put(d.top_cand);
}

TokenDivergence take_divergence(ByteReader& in) {
  TokenDivergence d;
  for (double* v : {&d.kld, &d.nll_ref, &d.nll_cand, &d.p_ref, &d.p_cand}) *v = in.read<double>("a scored position");
  d.top_ref = in.read<int64_t>("a scored position");
  d.top_cand = in.read<int64_t>("a scored position");
  return d;
}

void put_ranked(ByteWriter& out, const RankedToken& r) {
  out.put(r.sequence);
  for (int64_t v : {r.t.doc, r.t.doc_line, r.t.pos}) out.put(v);
  out.put(r.t.token);
  out.put_string(r.t.context);
  out.put_string(r.t.text);
  put_divergence(out, r.t.div);
}

RankedToken take_ranked(ByteReader& in) {
  RankedToken r;
  r.sequence = in.read<int64_t>("a worst token");
  for (int64_t* v : {&r.t.doc, &r.t.doc_line, &r.t.pos}) *v = in.read<int64_t>("a worst token");
  r.t.token = in.read<int32_t>("a worst token");
  r.t.context = std::string(in.bytes(in.read<uint64_t>("context"), "context"));
  r.t.text = std::string(in.bytes(in.read<uint64_t>("text"), "text"));
  r.t.div = take_divergence(in);
  return r;
}

std::string lockstep_problem(const Interpreter& a, const Interpreter& b) {
  const Program& pa = a.program();
  const Program& pb = b.program();
  if (pa.ops.size() != pb.ops.size())
    return cat("the programs differ (", pa.ops.size(), " vs ", pb.ops.size(), " ops)");
  if (pa.hooks.size() != pb.hooks.size())
    return cat("the hook tables differ (", pa.hooks.size(), " vs ", pb.hooks.size(), " hooks)");
  for (size_t i = 0; i < pa.ops.size(); ++i)
    if (pa.ops[i].kind != pb.ops[i].kind || pa.ops[i].hook != pb.ops[i].hook)
      return cat("the programs differ at op ", i, " (", pa.ops[i].label, " vs ", pb.ops[i].label, ")");
  return {};
}

}  // namespace

std::optional<FirstDivergence> first_jump(const std::vector<HookDivergence>& layers, double factor, double floor) {
  double before = 0;
  for (const HookDivergence& h : layers) {
    if (h.shape_mismatch) continue;
    if (h.nmse > floor && h.nmse > factor * before) return FirstDivergence{h.hook, h.name, h.op, h.nmse, before};
    before = std::max(before, h.nmse);
  }
  return std::nullopt;
}

std::optional<FirstDivergence> largest_jump(const std::vector<HookDivergence>& layers, double floor) {
  double before = 0;
  double best_ratio = 1;
  std::optional<FirstDivergence> best;
  for (const HookDivergence& h : layers) {
    if (h.shape_mismatch) continue;
    const double ratio = h.nmse / std::max(before, floor);
    if (h.nmse > floor && ratio > best_ratio) {
      best_ratio = ratio;
      best = FirstDivergence{h.hook, h.name, h.op, h.nmse, before};
    }
    before = std::max(before, h.nmse);
  }
  return best;
}

DiffResult run_diff(const Model& reference, const Model& candidate, const std::string& data_path,
                    const std::string& field, const DiffOptions& options) {
  const int64_t V = reference.config.d_vocab;
  if (candidate.config.d_vocab != V)
    fail("the models have different vocabularies (", V, " vs ", candidate.config.d_vocab,
         " tokens); diff needs the same tokens for both");
  RunOptions run = options.run;  // both models and the lens on one pool of threads
  if (!run.pool) run.pool = std::make_shared<ThreadPool>(run.n_threads);
  Interpreter ref(reference, run);
  RunOptions cand_run = run;
  cand_run.numerics = options.candidate_numerics;
  Interpreter cand(candidate, cand_run);
  const int64_t n_ctx = std::min(ref.n_ctx(), cand.n_ctx());
  if (options.seq.chunk > n_ctx)
    fail("--chunk ", options.seq.chunk, " is longer than the context of ", n_ctx, " positions (raise --ctx)");

  DiffResult result;
  // Each side says its arithmetic when the two differ or either is not the exact one.
  const bool say = options.run.numerics != cand_run.numerics || cand_run.numerics != Numerics::Exact;
  result.reference =
      reference.path + (say ? std::string(" (") + numerics_name(options.run.numerics) + " numerics)" : "");
  result.candidate = candidate.path + (say ? std::string(" (") + numerics_name(cand_run.numerics) + " numerics)" : "");

  ThreadPool& pool = *run.pool;
  std::unique_ptr<LockstepComparer> cmp;
  if (options.layers) {
    result.layers_note = lockstep_problem(ref, cand);
    if (result.layers_note.empty()) {
      cmp = std::make_unique<LockstepComparer>(ref, cand, pool, options.lens);
      for (int h = 0; h < ref.hooks().size(); ++h) {
        ref.observe(h, &cmp->ref_side);
        cand.observe(h, &cmp->cand_side);
      }
      result.layers_compared = true;
    }
  } else {
    result.layers_note = "layers not compared (--no-layers)";
  }

  DocumentReader reader(data_path, field, options.seq.format, options.seq.strict);
  SequencerOptions so = options.seq;
  so.max_len = n_ctx;
  Sequencer seq(reference, reader, so);
  OutputDivergence out(V);
  TopK<RankedToken> worst(options.n_worst);
  const Tokenizer& tok = *reference.tokenizer;
  const JobSplit& split = options.split;
  std::vector<std::vector<TokenDivergence>> scored;  // a part of a job: per sequence run

  for (int64_t index = 0;; ++index) {
    std::optional<Sequence> s = seq.next();
    if (!s) break;
    if (!split.takes(index)) continue;
    if (split.multi()) scored.emplace_back();
    ref.rewind(0);
    cand.rewind(0);
    const std::span<const int32_t> tokens(s->tokens);
    const auto n = static_cast<int64_t>(tokens.size());
    for (int64_t done = 0; done < n;) {
      const int64_t b = std::min(ref.max_batch(), n - done);
      ref.begin(tokens.subspan(static_cast<size_t>(done), static_cast<size_t>(b)), true);
      cand.begin(tokens.subspan(static_cast<size_t>(done), static_cast<size_t>(b)), true);
      if (cmp) {
        while (ref.in_pass()) {
          ref.step();
          cand.step();
        }
        LOUPE_ASSERT(!cand.in_pass(), "lockstep: candidate pass longer than the reference's");
      } else {
        ref.finish();
        cand.finish();
      }
      for (int64_t i = 0; i < b; ++i) {
        const int64_t pos = done + i;
        if (pos < s->first_scored || pos + 1 >= n) continue;
        const int32_t next = tokens[static_cast<size_t>(pos + 1)];
        const TokenDivergence d = out.add(ref.logits() + i * V, cand.logits() + i * V, next);
        if (split.multi()) scored.back().push_back(d);
        if (worst.would_enter(d.kld)) {
          RankedToken w;
          w.sequence = index;
          w.t.doc = s->doc;
          w.t.doc_line = s->doc_line;
          w.t.pos = s->offset + pos + 1;
          w.t.token = next;
          w.t.context = context_before(tok, tokens, pos + 1, 12);
          w.t.text = tokens_text(tok, tokens.subspan(static_cast<size_t>(pos + 1), 1));
          w.t.div = d;
          worst.add(d.kld, std::move(w));
        }
      }
      done += b;
    }
    result.n_tokens += n;
    ++result.n_sequences;
    if (options.progress) options.progress(seq.n_docs(), result.n_tokens);
  }
  result.n_docs = seq.n_docs();
  if (split.multi()) {
    // Part 0 replays every part's scored positions in sequence order through one accumulation
    // (the output statistics are those of one process, bit for bit), adds the hook sums (exact)
    // and offers the parts' worst tokens in sequence order.
    ByteWriter mine;
    mine.put(result.n_tokens);
    mine.put(result.n_sequences);
    mine.put(static_cast<uint64_t>(scored.size()));
    for (const auto& v : scored) {
      mine.put(static_cast<uint64_t>(v.size()));
      for (const TokenDivergence& d : v) put_divergence(mine, d);
    }
    const auto ranked = worst.sorted();
    mine.put(static_cast<uint64_t>(ranked.size()));
    for (const auto& [score, w] : ranked) put_ranked(mine, w);
    mine.put(static_cast<uint64_t>(cmp ? cmp->accumulators().size() : 0));
    if (cmp)
      for (const HookAccumulator& a : cmp->accumulators()) a.pack(mine);
    const std::vector<std::string> parts = split.gather(mine.take());
    if (!split.root()) return {};
    std::vector<std::vector<std::vector<TokenDivergence>>> sequences(parts.size());
    std::vector<RankedToken> offered;
    std::vector<HookAccumulator> hooks(cmp ? cmp->accumulators().size() : 0);
    result.n_tokens = result.n_sequences = 0;
    for (size_t p = 0; p < parts.size(); ++p) {
      ByteReader in(reinterpret_cast<const uint8_t*>(parts[p].data()), parts[p].size(),
                    cat("the comparison of rank ", p));
      result.n_tokens += in.read<int64_t>("tokens");
      result.n_sequences += in.read<int64_t>("sequences");
      for (auto k = in.read<uint64_t>("sequences"); k > 0; --k) {
        auto& v = sequences[p].emplace_back();
        const auto m = in.read<uint64_t>("positions");
        if (m > in.remaining() / 56) fail(in.source(), ": ", m, " positions do not fit the message");
        for (uint64_t i = 0; i < m; ++i) v.push_back(take_divergence(in));
      }
      for (auto k = in.read<uint64_t>("worst tokens"); k > 0; --k) offered.push_back(take_ranked(in));
      if (in.read<uint64_t>("hooks") != hooks.size()) fail(in.source(), ": the hook tables differ from rank 0's");
      for (HookAccumulator& a : hooks) a.merge(in);
      if (in.remaining() != 0) fail(in.source(), ": ", in.remaining(), " bytes left over");
    }
    out = OutputDivergence(V);
    for (size_t i = 0;; ++i) {
      auto& part = sequences[i % parts.size()];
      const size_t k = i / parts.size();
      if (k >= part.size()) break;
      for (const TokenDivergence& d : part[k]) out.add(d);
    }
    std::sort(offered.begin(), offered.end(), [](const RankedToken& a, const RankedToken& b) {
      return a.sequence != b.sequence ? a.sequence < b.sequence : a.t.pos < b.t.pos;
    });
    worst = TopK<RankedToken>(options.n_worst);
    for (RankedToken& w : offered) {
      const double score = w.t.div.kld;
      worst.add(score, std::move(w));
    }
    if (cmp) cmp->accumulators() = std::move(hooks);
  }
  if (out.count() == 0) fail(data_path, ": no token to score (every document is shorter than two tokens)");
  result.output = out.stats();
  for (auto& [score, w] : worst.sorted()) result.worst.push_back(std::move(w.t));

  if (cmp) {
    const auto& acc = cmp->accumulators();
    const Program& prog = ref.program();
    for (int h = 0; h < ref.hooks().size(); ++h) {
      const HookAccumulator& a = acc[static_cast<size_t>(h)];
      HookDivergence d;
      d.hook = h;
      d.name = ref.hooks()[h].name;
      d.layer = ref.hooks()[h].layer;
      d.op = prog.ops[static_cast<size_t>(prog.hook_op[static_cast<size_t>(h)])].label;
      d.n_values = a.n;
      const double sq_ref = a.sum_sq_ref.value(), sq_diff = a.sum_sq_diff.value();
      d.nmse = sq_ref > 0 ? sq_diff / sq_ref : (sq_diff > 0 ? INFINITY : 0.0);
      d.cosine = a.cos_rows > 0 ? a.cos_sum.value() / static_cast<double>(a.cos_rows) : 1.0;
      d.max_abs_diff = a.max_abs;
      if (a.lens_rows > 0) d.lens_kl = a.lens_kl_sum.value() / static_cast<double>(a.lens_rows);
      d.nonfinite_mismatch = a.nonfinite;
      d.shape_mismatch = a.shape_mismatch;
      result.layers.push_back(std::move(d));
    }
    result.first_divergence = first_jump(result.layers, options.jump_factor, options.jump_floor);
    result.largest_jump = largest_jump(result.layers, options.jump_floor);
  }
  return result;
}

namespace {

nlohmann::ordered_json percentiles_json(const Percentiles& p) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [pct, v] : p) {
    char key[16];
    std::snprintf(key, sizeof key, "%.1f", pct);
    j[key] = v;
  }
  return j;
}

nlohmann::ordered_json jump_json(const std::optional<FirstDivergence>& f) {
  if (!f) return nullptr;
  return {{"hook", f->name}, {"op", f->op}, {"nmse", f->nmse}, {"max_nmse_before", f->before}};
}

}  // namespace

nlohmann::ordered_json to_json(const OutputStats& s) {
  nlohmann::ordered_json j;
  j["n_tokens_scored"] = s.count;
  j["ppl"] = {{"reference", s.ppl_ref.value},
              {"reference_error", s.ppl_ref.error},
              {"candidate", s.ppl_cand.value},
              {"candidate_error", s.ppl_cand.error},
              {"ratio", s.ppl_ratio.value},
              {"ratio_error", s.ppl_ratio.error},
              {"ln_ratio", s.ln_ppl_ratio.value},
              {"ln_ratio_error", s.ln_ppl_ratio.error},
              {"difference", s.ppl_difference.value},
              {"difference_error", s.ppl_difference.error},
              {"ln_correlation", s.ln_ppl_correlation ? nlohmann::ordered_json(*s.ln_ppl_correlation) : nullptr}};
  j["kld"] = {{"mean", s.kld.value},    {"error", s.kld.error}, {"max", s.kld_max},
              {"median", s.kld_median}, {"min", s.kld_min},     {"percentiles", percentiles_json(s.kld_percentiles)}};
  j["delta_p"] = {{"mean", s.delta_p.value},
                  {"error", s.delta_p.error},
                  {"max", s.delta_p_max},
                  {"min", s.delta_p_min},
                  {"percentiles", percentiles_json(s.delta_p_percentiles)},
                  {"rms", s.delta_p_rms.value},
                  {"rms_error", s.delta_p_rms.error}};
  j["same_top_p"] = s.same_top_p.value;
  j["same_top_p_error"] = s.same_top_p.error;
  return j;
}

nlohmann::ordered_json to_json(const DiffResult& r) {
  nlohmann::ordered_json j;
  j["reference"] = r.reference;
  j["candidate"] = r.candidate;
  j["n_docs"] = r.n_docs;
  j["n_sequences"] = r.n_sequences;
  j["n_tokens"] = r.n_tokens;
  const nlohmann::ordered_json output = to_json(r.output);
  for (const auto& [k, v] : output.items()) j[k] = v;
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const HookDivergence& h : r.layers) {
    nlohmann::ordered_json e;
    e["hook"] = h.name;
    e["layer"] = h.layer;
    e["op"] = h.op;
    if (h.shape_mismatch) {
      e["shape_mismatch"] = true;
    } else {
      e["nmse"] = h.nmse;
      e["cosine"] = h.cosine;
      e["max_abs_diff"] = h.max_abs_diff;
      e["lens_kl"] = h.lens_kl ? nlohmann::ordered_json(*h.lens_kl) : nullptr;
      e["n_values"] = h.n_values;
      e["nonfinite_mismatch"] = h.nonfinite_mismatch;
    }
    layers.push_back(std::move(e));
  }
  j["layers"] = layers;
  if (!r.layers_compared) j["layers_note"] = r.layers_note;
  j["first_divergence"] = jump_json(r.first_divergence);
  j["largest_jump"] = jump_json(r.largest_jump);
  nlohmann::ordered_json worst = nlohmann::ordered_json::array();
  for (const WorstToken& w : r.worst)
    worst.push_back({{"doc", w.doc},
                     {"line", w.doc_line},
                     {"pos", w.pos},
                     {"token", w.token},
                     {"text", w.text},
                     {"context", w.context},
                     {"kld", w.div.kld},
                     {"p_reference", w.div.p_ref},
                     {"p_candidate", w.div.p_cand},
                     {"top_reference", w.div.top_ref},
                     {"top_candidate", w.div.top_cand}});
  j["worst_tokens"] = worst;
  return j;
}

}  // namespace loupe::analysis
