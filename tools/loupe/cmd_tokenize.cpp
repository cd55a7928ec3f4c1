// loupe tokenize SOURCE TEXT [--json] [--bos]
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace loupe::cli {

namespace {

// SOURCE may be a model (its tokenizer) or a tokenizer file.
std::unique_ptr<Tokenizer> open_source(const std::string& source) {
  namespace fs = std::filesystem;
  if (!fs::exists(source)) fail(source, ": no such file or directory");
  const std::string ext = fs::path(source).extension().string();
  if (fs::is_directory(source) || ext == ".safetensors") {
    auto m = load_model(source);
    if (!m->tokenizer) fail(source, ": this model has no tokenizer file beside it");
    return std::move(m->tokenizer);
  }
  if (ext == ".bin") {
    // A llama2.c checkpoint or a llama2.c tokenizer: try the model first (its header is strict).
    try {
      auto m = load_model(source);
      if (!m->tokenizer) fail(source, ": no tokenizer found beside this llama2.c model");
      return std::move(m->tokenizer);
    } catch (const Error&) {
      return load_tokenizer(source);
    }
  }
  return load_tokenizer(source);
}

}  // namespace

void add_tokenize(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("tokenize", "token ids of a text (no BOS unless --bos)");
  auto source = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto json_out = std::make_shared<bool>(false);
  auto bos = std::make_shared<bool>(false);
  auto no_special = std::make_shared<bool>(false);
  cmd->add_option("SOURCE", *source, "a model, or a tokenizer file")->required();
  cmd->add_option("TEXT", *text, "UTF-8 text")->required();
  cmd->add_flag("--json", *json_out, "print JSON with ids and pieces");
  cmd->add_flag("--bos", *bos, "start with BOS");
  cmd->add_flag("--no-special", *no_special, "treat special-token text as plain text");
  cmd->callback([=, &action] {
    action = [=] {
      auto tok = open_source(*source);
      int64_t bad = find_invalid_utf8(*text);
      if (bad >= 0) fail("TEXT: invalid UTF-8 at byte ", bad);
      std::vector<int32_t> ids = tok->encode(*text, *bos, !*no_special);
      if (*json_out) {
        nlohmann::ordered_json j;
        j["ids"] = ids;
        nlohmann::ordered_json pieces = nlohmann::ordered_json::array();
        for (int32_t id : ids) pieces.push_back(std::string(tok->token_text(id)));
        j["pieces"] = pieces;
        j["n_tokens"] = ids.size();
        std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return;
      }
      std::string line;
      for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
      std::printf("%s\n", line.c_str());
    };
  });
}

}  // namespace loupe::cli
