#include "options.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "core/error.h"
#include "engine/driver.h"
#include "store/store.h"
#include "tensor/kernels.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace loupe::cli {

namespace {

std::vector<std::string> g_args;
std::chrono::steady_clock::time_point g_start = std::chrono::steady_clock::now();

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  return "";
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char s[32];
  std::strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return s;
}

}  // namespace

void set_command_line(int argc, char** argv) {
  g_args.assign(argv + 1, argv + argc);
  g_start = std::chrono::steady_clock::now();
}

void StoreFlags::add(CLI::App* cmd) {
  cmd->add_option("--store", path,
                  "keep this run in a run store (SQLite; created if missing): loupe runs, loupe check");
  cmd->add_option("--label", label, "a name for this run in the store (such as main), for baseline(\"main\") in rules");
}

void StoreFlags::record(const std::string& command, const std::vector<std::string>& models,
                        const std::string& model_format, int threads, const nlohmann::ordered_json& result) const {
  if (!enabled()) return;
  auto store = store::Store::open(path, true);
  store::Run r;
  r.time = utc_now();
  r.command = command;
  r.args = g_args;
  r.label = label;
  r.models = models;
  for (const std::string& m : models) r.model_hashes.push_back(store->file_hash(m));
  r.model_format = model_format;
  const store::GitState git = store::git_state(std::filesystem::current_path().string());
  r.git_commit = git.commit;
  r.git_branch = git.branch;
  r.git_dirty = git.dirty;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) r.host = host;
  r.cpu = cpu_name();
  r.isa = isa_name(active_isa());
  r.threads = threads;
  r.version = "loupe 0.1.0";
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
  r.result = result;
  const int64_t id = store->add(r);
  std::fprintf(stderr, "kept as run %lld in %s\n", static_cast<long long>(id), path.c_str());
}

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void ModelFlags::add(CLI::App* cmd) {
  cmd->add_option("MODEL", model, "GGUF file, Hugging Face folder, or llama2.c checkpoint")->required();
  cmd->add_option("--tokenizer", tokenizer, "tokenizer file (tok*.bin, tokenizer.model, tokenizer.json, .gguf)");
  cmd->add_option("-t,--threads", threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("-c,--ctx", ctx, "context length (default: the model's, at most 4096)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--numerics", numerics,
                  "the arithmetic: exact (the default: float activations times dequantised weights, the model's "
                  "mathematics), llama.cpp (ggml's CPU arithmetic operation for operation: activations converted to "
                  "each weight type's vec_dot type - f16, bf16, q8_0, q8_1, q8_k - integer block sums, ggml's float "
                  "order, its fp16 GELU table: llama.cpp's logits) or q8 (the same conversions with loupe's fast "
                  "int8 kernels: the fast mode, ~1e-2 from llama.cpp)")
      ->check(CLI::IsMember({"exact", "llama.cpp", "q8"}));
  cmd->add_flag("--q8-act", q8_act, "the same as --numerics q8 (the fast mode)");
  cmd->add_option(
         "--isa", isa,
         "kernels' instruction-set tier: scalar (the reference loops), avx2, avx2-vnni, avx512 (x86-64), neon, "
         "neon-dot, neon-i8mm (AArch64) (default: the best this CPU runs; the environment variable LOUPE_ISA does the "
         "same)")
      ->check(CLI::IsMember({"scalar", "avx2", "avx2-vnni", "avx512", "neon", "neon-dot", "neon-i8mm"}));
}

std::unique_ptr<Model> ModelFlags::load() const {
  if (!isa.empty()) {
    const std::optional<Isa> want = isa_from_name(isa);
    if (!want) fail("--isa: unknown tier '", isa, "' (scalar, avx2, avx2-vnni, avx512, neon, neon-dot, neon-i8mm)");
    if (!set_active_isa(*want))
      fail("--isa ", isa, ": this CPU cannot run it (its best tier is ", isa_name(best_isa()), ")");
  }
  LoadOptions o;
  o.tokenizer_path = tokenizer;
  o.q8_panels = numerics_mode() != Numerics::Exact;
  auto m = load_model(model, o);
  if (ctx > m->config.n_ctx)
    std::fprintf(stderr,
                 "warning: --ctx %lld is past the %lld positions %s was trained for: later positions are "
                 "extrapolation\n",
                 static_cast<long long>(ctx), static_cast<long long>(m->config.n_ctx), m->path.c_str());
  return m;
}

RunOptions ModelFlags::run_options() const {
  RunOptions o;
  o.n_threads = threads > 0 ? threads : default_threads();
  if (!pool_) pool_ = std::make_shared<ThreadPool>(o.n_threads);
  o.pool = pool_;
  o.n_ctx = ctx;
  o.numerics = numerics_mode();
  return o;
}

Numerics ModelFlags::numerics_mode() const {
  if (q8_act) return Numerics::Q8;
  const std::optional<Numerics> n = numerics_from_name(numerics);
  if (!n) fail("--numerics: unknown arithmetic '", numerics, "' (exact, llama.cpp, q8)");
  return *n;
}

void PromptFlags::add(CLI::App* cmd, bool allow_tokens) {
  cmd->add_option("-p,--prompt", prompt, "prompt text (UTF-8)");
  cmd->add_option("-f,--prompt-file", prompt_file, "read the prompt text from FILE (UTF-8, taken as it is)");
  cmd->add_option("--chat", chat,
                  "one user message, put through the model's chat template (with the assistant's turn opened) as the "
                  "prompt");
  if (allow_tokens) cmd->add_option("--tokens", tokens, "token ids instead of a prompt: 1,2,3");
  cmd->add_flag("--bos", bos, "start the prompt with BOS");
  cmd->add_flag("--no-bos", no_bos, "do not start the prompt with BOS");
}

std::vector<int32_t> PromptFlags::resolve(const Model& model, int64_t n_ctx) const {
  if (bos && no_bos) fail("--bos and --no-bos contradict each other");
  if (!prompt_file.empty()) {
    if (!prompt.empty() || !chat.empty() || !tokens.empty())
      fail("give --prompt-file alone, not with -p, --chat or --tokens");
    if (std::filesystem::is_directory(prompt_file)) fail(prompt_file, ": is a directory, not a prompt file");
    std::ifstream in(prompt_file, std::ios::binary);
    if (!in) fail(prompt_file, ": cannot open the prompt file: ", std::strerror(errno));
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) fail(prompt_file, ": cannot read the prompt file");
    const int64_t bad = find_invalid_utf8(text);
    if (bad >= 0) fail(prompt_file, ": invalid UTF-8 at byte ", bad);
    if (text.empty()) fail(prompt_file, ": the prompt file is empty");
    const bool add_bos = bos || (!no_bos && default_add_bos(model));
    return prompt_tokens(model, text, add_bos, n_ctx);
  }
  if (!chat.empty()) {
    if (!prompt.empty()) fail("give either -p PROMPT or --chat TEXT, not both");
    if (!tokens.empty()) fail("give either --tokens or --chat TEXT, not both");
    std::string text = chat_prompt_text(model, chat);
    // The template's own BOS (parsed as the special token it is) stands for the one the encoder
    // would add; --no-bos drops it.
    bool add_bos = bos || (!no_bos && default_add_bos(model));
    if (starts_with_bos_text(model, text)) {
      if (no_bos) text.erase(0, model.tokenizer->token_text(model.tokenizer->bos_id()).size());
      add_bos = false;
    }
    return prompt_tokens(model, text, add_bos, n_ctx);
  }
  if (!tokens.empty()) {
    if (!prompt.empty()) fail("give either -p PROMPT or --tokens, not both");
    auto ids = parse_token_list(tokens, model.config.d_vocab);
    if (static_cast<int64_t>(ids.size()) > n_ctx)
      fail("--tokens: ", ids.size(), " tokens do not fit the context of ", n_ctx, " positions (", model.path,
           " was trained for ", model.config.n_ctx, "; --ctx sets the context)");
    return ids;
  }
  const bool add_bos = bos || (!no_bos && default_add_bos(model));
  return prompt_tokens(model, prompt, add_bos, n_ctx);
}

std::string chat_prompt_text(const Model& model, const std::string& user) {
  const int64_t bad = find_invalid_utf8(user);
  if (bad >= 0) fail("--chat: invalid UTF-8 at byte ", bad);
  if (model.chat_template.empty()) {
    std::error_code ec;
    if (std::filesystem::is_directory(model.path, ec))
      fail(model.path, ": no chat_template in tokenizer_config.json (nor a chat_template.jinja); use -p");
    fail(model.path, ": no tokenizer.chat_template in the file; use -p");
  }
  if (!model.tokenizer)
    fail(model.path, ": no tokenizer found for this model; pass --tokenizer FILE or --tokens 1,2,3");
  const Tokenizer& tok = *model.tokenizer;
  const std::string bos = tok.bos_id() >= 0 ? std::string(tok.token_text(tok.bos_id())) : "";
  const std::string eos = tok.eos_id() >= 0 ? std::string(tok.token_text(tok.eos_id())) : "";
  try {
    return render_chat(model.chat_template, {ChatMessage{"user", user}}, true, bos, eos);
  } catch (const Error& e) {
    fail(model.path, ": ", e.what());
  }
}

bool starts_with_bos_text(const Model& model, const std::string& text) {
  if (!model.tokenizer || model.tokenizer->bos_id() < 0) return false;
  const std::string_view bos = model.tokenizer->token_text(model.tokenizer->bos_id());
  return !bos.empty() && text.compare(0, bos.size(), bos) == 0;
}

std::string json_escape_shape(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace loupe::cli
