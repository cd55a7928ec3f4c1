// loupe generate / logits / trace: the commands that run a model over a prompt.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "analysis/pass.h"
#include "commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/npy.h"
#include "engine/driver.h"
#include "options.h"
#include "tokenizer/tokenizer.h"

namespace loupe::cli {

void add_generate(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("generate", "generate text from a prompt (an empty prompt starts from BOS)");
  auto mf = std::make_shared<ModelFlags>();
  auto pf = std::make_shared<PromptFlags>();
  auto n = std::make_shared<int64_t>(128);
  auto sc = std::make_shared<SamplerConfig>();
  auto sampler = std::make_shared<std::string>("default");
  mf->add(cmd);
  pf->add(cmd, false);
  cmd->add_option("-n,--n-predict", *n, "tokens to generate (default 128)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 24));
  cmd->add_option("--temp", sc->temperature, "temperature; 0 = greedy (default 0.8)");
  cmd->add_option("--top-p", sc->top_p, "nucleus sampling threshold; 1 = off (default 0.95)");
  cmd->add_option("--top-k", sc->top_k, "sample from the k most likely; 0 = off (default 40)");
  cmd->add_option("--seed", sc->seed, "random seed (default 42)");
  cmd->add_option("--sampler", *sampler, "default, or llama2c to reproduce llama2.c run.c exactly")
      ->check(CLI::IsMember({"default", "llama2c"}));
  cmd->callback([=, &action] {
    action = [=] {
      auto model = mf->load();
      Interpreter interp(*model, mf->run_options());
      std::vector<int32_t> prompt = pf->resolve(*model, interp.n_ctx());
      GenerateOptions go;
      go.n_predict = *n;
      go.sampler = *sc;
      go.sampler.kind = *sampler == "llama2c" ? SamplerKind::Llama2c : SamplerKind::Default;
      go.on_text = [](const std::string& piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      };
      const GenerateResult r = generate(interp, prompt, go);
      std::printf("\n");
      std::fflush(stdout);
      const auto n_new = static_cast<long long>(r.tokens.size()) - static_cast<long long>(r.n_prompt);
      std::fprintf(stderr,
                   "stop: %s (%lld tokens generated); prompt %zu tokens in %.3f s (%.1f tok/s), generation "
                   "%.3f s (%.1f tok/s)\n",
                   std::string(stop_reason_text(r.stop)).c_str(), n_new, prompt.size(), r.prompt_seconds,
                   r.prompt_seconds > 0 ? static_cast<double>(prompt.size()) / r.prompt_seconds : 0.0,
                   r.generate_seconds, r.generate_seconds > 0 ? static_cast<double>(n_new) / r.generate_seconds : 0.0);
    };
  });
}

void add_logits(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("logits", "logits for every position as float32 [n_tokens, d_vocab] .npy");
  auto mf = std::make_shared<ModelFlags>();
  auto pf = std::make_shared<PromptFlags>();
  auto out = std::make_shared<std::string>();
  mf->add(cmd);
  pf->add(cmd, true);
  cmd->add_option("-o,--output", *out, "output .npy file")->required();
  cmd->callback([=, &action] {
    action = [=] {
      auto model = mf->load();
      Interpreter interp(*model, mf->run_options());
      std::vector<int32_t> tokens = pf->resolve(*model, interp.n_ctx());
      const int64_t V = model->config.d_vocab;
      std::vector<float> all(tokens.size() * static_cast<size_t>(V));  // [n_tokens, d_vocab]
      forward(interp, tokens, true,
              [&](const float* l, int64_t rows, int64_t first) { std::copy_n(l, rows * V, all.data() + first * V); });
      write_npy_f32(*out, all.data(), {static_cast<int64_t>(tokens.size()), V});
      std::fprintf(stderr, "wrote %s: [%zu, %lld] float32\n", out->c_str(), tokens.size(), (long long)V);
    };
  });
}

void add_trace(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("trace", "save hook tensors of a prompt as DIR/<hook>.npy + DIR/index.json");
  auto mf = std::make_shared<ModelFlags>();
  auto pf = std::make_shared<PromptFlags>();
  auto globs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  mf->add(cmd);
  pf->add(cmd, true);
  cmd->add_option("--hook", *globs, "hook name, glob or short form (repeatable)")->required();
  cmd->add_option("-o,--output", *out, "output directory (new or empty)")->required();
  cmd->add_flag("--force", *force, "empty the output directory first when it holds anything");
  cmd->callback([=, &action] {
    action = [=] {
      // A directory with other files in it would end up mixing old tensors with new ones.
      namespace fs = std::filesystem;
      std::error_code ec;
      if (fs::exists(*out, ec) && !fs::is_directory(*out, ec)) fail("-o ", *out, ": exists and is not a directory");
      if (fs::is_directory(*out, ec) && !fs::is_empty(*out, ec)) {
        if (!*force) fail("-o ", *out, ": directory is not empty; --force empties it first");
        for (const auto& entry : fs::directory_iterator(*out)) {
          fs::remove_all(entry.path(), ec);
          if (ec) fail(entry.path().string(), ": cannot remove: ", ec.message());
        }
      }
      auto model = mf->load();
      RunOptions ro = mf->run_options();
      ro.max_batch = 1 << 30;  // one pass over the whole prompt, so tensors are whole
      Interpreter interp(*model, ro);
      std::vector<int32_t> tokens = pf->resolve(*model, interp.n_ctx());
      std::vector<int> ids;
      for (const auto& g : *globs)
        for (int id : interp.hooks().resolve(g))
          if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
      std::sort(ids.begin(), ids.end());
      analysis::TensorCache cache(ids);
      cache.attach(interp);
      std::filesystem::create_directories(*out);
      // index.json is written last: an old one goes first, so a run that stops half way never
      // leaves an index that describes tensors other than those beside it.
      const std::filesystem::path index_path = std::filesystem::path(*out) / "index.json";
      std::filesystem::remove(index_path, ec);
      if (ec) fail(index_path.string(), ": cannot remove the old index: ", ec.message());
      forward(interp, tokens, true, nullptr);
      nlohmann::ordered_json index;
      index["model"] = model->path;
      index["tokens"] = tokens;
      nlohmann::ordered_json hooks = nlohmann::ordered_json::array();
      for (int id : ids) {
        const analysis::TensorCache::Entry& e = *cache.find(interp.hooks()[id].name);
        const std::string& name = interp.hooks()[id].name;
        const std::string file = name + ".npy";
        write_npy_f32((std::filesystem::path(*out) / file).string(), e.data.data(), e.shape);
        hooks.push_back({{"name", name}, {"file", file}, {"shape", e.shape}, {"dtype", "float32"}});
      }
      index["hooks"] = hooks;
      write_file_atomic(index_path.string(), index.dump(1) + "\n");
      std::fprintf(stderr, "wrote %zu hook tensors to %s\n", ids.size(), out->c_str());
    };
  });
}

}  // namespace loupe::cli
