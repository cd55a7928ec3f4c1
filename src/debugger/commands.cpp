#include "debugger/commands.h"

#include <algorithm>
#include <cmath>

#include "analysis/activations.h"
#include "analysis/attention.h"
#include "analysis/logit_lens.h"
#include "analysis/text.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/suggest.h"
#include "debugger/print.h"
#include "debugger/stats.h"
#include "engine/driver.h"
#include "model/sampler.h"
#include "tokenizer/tokenizer.h"

namespace loupe::dbg {
namespace {

using Json = nlohmann::ordered_json;
using Words = std::vector<std::string>;

// Numbers in JSON keep 6 significant digits (the text shows 4); NaN and Inf become strings.
Json num(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return std::stod(format_number(v, 6));
}

Json nums(const std::vector<float>& v) {
  Json a = Json::array();
  for (float x : v) a.push_back(num(x));
  return a;
}

std::string join(const Words& w, size_t first, const char* sep = " ") {
  std::string s;
  for (size_t i = first; i < w.size(); ++i) s += (i > first ? sep : "") + w[i];
  return s;
}

void line(Reply& r, const std::string& text) {
  r.text += text;
  r.text += '\n';
}

void no_more(const Words& a, size_t n, std::string_view cmd) {
  if (a.size() > n) fail(cmd, ": unexpected argument '", a[n], "'");
}

std::string_view edit_kind_name(EditKind k) {
  switch (k) {
    case EditKind::Zero: return "zero";
    case EditKind::Scale: return "scale";
    case EditKind::Add: return "add";
    case EditKind::Set: return "set";
    case EditKind::Steer: return "steer";
    case EditKind::Patch: return "patch";
  }
  return "?";
}

std::string_view stop_name(StopReason r) {
  switch (r) {
    case StopReason::Breakpoint: return "breakpoint";
    case StopReason::Step: return "step";
    case StopReason::PassStart: return "pass_start";
    case StopReason::PassEnd: return "pass_end";
    case StopReason::Done: return "done";
    case StopReason::EditError: return "edit_error";
    case StopReason::Interrupted: return "interrupted";
  }
  return "?";
}

// The one candidate a word names exactly or is a unique prefix of; errors name `what`, the
// candidates a prefix leaves, or the nearest ones.
const std::string& match_word(const std::string& word, const std::vector<std::string>& candidates,
                              std::string_view what) {
  std::vector<const std::string*> hits;
  for (const std::string& c : candidates) {
    if (c == word) return c;
    if (c.rfind(word, 0) == 0) hits.push_back(&c);
  }
  if (hits.size() == 1) return *hits[0];
  if (hits.size() > 1) {
    std::string list;
    for (const std::string* h : hits) list += (list.empty() ? "" : ", ") + *h;
    fail(what, " '", word, "' is ambiguous (", list, ")");
  }
  std::string hint = did_you_mean(word, candidates);
  if (hint.empty() && candidates.size() <= 10) {
    for (const std::string& c : candidates) hint += (hint.empty() ? " (" : ", ") + c;
    hint += ")";
  }
  fail("unknown ", what, " '", word, "'", hint);
}

}  // namespace

const std::vector<CommandSpec>& Debugger::commands() {
  static const std::vector<CommandSpec> table = {
      {"help", "h", "[COMMAND]", "list the commands, or show one command's usage", &Debugger::cmd_help},
      {"run", "r", "[PROMPT | --tokens 1,2,3]",
       "start over: clear the KV cache and run the prompt (default: the -p prompt) to the first stop",
       &Debugger::cmd_run},
      {"restart", "", "", "run the last prompt again from the start, keeping breakpoints, watches and edits",
       &Debugger::cmd_restart},
      {"generate", "g", "[N]",
       "generate N more tokens (greedy, default 1) under the breakpoints and edits; prints the text generated",
       &Debugger::cmd_generate, true},
      {"break", "b", "[HOOK[SLICE] | layer L | op KIND | pos P | step S] [if COND]",
       "stop after a hook (name, glob, short form like pattern3), the first op of a layer, every op of a kind, or "
       "at the start of the pass holding position P / decode step S. COND: nan, inf, absmax|rms|mean|std|min|max "
       "OP X, attn_entropy OP X (patterns), top1 ==|!= ID (logit lens of the last position)",
       &Debugger::cmd_break},
      {"tbreak", "", "LOCATION [if COND]", "a breakpoint deleted after its first hit", &Debugger::cmd_tbreak},
      {"delete", "d", "[N ...]", "delete breakpoints (all when no number is given)", &Debugger::cmd_delete},
      {"disable", "", "N ...", "disable breakpoints", &Debugger::cmd_disable},
      {"enable", "", "N ...", "enable breakpoints", &Debugger::cmd_enable},
      {"condition", "", "N [COND]", "stop at breakpoint N only when COND holds (no COND: every time)",
       &Debugger::cmd_condition},
      {"ignore", "", "N COUNT", "pass over the next COUNT crossings of breakpoint N (they count as hits)",
       &Debugger::cmd_ignore},
      {"commands", "", "[N]",
       "commands to run when breakpoint N (default: the newest) stops, one per line, then 'end'; a first line "
       "'silent' leaves out the stop's own report; no lines: remove them",
       &Debugger::cmd_commands},
      {"info", "i", "breakpoints|display|edits|model|hooks|tokens|cache",
       "show the session's state (a unique prefix names the subject: 'info b')", &Debugger::cmd_info},
      {"step", "s", "[N] | layer | token",
       "run N ops (default 1); 'step layer' runs to the end of the current layer, 'step token' to the start of the "
       "next token's pass",
       &Debugger::cmd_step, true},
      {"next", "n", "[N]", "run to the next N-th hook point", &Debugger::cmd_next, true},
      {"continue", "c", "", "run to the next breakpoint or the end of what is queued (Ctrl-C stops it)",
       &Debugger::cmd_continue, true},
      {"finish", "", "", "run to the end of this forward pass (breakpoints still stop it)", &Debugger::cmd_finish,
       true},
      {"where", "w", "", "the stack: op, layer, pass (positions and tokens), run", &Debugger::cmd_where},
      {"backtrace", "bt", "", "the same as where", &Debugger::cmd_where},
      {"list", "l", "[N | all]", "the program around the current op, with shapes", &Debugger::cmd_list, true},
      {"print", "p", "[HOOK][SLICE]",
       "print a hook tensor or a slice of it (no hook: the current op's output). Positions are absolute; every "
       "hook that has run stays readable through the cache ('set cache MB')",
       &Debugger::cmd_print},
      {"stats", "", "[HOOK][SLICE]", "shape, min, max, mean, std, rms, absmax and where, NaN/Inf counts, histogram",
       &Debugger::cmd_stats},
      {"topk", "", "[K] [HOOK[SLICE]]",
       "the K most likely next tokens, or the K largest elements of a tensor (default K 5)", &Debugger::cmd_topk},
      {"lens", "", "[HOOK[SLICE]] [K]",
       "logit lens: a residual-stream row (default: the last live one, last position) through the final norm and "
       "unembedding",
       &Debugger::cmd_lens},
      {"display", "", "[HOOK[SLICE]]", "show an expression at every stop (no expression: show them all now)",
       &Debugger::cmd_display},
      {"undisplay", "", "N", "remove a display", &Debugger::cmd_unwatch},
      {"watch", "", "HOOK[SLICE]", "the same as display", &Debugger::cmd_watch},
      {"unwatch", "", "N", "the same as undisplay", &Debugger::cmd_unwatch},
      {"save", "", "HOOK[SLICE] FILE.npy", "save a tensor as float32 .npy", &Debugger::cmd_save},
      {"backward", "", "TOKEN [pos P] [logprob]",
       "back-propagate the logit (or log-probability) of TOKEN at position P (default the last) over the run's "
       "tokens, with the edits applied; then 'grad HOOK'",
       &Debugger::cmd_backward},
      {"grad", "", "HOOK [FILE.npy]",
       "the gradient of the last 'backward' target at a hook: norm and gradient x input per position (saved as "
       ".npy with a file)",
       &Debugger::cmd_grad},
      {"edit", "e", "zero|scale|add|set|ablate|steer|patch ...",
       "change the run from here on: 'edit zero H[S]', 'edit scale H[S] F', 'edit add H[S] F', 'edit set H[S] F', "
       "'edit ablate LAYER HEAD[,HEAD]', 'edit steer H[S] FILE.npy [COEFF]', 'edit patch H[S] PROMPT'",
       &Debugger::cmd_edit},
      {"undo", "u", "", "remove the newest edit", &Debugger::cmd_undo},
      {"set", "", "cache MB", "the memory the cache of hook tensors may take (0: no cache; clears it)",
       &Debugger::cmd_set},
      {"analyze", "", "[lens] [attention] [activations] [nan]",
       "run analyses on this run's hooks as the cache kept them (after the edits), without running the model "
       "again: the logit lens, attention head scores (a run of one pass), activation statistics, the NaN / Inf "
       "watch (default: lens, activations, nan)",
       &Debugger::cmd_analyze},
      {"quit", "q", "", "leave the debugger", &Debugger::cmd_quit},
  };
  return table;
}

Debugger::Debugger(Session& session, std::string default_prompt) : s_(session), prompt_(std::move(default_prompt)) {}

const CommandSpec& Debugger::find_command(std::string_view word) {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const CommandSpec& c : commands()) n.emplace_back(c.name);
    return n;
  }();
  for (const CommandSpec& c : commands())
    if (c.name == word || (!c.alias.empty() && c.alias == word)) return c;
  const std::string& name = match_word(std::string(word), names, "command");
  for (const CommandSpec& c : commands())
    if (c.name == name) return c;
  fail("unknown command '", word, "'");
}

Reply Debugger::execute(std::string_view line_text) {
  if (collecting_ >= 0) return collect(line_text);
  Words words = split_words(line_text);
  if (words.empty()) {
    if (repeat_on_blank_ && !last_repeatable_.empty()) return execute(std::string(last_repeatable_));
    return {};
  }
  if (words[0][0] == '#') return {};
  const CommandSpec* spec = nullptr;
  try {
    spec = &find_command(words[0]);
  } catch (const Error& e) {
    fail(e.what(), " (try 'help')");
  }
  const CommandSpec& c = *spec;
  last_repeatable_ = c.repeats ? std::string(line_text) : std::string();
  tokens_before_ = s_.started() ? s_.tokens().size() : 0;
  const Words args(words.begin() + 1, words.end());
  try {
    Reply r = (this->*c.handler)(args);
    if (r.json.is_null()) r.json = Json::object();
    return r;
  } catch (const Error& e) {
    const std::string msg = e.what();
    // Messages that already start with the command name are kept as they are.
    if (msg.rfind(std::string(c.name), 0) == 0) throw;
    fail(c.name, ": ", msg);
  }
}

Reply Debugger::collect(std::string_view line_text) {
  Reply r;
  const Words words = split_words(line_text);
  const int id = collecting_;
  if (words.size() == 1 && words[0] == "end") {
    collecting_ = -1;
    if (collected_.empty()) {
      commands_.erase(id);
      line(r, cat("breakpoint ", id, " has no commands"));
    } else {
      line(r, cat("breakpoint ", id, ": ", collected_.size(), collected_.size() == 1 ? " command" : " commands"));
      commands_[id] = std::move(collected_);
    }
    collected_.clear();
    r.json = {{"breakpoint", id}, {"commands", commands_.contains(id) ? Json(commands_[id]) : Json::array()}};
    return r;
  }
  r.json = {{"collecting", id}};
  if (words.empty() || words[0][0] == '#') return r;
  if (!(collected_.empty() && words.size() == 1 && words[0] == "silent")) {
    const CommandSpec& c = find_command(words[0]);  // a typo is caught now, not at the stop
    if (c.name == "commands") fail("commands: breakpoint commands cannot define commands ('end' ends the list)");
  }
  collected_.emplace_back(line_text);
  return r;
}

std::vector<std::string> Debugger::complete(std::string_view word, bool first_word) const {
  std::vector<std::string> out;
  auto offer = [&](std::string_view c) {
    if (c.substr(0, word.size()) == word) out.emplace_back(c);
  };
  if (first_word) {
    for (const CommandSpec& c : commands()) offer(c.name);
    return out;
  }
  for (const HookPoint& h : s_.interp().hooks().points()) offer(h.name);
  for (std::string_view k : {"breakpoints", "watches", "edits",        "model",   "hooks", "tokens", "layer",  "op",
                             "pos",         "step",    "token",        "if",      "nan",   "inf",    "absmax", "rms",
                             "mean",        "std",     "attn_entropy", "top1",    "zero",  "scale",  "add",    "set",
                             "ablate",      "steer",   "patch",        "display", "cache", "end",    "silent"})
    offer(k);
  return out;
}

// ---- helpers ------------------------------------------------------------------------------

std::string Debugger::token_text(int32_t id) const {
  const Tokenizer* tok = s_.model().tokenizer.get();
  if (tok == nullptr) return "";
  return nlohmann::json(std::string(tok->token_text(id)))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Debugger::raw_text(int32_t id) const {
  const Tokenizer* tok = s_.model().tokenizer.get();
  if (tok == nullptr) return "";
  const std::string bytes = tok->token_bytes(id);
  return bytes.empty() ? std::string(tok->token_text(id)) : bytes;
}

std::vector<int32_t> Debugger::tokens_of(const Words& words, size_t first) const {
  const Model& m = s_.model();
  if (first < words.size() && words[first] == "--tokens") {
    if (first + 1 >= words.size()) fail("--tokens: expected token ids like 1,2,3");
    return parse_token_list(join(words, first + 1, ","), m.config.d_vocab);
  }
  const std::string text = first < words.size() ? join(words, first) : prompt_;
  return prompt_tokens(m, text, default_add_bos(m), s_.interp().n_ctx());
}

Json Debugger::where_json() {
  Json w = Json::object();
  Interpreter& in = s_.interp();
  if (!s_.started()) {
    w["state"] = "not started";
    return w;
  }
  const int64_t pos0 = in.batch_pos0();
  const int64_t n = static_cast<int64_t>(in.batch_tokens().size());
  w["state"] = s_.in_pass() ? "in pass" : "between passes";
  w["pass"] = s_.pass_index();
  w["positions"] = {pos0, pos0 + n - 1};
  w["tokens"] = std::vector<int32_t>(in.batch_tokens().begin(), in.batch_tokens().end());
  const int op = s_.last_op();
  const auto& ops = s_.program().ops;
  if (op >= 0) {
    const Op& o = ops[static_cast<size_t>(op)];
    w["op"] = op;
    w["label"] = o.label;
    w["kind"] = std::string(op_kind_name(o.kind));
    w["layer"] = o.layer;
    w["hook"] = o.hook >= 0 ? Json(in.hooks()[o.hook].name) : Json(nullptr);
    w["shape"] = s_.op_shape(op);
  }
  w["pc"] = s_.in_pass() ? in.pc() : -1;
  w["n_ops"] = ops.size();
  return w;
}

std::string Debugger::where_text() {
  if (!s_.started()) return "not running (use 'run')";
  Interpreter& in = s_.interp();
  const int64_t pos0 = in.batch_pos0();
  const int64_t n = static_cast<int64_t>(in.batch_tokens().size());
  std::string pass = cat("pass ", s_.pass_index(), " positions ", pos0, "..", pos0 + n - 1);
  if (n == 1)
    pass = cat("pass ", s_.pass_index(), " position ", pos0, " token ", in.batch_tokens()[0], " ",
               token_text(in.batch_tokens()[0]));
  const int op = s_.last_op();
  if (op < 0) return cat(pass, ": at the start of the pass, next op 0 of ", s_.program().ops.size());
  const Op& o = s_.program().ops[static_cast<size_t>(op)];
  std::string t = cat(pass, ": after op ", op, " ", o.label, " (", op_kind_name(o.kind), ")");
  if (o.hook >= 0) t += cat(" -> ", in.hooks()[o.hook].name);
  t += " " + format_shape(s_.op_shape(op));
  if (o.layer >= 0) t += cat(", layer ", o.layer);
  t += s_.in_pass() ? cat(", pc ", in.pc(), " of ", s_.program().ops.size()) : std::string(", pass finished");
  return t;
}

void Debugger::bad_report(const BadOpReport& r, Reply& reply) {
  const Op& o = s_.program().ops[static_cast<size_t>(r.op)];
  Json j = Json::object();
  j["op"] = r.op;
  j["label"] = o.label;
  j["kind"] = std::string(op_kind_name(o.kind));
  j["nan"] = r.n_nan;
  j["inf"] = r.n_inf;
  const std::string counts = cat(r.n_nan, " NaN and ", r.n_inf, " Inf");
  if (r.edit >= 0) {
    line(reply, cat("bad values begin at edit ", r.edit, " (", r.edit_text, "), applied after op ", r.op, " ", o.label,
                    " (", op_kind_name(o.kind), "): ", counts));
  } else if (r.origin) {
    line(reply, cat("first bad op: ", r.op, " ", o.label, " (", op_kind_name(o.kind), ") wrote ", counts));
  } else if (r.first_bad >= 0 && r.first_bad != r.op) {
    const Op& f = s_.program().ops[static_cast<size_t>(r.first_bad)];
    line(reply, cat("bad op: ", r.op, " ", o.label, " (", op_kind_name(o.kind), ") has ", counts,
                    "; they began earlier, at op ", r.first_bad, " ", f.label));
  } else {
    line(reply, cat("bad op: ", r.op, " ", o.label, " (", op_kind_name(o.kind), ") has ", counts,
                    "; an input was already bad"));
  }
  j["origin"] = r.origin;
  j["edit"] = r.edit >= 0 ? Json(r.edit) : Json(nullptr);
  j["first_bad_op"] = r.first_bad >= 0 ? Json(r.first_bad) : Json(nullptr);
  Json ins = Json::array();
  for (const InputHealth& h : r.inputs) {
    const bool bad = h.n_nan > 0 || h.n_inf > 0;
    line(reply, cat("  ", h.what, " ", h.name, " ", format_shape(h.shape), ": ",
                    bad ? cat(h.n_nan, " NaN, ", h.n_inf, " Inf (already bad)") : std::string("fine")));
    ins.push_back({{"name", h.name},
                   {"what", h.what},
                   {"shape", h.shape},
                   {"nan", h.n_nan},
                   {"inf", h.n_inf},
                   {"already_bad", bad}});
  }
  j["inputs"] = ins;
  reply.json["bad_op"] = j;
}

void Debugger::show_watches(Reply& reply, size_t first) {
  if (first >= watches_.size()) return;
  Json all = Json::array();
  for (size_t i = first; i < watches_.size(); ++i) {
    const TensorExpr& w = watches_[i];
    Json j = {{"id", watch_ids_[i]}, {"expr", w.text}};
    try {
      Value v = s_.evaluate(w);
      if (v.data.size() <= 16) {
        line(reply, cat("display ", watch_ids_[i], ": ", w.text, " = ", format_tensor(v.data, v.selection.shape)));
        j["values"] = nums(v.data);
      } else {
        const TensorStats st = compute_stats(v.data, 0);
        line(reply, cat("display ", watch_ids_[i], ": ", w.text, " ", format_shape(v.selection.shape),
                        " mean=", format_number(st.mean), " std=", format_number(st.std),
                        " absmax=", format_number(st.absmax), " nan=", st.n_nan, " inf=", st.n_inf));
        j["mean"] = num(st.mean);
        j["std"] = num(st.std);
        j["absmax"] = num(st.absmax);
        j["nan"] = st.n_nan;
        j["inf"] = st.n_inf;
      }
      j["shape"] = v.selection.shape;
    } catch (const Error& e) {
      line(reply, cat("display ", watch_ids_[i], " (", w.text, "): ", e.what()));
      j["unavailable"] = e.what();
    }
    all.push_back(j);
  }
  reply.json["watches"] = all;
}

Reply Debugger::report(const Stop& stop) {
  Reply r;
  r.json["stop"] = std::string(stop_name(stop.reason));
  switch (stop.reason) {
    case StopReason::Breakpoint: {
      line(r, cat("breakpoint ", stop.breakpoint, " (", stop.location, ")",
                  stop.detail.empty() ? "" : ": " + stop.detail));
      r.json["breakpoint"] = stop.breakpoint;
      break;
    }
    case StopReason::Step:
    case StopReason::PassStart:
    case StopReason::PassEnd: break;
    case StopReason::Done: line(r, "done: " + stop.detail); break;
    case StopReason::EditError: line(r, "error: " + stop.detail); break;
    case StopReason::Interrupted: line(r, "interrupted (Ctrl-C); the state is kept: 'continue' goes on"); break;
  }
  if (!stop.detail.empty()) r.json["detail"] = stop.detail;
  line(r, where_text());
  r.json["where"] = where_json();
  if (!s_.in_pass() && s_.logit_positions() > 0) {
    const int64_t V = s_.model().config.d_vocab;
    const std::vector<float> last(s_.logits().end() - V, s_.logits().end());
    const int32_t next = argmax(last.data(), V);
    const double p = softmax(last)[static_cast<size_t>(next)];
    line(r, cat("next token: ", next, " ", token_text(next), " p=", format_number(p)));
    r.json["next_token"] = {{"id", next}, {"text", raw_text(next)}, {"p", num(p)}};
  }
  if (stop.bad) bad_report(*stop.bad, r);
  show_generated(r);
  show_watches(r);
  if (stop.reason == StopReason::Breakpoint) run_breakpoint_commands(stop.breakpoint, r);
  return r;
}

void Debugger::show_generated(Reply& reply) {
  const std::vector<int32_t>& t = s_.tokens();
  const size_t from = std::max(tokens_before_, static_cast<size_t>(s_.n_prompt()));
  if (t.size() <= from) return;
  const std::vector<int32_t> gen(t.begin() + static_cast<std::ptrdiff_t>(from), t.end());
  const Tokenizer* tok = s_.model().tokenizer.get();
  const std::string text = tok != nullptr ? tok->decode(gen) : std::string();
  line(reply, cat("generated ", gen.size(), gen.size() == 1 ? " token: " : " tokens: ",
                  Json(text).dump(-1, ' ', false, Json::error_handler_t::replace)));
  reply.json["generated"] = {{"tokens", gen}, {"text", text}};
}

void Debugger::run_breakpoint_commands(int id, Reply& reply) {
  auto it = commands_.find(id);
  if (it == commands_.end()) return;
  const std::vector<std::string> lines = it->second;  // a command may delete the breakpoint
  if (command_depth_ >= 16) {
    line(reply, cat("breakpoint ", id, "'s commands not run: breakpoint commands resumed 16 times in a row"));
    return;
  }
  if (!lines.empty() && lines.front() == "silent") {
    reply.text.clear();
    reply.json.erase("where");
  }
  ++command_depth_;
  const std::string repeat = last_repeatable_;  // Enter repeats what the user typed, not these
  Json ran = Json::array();
  for (const std::string& cmd : lines) {
    if (cmd == "silent") continue;
    reply.text += "(loupe) " + cmd + "\n";
    try {
      Reply sub = execute(cmd);
      reply.text += sub.text;
      ran.push_back({{"command", cmd}, {"ok", true}, {"result", sub.json}});
    } catch (const Error& e) {
      reply.text += cat("error: ", e.what(), "\n");
      ran.push_back({{"command", cmd}, {"ok", false}, {"error", e.what()}});
      break;  // as gdb: an error ends the list
    }
  }
  --command_depth_;
  last_repeatable_ = repeat;
  reply.json["commands"] = ran;
}

// ---- commands -----------------------------------------------------------------------------

Reply Debugger::cmd_help(const Words& a) {
  Reply r;
  no_more(a, 1, "help");
  Json list = Json::array();
  for (const CommandSpec& c : commands()) {
    if (!a.empty() && a[0] != c.name && a[0] != c.alias) continue;
    std::string head = std::string(c.name);
    if (!c.alias.empty()) head += cat(" (", c.alias, ")");
    if (!c.args.empty()) head += cat(" ", c.args);
    line(r, head);
    line(r, cat("    ", c.help));
    list.push_back({{"name", c.name}, {"alias", c.alias}, {"args", c.args}, {"help", c.help}});
  }
  if (list.empty()) fail("help: unknown command '", a[0], "'");
  r.json["commands"] = list;
  return r;
}

Reply Debugger::cmd_run(const Words& a) {
  last_tokens_ = tokens_of(a, 0);
  return report(s_.run(last_tokens_));
}

Reply Debugger::cmd_restart(const Words& a) {
  no_more(a, 0, "restart");
  if (last_tokens_.empty()) last_tokens_ = tokens_of(a, 0);
  return report(s_.run(last_tokens_));
}

Reply Debugger::cmd_generate(const Words& a) {
  no_more(a, 1, "generate");
  const int64_t n = a.empty() ? 1 : parse_int(a[0], "generate");
  if (n < 1) fail("generate: the number of tokens must be at least 1 (got ", n, ")");
  const size_t before = s_.tokens().size();
  Reply r = report(s_.generate(n));
  const std::vector<int32_t> fed(s_.tokens().begin() + static_cast<std::ptrdiff_t>(before), s_.tokens().end());
  r.json["fed_tokens"] = fed;
  return r;
}

Reply Debugger::add_break(const Words& a, bool temporary) {
  const char* cmd = temporary ? "tbreak" : "break";
  auto it = std::find(a.begin(), a.end(), "if");
  const Words location(a.begin(), it);
  std::optional<Condition> cond;
  if (it != a.end()) {
    if (it + 1 == a.end()) fail(cmd, ": 'if' needs a condition (nan, inf, absmax > X, ...)");
    cond = parse_condition(join(Words(it + 1, a.end()), 0));
  }
  Breakpoint bp = s_.make_breakpoint(location, cond);
  bp.temporary = temporary;
  const int id = s_.add_breakpoint(bp);
  const Breakpoint& b = s_.breakpoints().back();
  Reply r;
  std::string where = b.location;
  if (b.kind == LocationKind::Hooks && b.hooks.size() > 1) where += cat(" (", b.hooks.size(), " hooks)");
  line(r, cat(temporary ? "temporary breakpoint " : "breakpoint ", id, " at ", where,
              b.condition ? " if " + b.condition->text : std::string()));
  r.json = {{"breakpoint", id}, {"location", b.location}, {"hooks", b.hooks.size()}, {"temporary", temporary}};
  r.json["condition"] = b.condition ? Json(b.condition->text) : Json(nullptr);
  return r;
}

Reply Debugger::cmd_break(const Words& a) {
  return add_break(a, false);
}
Reply Debugger::cmd_tbreak(const Words& a) {
  if (a.empty()) fail("tbreak: expected a location");
  return add_break(a, true);
}

Reply Debugger::cmd_delete(const Words& a) {
  Reply r;
  if (a.empty()) {
    const size_t n = s_.breakpoints().size();
    s_.delete_all_breakpoints();
    commands_.clear();
    line(r, cat("deleted ", n, n == 1 ? " breakpoint" : " breakpoints"));
    r.json["deleted"] = n;
    return r;
  }
  std::vector<int> ids;
  for (const auto& w : a) ids.push_back(static_cast<int>(parse_int(w, "delete")));
  for (int id : ids) {
    s_.delete_breakpoint(id);
    commands_.erase(id);
  }
  line(r, cat("deleted breakpoint", ids.size() > 1 ? "s " : " ", join(a, 0)));
  r.json["deleted"] = ids;
  return r;
}

Reply Debugger::cmd_disable(const Words& a) {
  if (a.empty()) fail("disable: expected breakpoint numbers");
  Reply r;
  for (const auto& w : a) s_.enable_breakpoint(static_cast<int>(parse_int(w, "disable")), false);
  line(r, cat("disabled ", join(a, 0)));
  r.json["disabled"] = a;
  return r;
}

Reply Debugger::cmd_enable(const Words& a) {
  if (a.empty()) fail("enable: expected breakpoint numbers");
  Reply r;
  for (const auto& w : a) s_.enable_breakpoint(static_cast<int>(parse_int(w, "enable")), true);
  line(r, cat("enabled ", join(a, 0)));
  r.json["enabled"] = a;
  return r;
}

Reply Debugger::cmd_info(const Words& a) {
  static const std::vector<std::string> subjects = {"breakpoints", "display", "watches", "edits",
                                                    "model",       "hooks",   "tokens",  "cache"};
  if (a.empty()) fail("info: expected one of breakpoints, display, edits, model, hooks, tokens, cache");
  no_more(a, 1, "info");
  const std::string& what = match_word(a[0], subjects, "info subject");
  Reply r;
  const ModelConfig& c = s_.model().config;
  if (what == "breakpoints") {
    Json list = Json::array();
    if (s_.breakpoints().empty()) line(r, "no breakpoints");
    for (const Breakpoint& b : s_.breakpoints()) {
      line(r, cat(b.id, (b.temporary ? " tbreak " : " break "), b.location,
                  b.condition ? " if " + b.condition->text : std::string(), b.enabled ? "" : " (disabled)", ", hit ",
                  b.hits, b.hits == 1 ? " time" : " times",
                  b.ignore > 0 ? cat(", ignoring the next ", b.ignore) : std::string()));
      const auto cmds = commands_.find(b.id);
      if (cmds != commands_.end())
        for (const std::string& cmd : cmds->second) line(r, "        " + cmd);
      list.push_back({{"id", b.id},
                      {"location", b.location},
                      {"condition", b.condition ? Json(b.condition->text) : Json(nullptr)},
                      {"enabled", b.enabled},
                      {"temporary", b.temporary},
                      {"hits", b.hits},
                      {"ignore", b.ignore},
                      {"commands", cmds != commands_.end() ? Json(cmds->second) : Json::array()}});
    }
    r.json["breakpoints"] = list;
  } else if (what == "display" || what == "watches") {
    Json list = Json::array();
    if (watches_.empty()) line(r, "no displays");
    for (size_t i = 0; i < watches_.size(); ++i) {
      line(r, cat(watch_ids_[i], " ", watches_[i].text));
      list.push_back({{"id", watch_ids_[i]}, {"expr", watches_[i].text}});
    }
    r.json["watches"] = list;
  } else if (what == "edits") {
    Json list = Json::array();
    if (s_.edits().empty()) line(r, "no edits");
    for (const Edit& e : s_.edits()) {
      line(r, cat(e.id, " ", e.text));
      list.push_back({{"id", e.id}, {"kind", std::string(edit_kind_name(e.kind))}, {"text", e.text}});
    }
    r.json["edits"] = list;
  } else if (what == "model") {
    line(r, cat(s_.model().path));
    line(r, cat("arch ", c.arch_label, ", format ", c.format, " (", c.file_type, ")"));
    line(r,
         cat("d_model ", c.d_model, ", n_layers ", c.n_layers, ", n_heads ", c.n_heads, ", n_kv_heads ", c.n_kv_heads,
             ", d_head ", c.d_head, ", d_mlp ", c.d_mlp, ", d_vocab ", c.d_vocab, ", n_ctx ", c.n_ctx));
    line(r, cat(s_.program().ops.size(), " ops, ", s_.interp().hooks().size(), " hook points, context ",
                s_.interp().n_ctx(), ", ", s_.interp().n_threads(), " threads"));
    r.json = {{"path", s_.model().path},
              {"arch", c.arch_label},
              {"format", c.format},
              {"d_model", c.d_model},
              {"n_layers", c.n_layers},
              {"n_heads", c.n_heads},
              {"n_kv_heads", c.n_kv_heads},
              {"d_head", c.d_head},
              {"d_mlp", c.d_mlp},
              {"d_vocab", c.d_vocab},
              {"n_ctx", c.n_ctx},
              {"n_ops", s_.program().ops.size()},
              {"n_hooks", s_.interp().hooks().size()}};
  } else if (what == "hooks") {
    Json list = Json::array();
    const auto& hooks = s_.interp().hooks();
    for (int h = 0; h < hooks.size(); ++h) {
      const int op = s_.program().hook_op[static_cast<size_t>(h)];
      line(r, cat(hooks[h].name, "  op ", op));
      list.push_back({{"name", hooks[h].name}, {"op", op}});
    }
    r.json["hooks"] = list;
  } else if (what == "tokens") {
    Json list = Json::array();
    if (s_.tokens().empty()) line(r, "no tokens yet (use 'run')");
    for (size_t p = 0; p < s_.tokens().size(); ++p) {
      const int32_t t = s_.tokens()[p];
      const bool prompt = static_cast<int64_t>(p) < s_.n_prompt();
      line(r, cat(p, " ", t, " ", token_text(t), prompt ? "" : " (generated)"));
      list.push_back({{"pos", p}, {"id", t}, {"text", raw_text(t)}, {"generated", !prompt}});
    }
    r.json["tokens"] = list;
  } else if (what == "cache") {
    const double mib = 1024.0 * 1024.0;
    line(r, cat("cache: ", format_number(static_cast<double>(s_.cache_bytes()) / mib), " MiB of ",
                format_number(static_cast<double>(s_.cache_budget()) / mib), " MiB, ", s_.cache_hooks_kept(),
                " hooks kept, ", s_.cache_hooks_dropped(), " left out (budget full)"));
    r.json = {{"bytes", s_.cache_bytes()},
              {"budget", s_.cache_budget()},
              {"hooks", s_.cache_hooks_kept()},
              {"dropped", s_.cache_hooks_dropped()}};
  }
  return r;
}

Reply Debugger::cmd_step(const Words& a) {
  no_more(a, 1, "step");
  if (!a.empty() && a[0] == "layer") return report(s_.resume(Motion::StepLayer));
  if (!a.empty() && a[0] == "token") return report(s_.resume(Motion::StepToken));
  const int64_t n = a.empty() ? 1 : parse_int(a[0], "step");
  if (n < 1) fail("step: the count must be at least 1 (got ", n, ")");
  return report(s_.resume(Motion::StepOp, n));
}

Reply Debugger::cmd_next(const Words& a) {
  no_more(a, 1, "next");
  const int64_t n = a.empty() ? 1 : parse_int(a[0], "next");
  if (n < 1) fail("next: the count must be at least 1 (got ", n, ")");
  return report(s_.resume(Motion::NextHook, n));
}

Reply Debugger::cmd_continue(const Words& a) {
  no_more(a, 0, "continue");
  return report(s_.resume(Motion::Continue));
}

Reply Debugger::cmd_finish(const Words& a) {
  no_more(a, 0, "finish");
  if (!s_.in_pass()) fail("finish: not inside a forward pass");
  return report(s_.resume(Motion::Finish));
}

Reply Debugger::cmd_where(const Words& a) {
  no_more(a, 0, "where");
  Reply r;
  r.json = where_json();
  if (!s_.started()) {
    line(r, where_text());
    return r;
  }
  // The stack, innermost first: op, layer, pass, run.
  Interpreter& in = s_.interp();
  const auto& ops = s_.program().ops;
  const int n_ops = static_cast<int>(ops.size());
  Json frames = Json::array();
  auto frame = [&](const std::string& text, Json j) {
    line(r, cat("#", frames.size(), "  ", text));
    j["text"] = text;
    frames.push_back(std::move(j));
  };
  const int op = s_.last_op();
  int layer = -2;
  if (op >= 0) {
    const Op& o = ops[static_cast<size_t>(op)];
    std::string t = cat("op ", op, " ", o.label, " (", op_kind_name(o.kind), ")");
    if (o.hook >= 0) t += cat(" -> ", in.hooks()[o.hook].name);
    t += " " + format_shape(s_.op_shape(op));
    t += s_.in_pass() ? cat(", next op ", in.pc()) : std::string(", the pass's last op");
    frame(t, {{"frame", "op"}, {"op", op}});
    layer = o.layer;
  } else {
    frame(cat("at the start of the pass, next op 0 of ", n_ops), {{"frame", "op"}, {"op", nullptr}});
    layer = ops.empty() ? -1 : ops[0].layer;
  }
  if (layer >= 0) {
    int first = n_ops, last = -1;
    for (int i = 0; i < n_ops; ++i)
      if (ops[static_cast<size_t>(i)].layer == layer) {
        first = std::min(first, i);
        last = std::max(last, i);
      }
    frame(cat("layer ", layer, " of ", s_.model().config.n_layers, " (blocks.", layer, "), ops ", first, "..", last),
          {{"frame", "layer"}, {"layer", layer}, {"first_op", first}, {"last_op", last}});
  } else {
    const bool before =
        op < 0 || std::none_of(ops.begin(), ops.begin() + op + 1, [](const Op& o) { return o.layer >= 0; });
    frame(before ? "before the layers (embedding)" : "after the layers (final norm and unembedding)",
          {{"frame", "layer"}, {"layer", nullptr}});
  }
  const int64_t pos0 = in.batch_pos0();
  const auto batch = in.batch_tokens();
  const int64_t n = static_cast<int64_t>(batch.size());
  const bool prompt = pos0 < s_.n_prompt();
  const Tokenizer* tok = s_.model().tokenizer.get();
  const std::string text = tok != nullptr ? tok->decode(batch) : std::string();
  frame(cat("pass ", s_.pass_index(), " (", prompt ? "prompt" : "decode", "), positions ", pos0, "..", pos0 + n - 1,
            ", tokens ", Json(std::vector<int32_t>(batch.begin(), batch.end())).dump(), " ",
            Json(text).dump(-1, ' ', false, Json::error_handler_t::replace)),
        {{"frame", "pass"},
         {"pass", s_.pass_index()},
         {"prompt", prompt},
         {"positions", {pos0, pos0 + n - 1}},
         {"tokens", std::vector<int32_t>(batch.begin(), batch.end())},
         {"text", text}});
  const int64_t generated = static_cast<int64_t>(s_.tokens().size()) - s_.n_prompt();
  frame(cat("run of ", s_.n_prompt(), " prompt tokens, ", generated, " generated, ", s_.decode_left(),
            s_.decode_left() == 1 ? " decode step" : " decode steps", " queued, context ", in.n_ctx()),
        {{"frame", "run"}, {"prompt_tokens", s_.n_prompt()}, {"generated", generated}, {"queued", s_.decode_left()}});
  r.json["frames"] = frames;
  return r;
}

Reply Debugger::cmd_list(const Words& a) {
  no_more(a, 1, "list");
  const auto& ops = s_.program().ops;
  const int n_ops = static_cast<int>(ops.size());
  int first = 0, last = n_ops - 1;
  const int here = s_.in_pass() ? s_.interp().pc() : n_ops;
  if (a.empty() || a[0] != "all") {
    const int64_t k = a.empty() ? 5 : parse_int(a[0], "list");
    if (k < 1) fail("list: the count must be at least 1 (got ", k, ")");
    first = static_cast<int>(std::max<int64_t>(0, here - k));
    last = static_cast<int>(std::min<int64_t>(n_ops - 1, here + k - 1));
  }
  std::vector<bool> has_break(ops.size(), false);
  for (const Breakpoint& b : s_.breakpoints())
    for (size_t i = 0; i < ops.size(); ++i)
      if (b.enabled && b.kind == LocationKind::Hooks &&
          std::find(b.hooks.begin(), b.hooks.end(), ops[i].hook) != b.hooks.end())
        has_break[i] = true;
  Reply r;
  Json list = Json::array();
  for (int i = first; i <= last; ++i) {
    const Op& o = ops[static_cast<size_t>(i)];
    const std::string hook = o.hook >= 0 ? s_.interp().hooks()[o.hook].name : "";
    const std::vector<int64_t> shape = s_.op_shape(i);
    char head[32];
    std::snprintf(head, sizeof head, "%s%c%4d  ", i == here ? "=>" : "  ",
                  has_break[static_cast<size_t>(i)] ? '*' : ' ', i);
    std::string text = cat(head, o.label, "  ", op_kind_name(o.kind));
    if (!hook.empty()) text += "  " + hook;
    text += "  " + format_shape(shape);
    line(r, text);
    list.push_back({{"op", i},
                    {"label", o.label},
                    {"kind", std::string(op_kind_name(o.kind))},
                    {"hook", hook.empty() ? Json(nullptr) : Json(hook)},
                    {"shape", shape},
                    {"next", i == here},
                    {"breakpoint", static_cast<bool>(has_break[static_cast<size_t>(i)])}});
  }
  r.json["ops"] = list;
  return r;
}

Reply Debugger::cmd_print(const Words& a) {
  no_more(a, 1, "print");
  Value v = s_.evaluate(parse_tensor_expr(a.empty() ? "" : a[0]));
  Reply r;
  const std::string expr = a.empty() || a[0][0] == '[' ? v.name + (a.empty() ? "" : a[0]) : a[0];
  line(r, cat(expr, " ", format_shape(v.selection.shape), " ="));
  line(r, format_tensor(v.data, v.selection.shape));
  r.json = {{"expr", expr}, {"hook", v.name}, {"op", v.op}, {"shape", v.selection.shape}};
  if (v.data.size() <= 100000) {
    r.json["values"] = nums(v.data);
  } else {
    r.json["values"] = nullptr;
    r.json["note"] = "more than 100000 values: use 'save'";
  }
  return r;
}

Reply Debugger::cmd_stats(const Words& a) {
  no_more(a, 1, "stats");
  Value v = s_.evaluate(parse_tensor_expr(a.empty() ? "" : a[0]));
  const TensorStats st = compute_stats(v.data, 10);
  Reply r;
  const std::string expr = a.empty() || a[0][0] == '[' ? v.name + (a.empty() ? "" : a[0]) : a[0];
  std::vector<int64_t> at;
  if (st.absmax_at >= 0) at = unflatten(st.absmax_at, v.selection.shape);
  line(r, cat(expr, " ", format_shape(v.selection.shape), ": ", st.numel, " values, ", st.n_nan, " NaN, ", st.n_inf,
              " Inf"));
  line(r, cat("  min ", format_number(st.min), "  max ", format_number(st.max), "  mean ", format_number(st.mean),
              "  std ", format_number(st.std), "  rms ", format_number(st.rms)));
  line(r, cat("  absmax ", format_number(st.absmax), " at ", format_shape(at)));
  for (const std::string& h : histogram_lines(st)) line(r, h);
  r.json = {{"expr", expr},         {"shape", v.selection.shape}, {"numel", st.numel},        {"nan", st.n_nan},
            {"inf", st.n_inf},      {"min", num(st.min)},         {"max", num(st.max)},       {"mean", num(st.mean)},
            {"std", num(st.std)},   {"rms", num(st.rms)},         {"absmax", num(st.absmax)}, {"absmax_at", at},
            {"histogram", st.histo}};
  return r;
}

Reply Debugger::cmd_topk(const Words& a) {
  no_more(a, 2, "topk");
  int64_t k = 5;
  size_t i = 0;
  if (i < a.size() && !a[i].empty() && std::isdigit(static_cast<unsigned char>(a[i][0]))) k = parse_int(a[i++], "topk");
  if (k < 1) fail("topk: K must be at least 1 (got ", k, ")");
  Reply r;
  const int64_t V = s_.model().config.d_vocab;
  if (i == a.size()) {  // next-token distribution of the newest position
    if (s_.logit_positions() == 0) fail("topk: no logits yet (no pass has finished; use 'finish')");
    const std::vector<float> last(s_.logits().end() - V, s_.logits().end());
    const std::vector<double> p = softmax(last);
    line(r, cat("next token after position ", s_.logit_positions() - 1, ":"));
    Json list = Json::array();
    int rank = 1;
    for (auto [id, logit] : top_k(last, k)) {
      line(r, cat("  ", rank++, ". ", id, " ", token_text(static_cast<int32_t>(id)), "  logit ", format_number(logit),
                  "  p ", format_number(p[static_cast<size_t>(id)])));
      list.push_back({{"id", id},
                      {"text", raw_text(static_cast<int32_t>(id))},
                      {"logit", num(logit)},
                      {"p", num(p[static_cast<size_t>(id)])}});
    }
    r.json["position"] = s_.logit_positions() - 1;
    r.json["top"] = list;
    return r;
  }
  if (i + 1 != a.size()) fail("topk: unexpected argument '", a[i + 1], "'");
  Value v = s_.evaluate(parse_tensor_expr(a[i]));
  line(r, cat(a[i], " ", format_shape(v.selection.shape), " largest ", k, ":"));
  Json list = Json::array();
  int rank = 1;
  for (auto [flat, value] : top_k(v.data, k)) {
    const std::vector<int64_t> ix = unflatten(flat, v.selection.shape);
    line(r, cat("  ", rank++, ". ", format_shape(ix), "  ", format_number(value)));
    list.push_back({{"index", ix}, {"value", num(value)}});
  }
  r.json["expr"] = a[i];
  r.json["top"] = list;
  return r;
}

Value Debugger::residual(const Words& a, size_t& next) {
  // An explicit expression, else the newest live residual-stream hook.
  if (next < a.size() && !(std::isdigit(static_cast<unsigned char>(a[next][0])))) {
    return s_.evaluate(parse_tensor_expr(a[next++]));
  }
  const auto& ops = s_.program().ops;
  for (int i = s_.last_op(); i >= 0; --i) {
    const Op& o = ops[static_cast<size_t>(i)];
    if (o.hook >= 0 && (o.out == Buf::Resid || o.out == Buf::Embed) && !o.final_rows && s_.readable(i))
      return s_.evaluate(parse_tensor_expr(s_.interp().hooks()[o.hook].name));
  }
  fail("no residual-stream tensor is available here (name one, e.g. 'lens resid_post2')");
}

Reply Debugger::cmd_lens(const Words& a) {
  no_more(a, 2, "lens");
  size_t i = 0;
  Value v = residual(a, i);
  const int64_t k = i < a.size() ? parse_int(a[i], "lens") : 5;
  if (k < 1) fail("lens: K must be at least 1 (got ", k, ")");
  const int64_t d = s_.model().config.d_model;
  const auto& shape = v.selection.shape;
  if (shape.empty() || shape.back() != d)
    fail("lens: ", v.name, " ", format_shape(shape), " is not a residual-stream tensor (last dimension ", d, ")");
  // The last row of the selection.
  const int64_t rows = static_cast<int64_t>(v.data.size()) / d;
  std::vector<float> logits = s_.lens(v.data.data() + (rows - 1) * d);
  const std::vector<double> p = softmax(logits);
  Reply r;
  const bool full = v.selection.kept.empty() || v.selection.kept[0];
  const int64_t row_index = full ? v.selection.index[0][v.selection.index[0].size() - 1] : v.selection.index[0][0];
  const int64_t pos = v.pos0 + row_index;
  line(r, cat("lens ", v.name, " at position ", pos, ":"));
  Json list = Json::array();
  int rank = 1;
  for (auto [id, logit] : top_k(logits, k)) {
    line(r, cat("  ", rank++, ". ", id, " ", token_text(static_cast<int32_t>(id)), "  p ",
                format_number(p[static_cast<size_t>(id)]), "  logit ", format_number(logit)));
    list.push_back({{"id", id},
                    {"text", raw_text(static_cast<int32_t>(id))},
                    {"p", num(p[static_cast<size_t>(id)])},
                    {"logit", num(logit)}});
  }
  r.json = {{"hook", v.name}, {"position", pos}, {"top", list}};
  return r;
}

Reply Debugger::cmd_watch(const Words& a) {
  if (a.size() != 1) fail("expected one expression like resid_post2[-1, :4]");
  TensorExpr e = parse_tensor_expr(a[0]);
  if (e.hook.empty()) fail("name a hook (a display follows a hook, not the current op)");
  s_.resolve_one(e.hook);
  watches_.push_back(e);
  watch_ids_.push_back(next_watch_id_++);
  Reply r;
  line(r, cat("display ", watch_ids_.back(), ": ", e.text));
  r.json = {{"watch", watch_ids_.back()}, {"expr", e.text}};
  return r;
}

Reply Debugger::cmd_display(const Words& a) {
  if (a.size() > 1) fail("display: expected one expression like resid_post2[-1, :4]");
  if (a.empty()) {
    Reply r;
    if (watches_.empty()) line(r, "no displays");
    show_watches(r);
    return r;
  }
  Reply r = cmd_watch(a);
  // Shown at once when it can be read here, as gdb does.
  if (s_.started()) {
    Reply now;
    show_watches(now, watches_.size() - 1);
    r.text += now.text;
  }
  return r;
}

Reply Debugger::cmd_unwatch(const Words& a) {
  if (a.size() != 1) fail("expected a display number");
  const int64_t id = parse_int(a[0], "display number");
  auto it = std::find(watch_ids_.begin(), watch_ids_.end(), id);
  if (it == watch_ids_.end()) fail("no display number ", id);
  watches_.erase(watches_.begin() + (it - watch_ids_.begin()));
  watch_ids_.erase(it);
  Reply r;
  line(r, cat("removed display ", id));
  r.json["removed"] = id;
  return r;
}

Reply Debugger::cmd_save(const Words& a) {
  if (a.size() != 2) fail("save: expected HOOK[SLICE] FILE.npy");
  Value v = s_.evaluate(parse_tensor_expr(a[0]));
  write_npy_f32(a[1], v.data.data(), v.selection.shape);
  Reply r;
  line(r, cat("saved ", a[0], " ", format_shape(v.selection.shape), " to ", a[1]));
  r.json = {{"expr", a[0]}, {"file", a[1]}, {"shape", v.selection.shape}};
  return r;
}

Reply Debugger::cmd_backward(const Words& a) {
  if (a.empty()) fail("backward: expected TOKEN [pos P] [logprob]");
  const int32_t target = analysis::parse_token(s_.model(), a[0], "backward");
  int64_t pos = -1;
  bool logprob = false;
  for (size_t i = 1; i < a.size(); ++i) {
    if (a[i] == "logprob") {
      logprob = true;
    } else if (a[i] == "pos" && i + 1 < a.size()) {
      pos = parse_int(a[++i], "backward pos");
    } else {
      fail("backward: unexpected argument '", a[i], "' (expected pos P or logprob)");
    }
  }
  const Gradients& g = s_.backward(target, pos, logprob, int64_t{4096} << 20);
  Reply r;
  const char* what = logprob ? "log-probability" : "logit";
  line(r, cat("d ", what, " of ", token_text(target), " at position ", g.pos, " (", format_number(g.value), ") over ",
              g.tokens.size(), " tokens; 'grad HOOK' reads it"));
  // The input tokens' saliency and gradient x input at the embeddings.
  const int embed = *s_.program().hooks.id(HookKind::Embed, -1);
  const std::vector<float>& ge = g.grads[static_cast<size_t>(embed)];
  const std::vector<float>& xe = g.values[static_cast<size_t>(embed)];
  const auto n = static_cast<int64_t>(g.tokens.size());
  Json per = Json::array();
  if (!ge.empty()) {
    const int64_t d = static_cast<int64_t>(ge.size()) / n;
    line(r, "  pos  token            |grad|      grad x input");
    for (int64_t p = 0; p < n; ++p) {
      double norm = 0, gx = 0;
      for (int64_t j = p * d; j < (p + 1) * d; ++j) {
        norm += static_cast<double>(ge[static_cast<size_t>(j)]) * ge[static_cast<size_t>(j)];
        gx += static_cast<double>(ge[static_cast<size_t>(j)]) * xe[static_cast<size_t>(j)];
      }
      norm = std::sqrt(norm);
      line(r, cat("  ", p, "  ", token_text(g.tokens[static_cast<size_t>(p)]), "  ", format_number(norm), "  ",
                  format_number(gx)));
      per.push_back({{"pos", p},
                     {"token", g.tokens[static_cast<size_t>(p)]},
                     {"grad_norm", num(norm)},
                     {"grad_x_input", num(gx)}});
    }
  }
  r.json = {{"target", target},      {"text", raw_text(target)},
            {"pos", g.pos},          {"objective", logprob ? "logprob" : "logit"},
            {"value", num(g.value)}, {"embeddings", per}};
  return r;
}

Reply Debugger::cmd_grad(const Words& a) {
  if (a.empty() || a.size() > 2) fail("grad: expected HOOK [FILE.npy]");
  const Gradients* g = s_.gradients();
  if (g == nullptr) fail("grad: no gradients yet (run 'backward TOKEN' first)");
  const int hook = s_.resolve_one(a[0]);
  const std::string& name = s_.program().hooks[hook].name;
  const std::vector<float>& d = g->grads[static_cast<size_t>(hook)];
  const std::vector<int64_t>& shape = g->shapes[static_cast<size_t>(hook)];
  Reply r;
  if (d.empty()) {
    line(r, cat(name, ": no gradient flows there from the target"));
    r.json = {{"hook", name}, {"flows", false}};
    return r;
  }
  if (a.size() == 2) write_npy_f32(a[1], d.data(), shape);
  const std::vector<float>& x = g->values[static_cast<size_t>(hook)];
  double norm = 0, gx = 0, absmax = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    norm += static_cast<double>(d[i]) * d[i];
    if (std::isfinite(x[i])) gx += static_cast<double>(d[i]) * x[i];
    absmax = std::max(absmax, std::fabs(static_cast<double>(d[i])));
  }
  norm = std::sqrt(norm);
  line(r, cat("grad ", name, " ", format_shape(shape), "  norm ", format_number(norm), "  absmax ",
              format_number(absmax), "  grad . x ", format_number(gx)));
  // Per position for [pos, ...] tensors; per query row summed for attention maps.
  const size_t pd = position_dim(s_.program().hooks[hook].kind);
  Json per = Json::array();
  if (pd == 0 && !shape.empty() && shape[0] > 0) {
    const int64_t rows = shape[0], w = static_cast<int64_t>(d.size()) / rows;
    const int64_t first = static_cast<int64_t>(g->tokens.size()) - rows;
    for (int64_t p = 0; p < rows; ++p) {
      double pn = 0, px = 0;
      for (int64_t j = p * w; j < (p + 1) * w; ++j) {
        pn += static_cast<double>(d[static_cast<size_t>(j)]) * d[static_cast<size_t>(j)];
        px += static_cast<double>(d[static_cast<size_t>(j)]) * x[static_cast<size_t>(j)];
      }
      line(r,
           cat("  pos ", first + p, "  |grad| ", format_number(std::sqrt(pn)), "  grad x input ", format_number(px)));
      per.push_back({{"pos", first + p}, {"grad_norm", num(std::sqrt(pn))}, {"grad_x_input", num(px)}});
    }
  }
  if (a.size() == 2) line(r, cat("saved to ", a[1]));
  r.json = {{"hook", name},       {"flows", true},         {"shape", shape},
            {"norm", num(norm)},  {"absmax", num(absmax)}, {"grad_dot_input", num(gx)},
            {"per_position", per}};
  if (a.size() == 2) r.json["file"] = a[1];
  return r;
}

Reply Debugger::cmd_edit(const Words& a) {
  if (a.empty()) fail("edit: expected zero, scale, add, set, ablate, steer or patch");
  const std::string& kind = a[0];
  const ModelConfig& c = s_.model().config;
  Edit e;
  auto target = [&](size_t i) {
    if (a.size() <= i) fail("edit ", kind, ": expected a hook (with an optional slice)");
    TensorExpr t = parse_tensor_expr(a[i]);
    if (t.hook.empty()) fail("edit ", kind, ": expected a hook before the slice in '", a[i], "'");
    e.hooks = s_.interp().hooks().resolve(t.hook);
    e.slice = t.slice;
  };
  if (kind == "zero") {
    target(1);
    no_more(a, 2, "edit zero");
    e.kind = EditKind::Zero;
    e.text = cat("zero ", a[1]);
  } else if (kind == "scale" || kind == "add" || kind == "set") {
    target(1);
    if (a.size() < 3) fail("edit ", kind, ": expected a number after the hook");
    no_more(a, 3, cat("edit ", kind));
    e.kind = kind == "scale" ? EditKind::Scale : kind == "add" ? EditKind::Add : EditKind::Set;
    e.value = static_cast<float>(parse_number(a[2], cat("edit ", kind)));
    e.text = cat(kind, " ", a[1], " ", a[2]);
  } else if (kind == "ablate") {
    if (a.size() != 3) fail("edit ablate: expected LAYER HEAD[,HEAD...]");
    const int64_t layer = parse_int(a[1], "edit ablate");
    if (layer < 0 || layer >= c.n_layers)
      fail("edit ablate: layer ", layer, " out of range (model has ", c.n_layers, " layers)");
    std::vector<int64_t> heads;
    std::string list = a[2];
    std::replace(list.begin(), list.end(), ',', ' ');
    for (const std::string& w : split_words(list)) {
      const int64_t h = parse_int(w, "edit ablate");
      if (h < 0 || h >= c.n_heads) fail("edit ablate: head ", h, " out of range (model has ", c.n_heads, " heads)");
      heads.push_back(h);
    }
    if (heads.empty()) fail("edit ablate: expected head numbers");
    // One zero edit per head on hook_z [pos, head, d_head]: the head's output before W_O.
    const int z = *s_.interp().hooks().id(HookKind::Z, static_cast<int>(layer));
    Reply r;
    Json ids = Json::array();
    for (int64_t h : heads) {
      Edit eh;
      eh.kind = EditKind::Zero;
      eh.hooks = {z};
      eh.slice = parse_slice(cat("[:, ", h, "]"));
      eh.text = cat("ablate layer ", layer, " head ", h, " (zero blocks.", layer, ".attn.hook_z[:, ", h, "])");
      s_.add_edit(eh);
      line(r, cat("edit ", s_.edits().back().id, ": ", eh.text));
      ids.push_back(s_.edits().back().id);
    }
    r.json["edits"] = ids;
    return r;
  } else if (kind == "steer") {
    target(1);
    if (a.size() < 3 || a.size() > 4) fail("edit steer: expected HOOK[SLICE] FILE.npy [COEFF]");
    NpyArray v = read_npy(a[2]);
    int64_t n = 1;
    for (int64_t d : v.shape) n *= d;
    if (v.shape.size() > 1 && n != v.shape.back())
      fail("edit steer: ", a[2], " has shape ", format_shape(v.shape), "; expected one vector");
    e.kind = EditKind::Steer;
    e.vector = std::move(v.data);
    e.value = a.size() == 4 ? static_cast<float>(parse_number(a[3], "edit steer")) : 1.0f;
    for (int h : e.hooks) {
      const int64_t last = s_.op_shape(s_.program().hook_op[static_cast<size_t>(h)]).back();
      if (last != static_cast<int64_t>(e.vector.size()))
        fail("edit steer: ", a[2], " has ", e.vector.size(), " values, ", s_.interp().hooks()[h].name, " has ", last,
             " per row");
    }
    e.text = cat("steer ", a[1], " += ", format_number(e.value), " * ", a[2]);
  } else if (kind == "patch") {
    target(1);
    if (a.size() < 3) fail("edit patch: expected HOOK[SLICE] PROMPT (or --tokens 1,2,3)");
    e.kind = EditKind::Patch;
    e.source_tokens = tokens_of(a, 2);
    for (int h : e.hooks)
      if (s_.interp().hooks()[h].kind == HookKind::AttnScores || s_.interp().hooks()[h].kind == HookKind::Pattern)
        fail("edit patch: ", s_.interp().hooks()[h].name,
             " is an attention map; patch hook_z or the residual stream instead");
    e.source = s_.capture(e.source_tokens, e.hooks);
    e.text = cat("patch ", a[1], " from ", join(a, 2), " (", e.source_tokens.size(), " tokens)");
  } else {
    fail("edit: unknown edit '", kind, "' (zero, scale, add, set, ablate, steer, patch)");
  }
  const bool now = s_.add_edit(e);
  Reply r;
  line(r, cat("edit ", s_.edits().back().id, ": ", e.text, now ? " (applied to the current tensor too)" : ""));
  r.json = {{"edit", s_.edits().back().id}, {"text", e.text}, {"applied_now", now}};
  return r;
}

Reply Debugger::cmd_undo(const Words& a) {
  no_more(a, 0, "undo");
  Edit e = s_.undo_edit();
  Reply r;
  line(r, cat("removed edit ", e.id, ": ", e.text));
  r.json = {{"removed", e.id}, {"text", e.text}};
  return r;
}

Reply Debugger::cmd_condition(const Words& a) {
  if (a.empty()) fail("condition: expected a breakpoint number and a condition (none: stop every time)");
  const int id = static_cast<int>(parse_int(a[0], "condition"));
  std::optional<Condition> cond;
  if (a.size() > 1) cond = parse_condition(join(a, 1));
  s_.set_condition(id, cond);
  Reply r;
  line(r, cond ? cat("breakpoint ", id, " stops if ", cond->text) : cat("breakpoint ", id, " is now unconditional"));
  r.json = {{"breakpoint", id}, {"condition", cond ? Json(cond->text) : Json(nullptr)}};
  return r;
}

Reply Debugger::cmd_ignore(const Words& a) {
  if (a.size() != 2) fail("ignore: expected a breakpoint number and a count");
  const int id = static_cast<int>(parse_int(a[0], "ignore"));
  const int64_t n = parse_int(a[1], "ignore");
  s_.set_ignore(id, n);
  Reply r;
  line(r, n == 0 ? cat("breakpoint ", id, " will stop the next time it is reached")
                 : cat("breakpoint ", id, " will be passed over the next ", n, n == 1 ? " time" : " times"));
  r.json = {{"breakpoint", id}, {"ignore", n}};
  return r;
}

Reply Debugger::cmd_commands(const Words& a) {
  no_more(a, 1, "commands");
  if (s_.breakpoints().empty()) fail("commands: there are no breakpoints");
  const int id = a.empty() ? s_.breakpoints().back().id : static_cast<int>(parse_int(a[0], "commands"));
  s_.breakpoint(id);  // it exists
  if (command_depth_ > 0) fail("commands: breakpoint commands cannot define commands");
  collecting_ = id;
  collected_.clear();
  Reply r;
  line(r, cat("commands for breakpoint ", id, ", one per line; 'end' ends them"));
  r.json = {{"collecting", id}};
  return r;
}

Reply Debugger::cmd_set(const Words& a) {
  if (a.size() != 2) fail("set: expected 'set cache MB'");
  match_word(a[0], {"cache"}, "setting");
  const double mb = parse_number(a[1], "set cache");
  if (!(mb >= 0) || mb > 1e9) fail("set cache: expected megabytes from 0 (got ", a[1], ")");
  s_.set_cache_budget(static_cast<int64_t>(mb * 1024 * 1024));
  Reply r;
  line(r,
       cat("cache budget ", format_number(mb), " MiB",
           mb > 0 ? " (cleared; hooks are kept from their next run)" : " (off: only tensors still in their buffers)"));
  r.json = {{"cache_budget", s_.cache_budget()}};
  return r;
}

Reply Debugger::cmd_analyze(const Words& a) {
  static const std::vector<std::string> names = {"lens", "attention", "activations", "nan"};
  std::vector<std::string> chosen;
  for (const std::string& w : a) {
    const std::string& n = match_word(w, names, "analysis");
    if (std::find(chosen.begin(), chosen.end(), n) == chosen.end()) chosen.push_back(n);
  }
  if (chosen.empty()) chosen = {"lens", "activations", "nan"};
  const Model& m = s_.model();
  RunOptions ro = s_.options();
  std::vector<std::unique_ptr<analysis::PassAnalysis>> owned;
  for (const std::string& n : chosen) {
    if (n == "lens") {
      analysis::LensOptions o;
      o.run = ro;
      owned.push_back(std::make_unique<analysis::LensAnalysis>(m, s_.tokens(), o));
    } else if (n == "attention") {
      analysis::AttentionOptions o;
      o.run = ro;
      owned.push_back(std::make_unique<analysis::AttentionAnalysis>(m, s_.tokens(), o));
    } else if (n == "activations") {
      analysis::ActivationsOptions o;
      o.run = ro;
      owned.push_back(std::make_unique<analysis::ActivationsAnalysis>(m, o));
    } else {
      owned.push_back(std::make_unique<analysis::NanWatch>());
    }
  }
  std::vector<analysis::PassAnalysis*> list;
  list.reserve(owned.size());
  for (auto& p : owned) list.push_back(p.get());
  const Json results = s_.analyze(list);
  Reply r;
  r.json = results;
  line(r, cat("analyzed the run's ", s_.tokens().size(), " positions from the cache (no new pass)"));
  if (results.contains("lens")) {
    line(r, "lens, last position (top token, p, KL to the final output):");
    for (const auto& row : results["lens"]["rows"]) {
      const auto& cell = row["positions"].back();
      line(r, cat("  ", row["hook"].get<std::string>(), "  ",
                  cell["top"][0]["text"].dump(-1, ' ', false, Json::error_handler_t::replace), "  ",
                  format_number(cell["top"][0]["p"].get<double>()), "  ",
                  format_number(cell["kl_to_final"].get<double>())));
    }
  }
  if (results.contains("attention")) {
    const auto& heads = results["attention"]["heads"];
    for (const char* score : {"induction", "prev_token", "sink"}) {
      const Json* best = nullptr;
      for (const auto& h : heads)
        if (best == nullptr || h[score].get<double>() > (*best)[score].get<double>()) best = &h;
      if (best != nullptr)
        line(r,
             cat("attention: strongest ", score, " head L", (*best)["layer"].get<int>(), " H",
                 (*best)["head"].get<int>(), " ", format_number((*best)[score].get<double>()), " (chance ",
                 format_number(results["attention"]["chance"][static_cast<size_t>((*best)["layer"].get<int>())][score]
                                   .get<double>()),
                 ")"));
    }
  }
  if (results.contains("activations")) {
    const auto& hooks = results["activations"]["hooks"];
    line(r, cat("activations: ", hooks.size(), " hooks"));
    for (const auto& h : hooks)
      if (h["nan"].get<int64_t>() > 0 || h["inf"].get<int64_t>() > 0)
        line(r, cat("  ", h["hook"].get<std::string>(), ": ", h["nan"].get<int64_t>(), " NaN, ",
                    h["inf"].get<int64_t>(), " Inf"));
  }
  if (results.contains("nan")) {
    const auto& n = results["nan"];
    if (n["bad"].empty()) {
      line(r, cat("nan: ", n["hooks_checked"].get<int64_t>(), " hooks checked, no NaN or Inf"));
    } else {
      line(r, cat("nan: ", n["bad"].size(), " of ", n["hooks_checked"].get<int64_t>(),
                  " hooks hold NaN / Inf; the first is ", n["first"].get<std::string>(), " ('break ",
                  n["first"].get<std::string>(), " if nan' then 'restart' names its op and inputs)"));
      for (const auto& b : n["bad"])
        line(r, cat("  ", b["hook"].get<std::string>(), ": ", b["nan"].get<int64_t>(), " NaN, ",
                    b["inf"].get<int64_t>(), " Inf"));
    }
  }
  return r;
}

Reply Debugger::cmd_quit(const Words& a) {
  no_more(a, 0, "quit");
  quit_ = true;
  return {};
}

}  // namespace loupe::dbg
