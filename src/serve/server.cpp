#include "serve/server.h"

#include <httplib.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "analysis/activations.h"
#include "analysis/attention.h"
#include "analysis/diff.h"
#include "analysis/logit_lens.h"
#include "analysis/stats.h"
#include "analysis/text.h"
#include "core/error.h"
#include "data/explore.h"
#include "data/explore_json.h"
#include "debugger/commands.h"
#include "debugger/session.h"
#include "engine/driver.h"
#include "engine/program.h"
#include "model/weights.h"
#include "perf/peaks.h"
#include "perf/profile.h"
#include "store/store.h"
#include "tokenizer/tokenizer.h"

namespace loupe::serve {

namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// Another task holds the model: 409 with its name.
struct Busy {
  std::string task;
};

// A request the API refuses with a status and a message.
struct HttpError {
  int status;
  std::string message;
};

std::string dump(const Json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool same_secret(std::string_view a, std::string_view b) {
  // Compares every byte whatever the first difference (no early exit to time).
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string mime_type(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  static const std::map<std::string, std::string> types = {{".html", "text/html; charset=utf-8"},
                                                           {".js", "text/javascript; charset=utf-8"},
                                                           {".css", "text/css; charset=utf-8"},
                                                           {".json", "application/json"},
                                                           {".svg", "image/svg+xml"},
                                                           {".png", "image/png"},
                                                           {".ico", "image/x-icon"},
                                                           {".txt", "text/plain; charset=utf-8"},
                                                           {".map", "application/json"},
                                                           {".woff2", "font/woff2"}};
  auto it = types.find(ext);
  return it != types.end() ? it->second : "application/octet-stream";
}

// The fields of a request body, each with an error naming it.
class Body {
 public:
  explicit Body(const std::string& text) {
    if (text.empty()) {
      j_ = nlohmann::json::object();
      return;
    }
    try {
      j_ = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw HttpError{400, cat("the request body is not JSON (", e.what(), ")")};
    }
    if (!j_.is_object()) throw HttpError{400, "the request body is not a JSON object"};
  }
  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
  std::string text(const char* key, std::optional<std::string> fallback = std::nullopt) const {
    if (!has(key)) {
      if (fallback) return *fallback;
      throw HttpError{400, cat("field '", key, "' is missing")};
    }
    if (!j_[key].is_string()) throw HttpError{400, cat("field '", key, "' is not a string")};
    return j_[key].get<std::string>();
  }
  int64_t integer(const char* key, int64_t fallback, int64_t lo, int64_t hi) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_number_integer()) throw HttpError{400, cat("field '", key, "' is not an integer")};
    const auto v = j_[key].get<int64_t>();
    if (v < lo || v > hi) throw HttpError{400, cat("field '", key, "' is ", v, ", outside ", lo, "..", hi)};
    return v;
  }
  double number(const char* key, double fallback, double lo, double hi) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_number()) throw HttpError{400, cat("field '", key, "' is not a number")};
    const auto v = j_[key].get<double>();
    if (!(v >= lo && v <= hi)) throw HttpError{400, cat("field '", key, "' is ", v, ", outside ", lo, "..", hi)};
    return v;
  }
  bool flag(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_boolean()) throw HttpError{400, cat("field '", key, "' is not true or false")};
    return j_[key].get<bool>();
  }

 private:
  nlohmann::json j_;
};

Json top_tokens(const Model& model, const double* log_p, int64_t n, int64_t k) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  k = std::min(k, n);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                    [log_p](int32_t a, int32_t b) { return log_p[a] != log_p[b] ? log_p[a] > log_p[b] : a < b; });
  Json out = Json::array();
  for (int64_t i = 0; i < k; ++i) {
    const int32_t id = ids[static_cast<size_t>(i)];
    out.push_back({{"id", id}, {"text", analysis::token_text(model, id)}, {"p", std::exp(log_p[id])}});
  }
  return out;
}

}  // namespace

std::string random_token() {
  std::random_device rd;
  std::string t;
  static const char* hex = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) t += hex[rd() & 15u];
  return t;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

struct StaticFile {
  std::string bytes;
  std::string type;
};

struct Server::Impl {
  ServeOptions opt;
  std::unique_ptr<Model> model, reference;
  httplib::Server http;
  int port = 0;
  std::string token;
  std::map<std::string, StaticFile> files;  // "/index.html" -> content: the only files served
  Json hook_names;                          // the model's hooks, in program order (for /api/info)

  // The one task that holds the model, its progress, and the event streams waiting on it.
  std::mutex work;
  std::mutex state_mutex;
  std::condition_variable changed;
  std::string task;
  int64_t done = 0, total = 0;
  std::string unit;
  Clock::time_point started;
  uint64_t version = 0;
  bool stopping = false;
  bool running = false;   // run() was called
  bool finished = false;  // and returned
  int streams = 0;
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);

  // The debugger's live session.
  std::unique_ptr<dbg::Session> session;
  std::unique_ptr<dbg::Debugger> debugger;
  std::string debug_prompt;

  explicit Impl(ServeOptions o) : opt(std::move(o)) {}

  RunOptions run_options() const {
    RunOptions r = opt.run;
    r.cancel = cancel;
    return r;
  }

  void set_progress(const std::string& name, int64_t d, int64_t t, const std::string& u) {
    {
      std::lock_guard<std::mutex> g(state_mutex);
      task = name;
      done = d;
      total = t;
      unit = u;
      ++version;
    }
    changed.notify_all();
  }

  std::vector<int32_t> tokens_of(const Body& b) const {
    const std::string prompt = b.text("prompt");
    return prompt_tokens(*model, prompt, default_add_bos(*model), effective_context(model->config, opt.run.n_ctx));
  }

  const std::string& data_file(const Body& b) const {
    const int64_t i = b.integer("data", -1, 0, static_cast<int64_t>(opt.data.size()) - 1);
    if (i < 0) throw HttpError{400, "field 'data' is missing"};
    return opt.data[static_cast<size_t>(i)];
  }

  void load_page();
  void routes();
  Json info() const;
  Json run_prompt(const Body& b);
  Json generate_text(const Body& b);
  Json attention(const Body& b);
  Json activations(const Body& b);
  Json diff(const Body& b);
  Json profile(const Body& b);
  Json explore(const Body& b);
  Json debug_state();
  Json debug_effect(const Body& b);
  bool authorised(const httplib::Request& req) const;
};

// Holds the model for one request: a second task gets 409 naming the first.
class Task {
 public:
  Task(Server::Impl& s, const std::string& name) : s_(s), lock_(s.work, std::try_to_lock) {
    if (!lock_.owns_lock()) {
      std::lock_guard<std::mutex> g(s.state_mutex);
      throw Busy{s.task};
    }
    s.cancel->store(false);
    {
      std::lock_guard<std::mutex> g(s.state_mutex);
      s.started = Clock::now();
    }
    s.set_progress(name, 0, 0, "");
  }
  ~Task() { s_.set_progress("", 0, 0, ""); }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  void progress(int64_t done, int64_t total, const std::string& unit) {
    std::string name;
    {
      std::lock_guard<std::mutex> g(s_.state_mutex);
      name = s_.task;
    }
    s_.set_progress(name, done, total, unit);
  }

 private:
  Server::Impl& s_;
  std::unique_lock<std::mutex> lock_;
};

void Server::Impl::load_page() {
  namespace fs = std::filesystem;
  if (opt.web_dir.empty() || !fs::is_regular_file(fs::path(opt.web_dir) / "index.html")) return;
  const fs::path root = fs::canonical(opt.web_dir);
  // Every regular file under the page's folder, read once: a request names one of these or
  // gets 404; no path from a request reaches the file system. Symbolic links are not followed.
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_symlink()) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string rel = "/" + fs::relative(it->path(), root).generic_string();
    files[rel] = {std::move(bytes), mime_type(rel)};
  }
}

bool Server::Impl::authorised(const httplib::Request& req) const {
  if (req.has_header("X-Loupe-Token") && same_secret(req.get_header_value("X-Loupe-Token"), token)) return true;
  if (req.has_header("Authorization") && same_secret(req.get_header_value("Authorization"), "Bearer " + token))
    return true;
  if (req.has_param("token") && same_secret(req.get_param_value("token"), token)) return true;
  if (req.has_header("Cookie")) {
    const std::string c = req.get_header_value("Cookie");
    const std::string key = "loupe_token=";
    for (size_t p = c.find(key); p != std::string::npos; p = c.find(key, p + 1)) {
      if (p > 0 && c[p - 1] != ' ' && c[p - 1] != ';') continue;
      const size_t end = c.find(';', p);
      if (same_secret(c.substr(p + key.size(), end == std::string::npos ? std::string::npos : end - p - key.size()),
                      token))
        return true;
    }
  }
  return false;
}

Json Server::Impl::info() const {
  const ModelConfig& c = model->config;
  return {{"model", opt.model},
          {"reference", opt.reference.empty() ? Json(nullptr) : Json(opt.reference)},
          {"arch", c.arch_label},
          {"n_layers", c.n_layers},
          {"n_heads", c.n_heads},
          {"d_model", c.d_model},
          {"d_vocab", c.d_vocab},
          {"n_ctx", effective_context(c, opt.run.n_ctx)},
          {"numerics", std::string(numerics_name(opt.run.numerics))},
          {"hooks", hook_names},
          {"data", opt.data},
          {"store", !opt.store.empty()}};
}

Json Server::Impl::run_prompt(const Body& b) {
  const std::vector<int32_t> tokens = tokens_of(b);
  const int64_t k = b.integer("top_k", 5, 1, 100);
  Task t(*this, "run");
  Interpreter interp(*model, run_options());
  const int64_t V = model->config.d_vocab;
  const auto n = static_cast<int64_t>(tokens.size());
  std::vector<float> logits(static_cast<size_t>(n * V));
  forward(interp, tokens, true,
          [&](const float* l, int64_t rows, int64_t first) { std::copy_n(l, rows * V, logits.begin() + first * V); });
  std::vector<double> lp(static_cast<size_t>(V));
  Json out = Json::array();
  double sum_loss = 0;
  Json next;
  for (int64_t i = 0; i < n; ++i) {
    Json e = {{"id", tokens[static_cast<size_t>(i)]},
              {"text", analysis::token_text(*model, tokens[static_cast<size_t>(i)])},
              {"loss", nullptr},
              {"entropy", nullptr},
              {"rank", nullptr},
              {"top", Json::array()}};
    if (i > 0) {
      analysis::log_softmax(logits.data() + (i - 1) * V, V, lp.data());
      const int32_t id = tokens[static_cast<size_t>(i)];
      const double loss = -lp[static_cast<size_t>(id)];
      int64_t rank = 0;
      for (int64_t v = 0; v < V; ++v)
        if (lp[static_cast<size_t>(v)] > lp[static_cast<size_t>(id)]) ++rank;
      e["loss"] = loss;
      e["entropy"] = analysis::entropy(lp.data(), V);
      e["rank"] = rank;
      e["top"] = top_tokens(*model, lp.data(), V, k);
      sum_loss += loss;
    }
    out.push_back(std::move(e));
  }
  analysis::log_softmax(logits.data() + (n - 1) * V, V, lp.data());
  next = top_tokens(*model, lp.data(), V, k);
  return {{"tokens", out},
          {"next", next},
          {"mean_loss", n > 1 ? Json(sum_loss / static_cast<double>(n - 1)) : Json(nullptr)}};
}

Json Server::Impl::generate_text(const Body& b) {
  const std::vector<int32_t> tokens = tokens_of(b);
  GenerateOptions g;
  g.n_predict = b.integer("n_predict", 32, 0, 4096);
  g.sampler.temperature = static_cast<float>(b.number("temperature", 0.8, 0, 100));
  g.sampler.top_k = static_cast<int>(b.integer("top_k", 40, 0, 1 << 20));
  g.sampler.top_p = static_cast<float>(b.number("top_p", 0.95, 0, 1));
  g.sampler.seed = static_cast<uint64_t>(b.integer("seed", 42, 0, INT64_MAX));
  Task t(*this, "generate");
  Interpreter interp(*model, run_options());
  int64_t produced = 0;
  g.on_text = [&](const std::string&) { t.progress(++produced, g.n_predict, "tokens"); };
  const GenerateResult r = generate(interp, tokens, g);
  Json toks = Json::array();
  for (int32_t id : r.tokens) toks.push_back({{"id", id}, {"text", analysis::token_text(*model, id)}});
  return {{"text", r.text}, {"tokens", toks}, {"n_prompt", r.n_prompt}, {"stop", stop_reason_text(r.stop)}};
}

Json Server::Impl::attention(const Body& b) {
  const std::vector<int32_t> tokens = tokens_of(b);
  Task t(*this, "attention");
  analysis::AttentionOptions o;
  o.run = run_options();
  Json j = analysis::to_json(analysis::run_attention(*model, tokens, o));
  // The patterns of the prompt, [layer][head][query][key].
  Interpreter interp(*model, run_options());
  struct Capture : Observer {
    std::map<int, Json> layers;
    void on_hook(const HookEvent& e) override {
      const int64_t heads = e.shape.dims[0], q = e.shape.dims[1], k = e.shape.dims[2];
      Json& layer = layers[e.point->layer];
      if (layer.is_null()) layer = Json::array();
      for (int64_t h = 0; h < heads; ++h) {
        if (static_cast<int64_t>(layer.size()) <= h) layer.push_back(Json::array());
        for (int64_t i = 0; i < q; ++i) {
          Json row = Json::array();
          for (int64_t c = 0; c < std::min(k, e.pos0 + q); ++c) row.push_back(e.data[(h * q + i) * k + c]);
          layer[static_cast<size_t>(h)].push_back(std::move(row));
        }
      }
    }
  } cap;
  std::vector<Subscription> subs;
  for (int h = 0; h < interp.hooks().size(); ++h)
    if (interp.hooks()[h].kind == HookKind::Pattern) subs.push_back(interp.subscribe(h, &cap));
  forward(interp, tokens, false, nullptr);
  Json patterns = Json::array();
  for (auto& [layer, p] : cap.layers) patterns.push_back(std::move(p));
  Json texts = Json::array();
  for (int32_t id : tokens) texts.push_back(analysis::token_text(*model, id));
  j["token_texts"] = texts;
  j["n_layers"] = model->config.n_layers;
  j["n_heads"] = model->config.n_heads;
  j["patterns"] = std::move(patterns);
  return j;
}

Json Server::Impl::activations(const Body& b) {
  analysis::ActivationsOptions o;
  o.run = run_options();
  if (b.has("data")) {
    const std::string& path = data_file(b);
    o.seq.max_docs = b.integer("max_docs", 0, 0, INT64_MAX);
    Task t(*this, "activations");
    o.progress = [&t](int64_t docs, int64_t) { t.progress(docs, 0, "documents"); };
    return analysis::to_json(analysis::run_activations(*model, path, b.text("field", "text"), o));
  }
  const std::vector<int32_t> tokens = tokens_of(b);
  Task t(*this, "activations");
  Interpreter interp(*model, o.run);
  analysis::ActivationsAnalysis a(*model, o);
  a.attach(interp);
  forward(interp, tokens, false, nullptr);
  return analysis::to_json(a.collect(1, static_cast<int64_t>(tokens.size())));
}

Json Server::Impl::diff(const Body& b) {
  if (!reference) throw HttpError{400, "no reference model: start loupe serve with --reference MODEL"};
  analysis::DiffOptions o;
  o.run = run_options();
  o.n_worst = static_cast<size_t>(b.integer("worst", 10, 0, 1000));
  o.lens = b.flag("lens", true);
  std::string path;
  std::string temp;
  if (b.has("data")) {
    path = data_file(b);
    o.seq.max_docs = b.integer("max_docs", 0, 0, INT64_MAX);
  } else {
    // The prompt as a one-document JSONL file (diff reads documents).
    const std::string prompt = b.text("prompt");
    char name[] = "/tmp/loupe-serve-XXXXXX";
    const int fd = mkstemp(name);
    if (fd < 0) fail("cannot create a temporary file for the prompt");
    temp = name;
    const std::string line = nlohmann::json({{"text", prompt}}).dump() + "\n";
    const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    if (!ok) {
      std::filesystem::remove(temp);
      fail("cannot write a temporary file for the prompt");
    }
    path = temp;
    o.seq.format = data::Format::Jsonl;
  }
  struct Remove {
    std::string path;
    ~Remove() {
      if (!path.empty()) std::filesystem::remove(path);
    }
  } remove{temp};
  Task t(*this, "diff");
  o.progress = [&t](int64_t docs, int64_t) { t.progress(docs, 0, "documents"); };
  return analysis::to_json(analysis::run_diff(*reference, *model, path, b.text("field", "text"), o));
}

Json Server::Impl::profile(const Body& b) {
  const std::vector<int32_t> prompt = tokens_of(b);
  const int64_t n_gen = b.integer("n_gen", 8, 0, 4096);
  const int64_t n_ctx = effective_context(model->config, opt.run.n_ctx);
  if (static_cast<int64_t>(prompt.size()) + n_gen > n_ctx)
    throw HttpError{400, cat("field 'n_gen': ", prompt.size(), " prompt tokens + ", n_gen,
                             " generated exceed the context of ", n_ctx, " positions")};
  Task t(*this, "profile");
  RunOptions ro = run_options();
  ro.max_batch = std::max<int64_t>(static_cast<int64_t>(prompt.size()), 1);
  Interpreter interp(*model, ro);
  forward(interp, prompt, false, nullptr);  // warm-up, as loupe profile does
  interp.rewind(0);
  perf::Profiler prof(interp, true);
  prof.set_phase(perf::Phase::Prefill);
  forward(interp, prompt, false, nullptr);
  prof.set_phase(perf::Phase::Decode);
  const int64_t vocab = model->config.d_vocab;
  const float* logits = interp.logits() + (interp.logit_rows() - 1) * vocab;
  for (int64_t k = 0; k < n_gen; ++k) {
    logits = decode(interp, static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits));
    t.progress(k + 1, n_gen, "tokens");
  }
  perf::Peaks peaks;
  if (b.flag("peaks", false)) peaks = perf::measure_peaks(interp.pool());
  Json j = perf::profile_json(interp, prof, peaks, perf::memory_use(interp));
  j["trace"] = perf::chrome_trace(interp, prof);
  return j;
}

Json Server::Impl::explore(const Body& b) {
  const std::string& path = data_file(b);
  data::ExploreOptions o;
  o.field = b.text("field", "text");
  o.tokenizer = model->tokenizer.get();
  o.context_length = effective_context(model->config, opt.run.n_ctx);
  o.threads = std::max(1, opt.run.n_threads);
  o.memory_budget = size_t{256} << 20;
  Task t(*this, "explore");
  o.progress = [&t, this](uint64_t done, uint64_t total) {
    t.progress(static_cast<int64_t>(done), static_cast<int64_t>(total), "bytes");
    if (cancel->load()) fail("cancelled");
  };
  const data::Summary s = data::explore({path}, o);
  return data::report_json(s, model->tokenizer.get(), static_cast<size_t>(b.integer("top", 20, 1, 1000)));
}

Json Server::Impl::debug_state() {
  Json s = {{"active", debugger != nullptr}, {"prompt", debug_prompt}};
  if (!debugger) return s;
  const auto ask = [this](const char* command, const char* key) -> Json {
    try {
      dbg::Reply r = debugger->execute(command);
      return key ? r.json.value(key, Json(nullptr)) : r.json;
    } catch (const Error&) {
      return nullptr;
    }
  };
  s["where"] = ask("where", nullptr);
  s["listing"] = ask("list all", "ops");
  s["breakpoints"] = ask("info breakpoints", "breakpoints");
  s["edits"] = ask("info edits", "edits");
  s["watches"] = ask("info display", "watches");
  s["next_token"] = nullptr;
  const std::vector<float>& l = session->logits();
  const int64_t V = model->config.d_vocab;
  if (static_cast<int64_t>(l.size()) >= V) {
    std::vector<double> lp(static_cast<size_t>(V));
    analysis::log_softmax(l.data() + l.size() - static_cast<size_t>(V), V, lp.data());
    s["next_token"] = top_tokens(*model, lp.data(), V, 1)[0];
  }
  return s;
}

Json Server::Impl::debug_effect(const Body& b) {
  if (!debugger) throw HttpError{400, "no debugger session: start one first"};
  const std::string edit = b.text("edit");
  if (edit.find_first_of("\n\r;") != std::string::npos) throw HttpError{400, "field 'edit' holds one edit"};
  Task t(*this, "effect");
  // A session of its own: the live one keeps its place, breakpoints and edits.
  RunOptions ro = run_options();
  dbg::Session side(*model, ro);
  dbg::Debugger d(side, debug_prompt);
  const int64_t V = model->config.d_vocab;
  std::vector<double> lp(static_cast<size_t>(V));
  const auto top = [&]() {
    const std::vector<float>& l = side.logits();
    if (static_cast<int64_t>(l.size()) < V) fail("the prompt produced no logits");
    analysis::log_softmax(l.data() + l.size() - static_cast<size_t>(V), V, lp.data());
    return top_tokens(*model, lp.data(), V, 5);
  };
  d.execute("run");
  Json before = top();
  d.execute("edit " + edit);
  d.execute("restart");
  Json after = top();
  return {{"before", before}, {"after", after}};
}

void Server::Impl::routes() {
  const auto api = [this](auto f) {
    return [this, f](const httplib::Request& req, httplib::Response& res) {
      if (!authorised(req)) {
        res.status = 403;
        res.set_content(dump({{"error", "403: a token is required (open the URL loupe serve printed)"}}),
                        "application/json");
        return;
      }
      try {
        const Body body(req.method == "POST" ? req.body : std::string());
        res.set_content(dump(f(body)), "application/json");
      } catch (const Busy& b) {
        res.status = 409;
        res.set_content(
            dump({{"error", cat("busy: the model is running '", b.task, "' (cancel it, or wait)")}, {"busy", b.task}}),
            "application/json");
      } catch (const HttpError& e) {
        res.status = e.status;
        res.set_content(dump({{"error", e.message}}), "application/json");
      } catch (const Error& e) {
        res.status = 422;
        res.set_content(dump({{"error", e.what()}}), "application/json");
      } catch (const std::exception& e) {
        res.status = 500;
        res.set_content(dump({{"error", cat("internal error: ", e.what())}}), "application/json");
      }
    };
  };
  http.Get("/api/info", api([this](const Body&) { return info(); }));
  http.Post("/api/tokens", api([this](const Body& b) {
              Json out = Json::array();
              for (int32_t id : tokens_of(b)) out.push_back({{"id", id}, {"text", analysis::token_text(*model, id)}});
              return Json{{"tokens", out}};
            }));
  http.Post("/api/run", api([this](const Body& b) { return run_prompt(b); }));
  http.Post("/api/generate", api([this](const Body& b) { return generate_text(b); }));
  http.Post("/api/lens", api([this](const Body& b) {
              const std::vector<int32_t> tokens = tokens_of(b);
              analysis::LensOptions o;
              o.run = run_options();
              o.top_k = b.integer("top_k", 5, 1, 100);
              Task t(*this, "lens");
              return analysis::to_json(analysis::run_lens(*model, tokens, o), *model);
            }));
  http.Post("/api/attention", api([this](const Body& b) { return attention(b); }));
  http.Post("/api/activations", api([this](const Body& b) { return activations(b); }));
  http.Post("/api/diff", api([this](const Body& b) { return diff(b); }));
  http.Post("/api/profile", api([this](const Body& b) { return profile(b); }));
  http.Post("/api/explore", api([this](const Body& b) { return explore(b); }));
  http.Post("/api/debug/start", api([this](const Body& b) {
              const std::string prompt = b.text("prompt");
              (void)tokens_of(b);  // the prompt's errors now, not at the first 'run'
              Task t(*this, "debug");
              debugger.reset();
              session = std::make_unique<dbg::Session>(*model, run_options());
              debugger = std::make_unique<dbg::Debugger>(*session, prompt);
              debug_prompt = prompt;
              return Json{{"state", debug_state()}};
            }));
  http.Post("/api/debug", api([this](const Body& b) {
              const std::string command = b.text("command");
              if (!debugger) throw HttpError{400, "no debugger session: start one first"};
              if (command.find_first_of("\n\r") != std::string::npos)
                throw HttpError{400, "field 'command' holds one command line"};
              const std::string word = command.substr(0, command.find(' '));
              if (word == "save" || word == "quit" || word == "q")
                throw HttpError{403, cat("'", word, "' is not available in loupe serve")};
              Task t(*this, "debug");
              dbg::Reply r = debugger->execute(command);
              return Json{{"text", r.text}, {"json", r.json}, {"state", debug_state()}};
            }));
  http.Get("/api/debug/state", api([this](const Body&) {
             Task t(*this, "debug");
             return Json{{"state", debug_state()}};
           }));
  http.Post("/api/debug/effect", api([this](const Body& b) { return debug_effect(b); }));
  http.Post("/api/cancel", api([this](const Body&) {
              bool running = false;
              {
                std::lock_guard<std::mutex> g(state_mutex);
                running = !task.empty();
              }
              if (running) {
                cancel->store(true);
                dbg::Session::interrupt();
              }
              return Json{{"cancelled", running}};
            }));
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    if (opt.store.empty()) {
      res.status = 404;
      res.set_content("no run store: start loupe serve with --store FILE.db\n", "text/plain");
      return;
    }
    try {
      auto s = store::Store::open(opt.store, false);
      res.set_content(store::openmetrics(*s, s->list("", 0)),
                      "application/openmetrics-text; version=1.0.0; charset=utf-8");
    } catch (const Error& e) {
      res.status = 500;
      res.set_content(std::string(e.what()) + "\n", "text/plain");
    }
  });
  http.Get("/api/events", [this](const httplib::Request&, httplib::Response& res) {
    {
      std::lock_guard<std::mutex> g(state_mutex);
      if (streams >= opt.max_events) {
        res.status = 503;
        res.set_content(dump({{"error", "too many event streams"}}), "application/json");
        return;
      }
      ++streams;
    }
    auto seen = std::make_shared<uint64_t>(UINT64_MAX);
    res.set_header("Cache-Control", "no-store");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, seen](size_t, httplib::DataSink& sink) {
          std::unique_lock<std::mutex> g(state_mutex);
          changed.wait_for(g, std::chrono::seconds(10), [&] { return stopping || version != *seen; });
          if (stopping) return false;
          if (version == *seen) {
            g.unlock();
            return sink.write(": keep-alive\n\n", 14);
          }
          *seen = version;
          const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
          const std::string event = task.empty() ? "event: idle\ndata: {}\n\n"
                                                 : "event: progress\ndata: " +
                                                       dump({{"task", task},
                                                             {"done", done},
                                                             {"total", total},
                                                             {"unit", unit},
                                                             {"elapsed_s", elapsed}}) +
                                                       "\n\n";
          g.unlock();
          return sink.write(event.data(), event.size());
        },
        [this](bool) {
          std::lock_guard<std::mutex> g(state_mutex);
          --streams;
        });
  });
  // Any other POST: 403 without the token (as every request), else 404.
  http.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    res.status = authorised(req) ? 404 : 403;
    res.set_content(dump({{"error", res.status == 403 ? "403: a token is required" : "no such API"}}),
                    "application/json");
  });
  // The page: only the files read at start.
  http.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    std::string path = req.path;
    if (path == "/") path = "/index.html";
    auto it = files.find(path);
    if (it == files.end()) {
      res.status = 404;
      if (files.empty() && path == "/index.html")
        res.set_content(
            "<!doctype html><title>loupe serve</title><p>The page is not built. Run <code>npm ci && npm run "
            "build</code> in web/ (scripts/setup.sh does), or use the API (docs/serve.md).</p>",
            "text/html; charset=utf-8");
      else
        res.set_content("not found\n", "text/plain");
      return;
    }
    res.set_content(it->second.bytes, it->second.type);
    if (req.has_param("token") && same_secret(req.get_param_value("token"), token))
      res.set_header("Set-Cookie", "loupe_token=" + token + "; Path=/; HttpOnly; SameSite=Strict");
  });
}

Server::Server(ServeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  Impl& s = *impl_;
  s.token = s.opt.token.empty() ? random_token() : s.opt.token;
  LoadOptions lo;
  lo.tokenizer_path = s.opt.tokenizer;
  s.model = load_model(s.opt.model, lo);
  if (!s.model->tokenizer) fail(s.opt.model, ": this model has no tokenizer beside it (give --tokenizer)");
  if (!s.opt.reference.empty()) {
    s.reference = load_model(s.opt.reference, lo);
    if (s.reference->config.d_vocab != s.model->config.d_vocab)
      fail("--reference ", s.opt.reference, ": its vocabulary (", s.reference->config.d_vocab,
           " tokens) differs from the model's (", s.model->config.d_vocab, ")");
  }
  for (const std::string& d : s.opt.data)
    if (!std::filesystem::is_regular_file(d)) fail("--data ", d, ": no such file");
  if (!s.opt.store.empty()) store::Store::open(s.opt.store, false);  // a bad store fails now
  s.load_page();
  s.hook_names = Json::array();
  const Program program = lower(*s.model);
  for (int h = 0; h < program.hooks.size(); ++h) s.hook_names.push_back(program.hooks[h].name);

  s.http.new_task_queue = [] { return new httplib::ThreadPool(24); };
  s.http.set_payload_max_length(s.opt.max_body);
  s.http.set_read_timeout(10, 0);
  s.http.set_write_timeout(10, 0);
  s.http.set_keep_alive_max_count(100);
  s.http.set_default_headers({{"Content-Security-Policy",
                               "default-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                               "frame-ancestors 'none'"},
                              {"X-Content-Type-Options", "nosniff"},
                              {"Referrer-Policy", "no-referrer"},
                              {"X-Frame-Options", "DENY"},
                              {"Cache-Control", "no-store"}});
  s.http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    Impl& st = *impl_;
    const auto refuse = [&res](int status, const std::string& message) {
      res.status = status;
      res.set_content(dump({{"error", message}}), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    };
    // A page on another site could point a name at 127.0.0.1 (DNS rebinding): on loopback the
    // Host header must name this machine.
    if (is_loopback(st.opt.host)) {
      const std::string host = req.get_header_value("Host");
      const std::string port = ":" + std::to_string(st.port);
      bool ok = false;
      for (const char* name : {"127.0.0.1", "localhost", "[::1]"})
        ok = ok || host == std::string(name) + port || host == name;
      if (!ok) return refuse(403, "403: unexpected Host header");
    }
    // A request with a body is refused by its handler, after the body (bounded) was read: a
    // reply before it would reset the connection under the client.
    if (req.method != "POST" && !st.authorised(req))
      return refuse(403, "403: a token is required (open the URL loupe serve printed)");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.http.set_exception_handler([](const httplib::Request&, httplib::Response& res, const std::exception_ptr&) {
    res.status = 500;
    res.set_content(dump({{"error", "internal error"}}), "application/json");
  });
  s.routes();
}

Server::~Server() {
  stop();
}

int Server::bind() {
  Impl& s = *impl_;
  if (s.opt.port == 0) {
    s.port = s.http.bind_to_any_port(s.opt.host);
  } else {
    s.port = s.http.bind_to_port(s.opt.host, s.opt.port) ? s.opt.port : -1;
  }
  if (s.port <= 0) fail("cannot listen on ", s.opt.host, ":", s.opt.port, " (in use, or not an address here)");
  return s.port;
}

void Server::run() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> g(s.state_mutex);
    if (s.stopping) return;
    s.running = true;
  }
  s.http.listen_after_bind();
  std::lock_guard<std::mutex> g(s.state_mutex);
  s.finished = true;
}

void Server::stop() {
  Impl& s = *impl_;
  bool running = false;
  {
    std::lock_guard<std::mutex> g(s.state_mutex);
    s.stopping = true;
    running = s.running;
  }
  s.changed.notify_all();
  s.cancel->store(true);
  // run() may be on its way into listen, where a stop before it is lost: stop until it returns.
  for (int i = 0; i < 10000; ++i) {
    s.http.stop();
    {
      std::lock_guard<std::mutex> g(s.state_mutex);
      if (!running || s.finished) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::string Server::url() const {
  const std::string host =
      impl_->opt.host.find(':') != std::string::npos ? "[" + impl_->opt.host + "]" : impl_->opt.host;
  return cat("http://", host, ":", impl_->port, "/?token=", impl_->token);
}

const std::string& Server::token() const {
  return impl_->token;
}

bool Server::has_page() const {
  return !impl_->files.empty();
}

}  // namespace loupe::serve
