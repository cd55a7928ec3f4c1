// Flags shared by the commands that run a model.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/interpreter.h"
#include "model/weights.h"

namespace loupe::cli {

struct ModelFlags {
  std::string model;
  std::string tokenizer;
  int threads = 0;  // 0 = all cores
  int64_t ctx = 0;
  std::string numerics = "exact";  // --numerics: exact, llama.cpp or q8 (tensor/numerics.h)
  bool q8_act = false;             // --q8-act: an alias of --numerics q8
  std::string isa;                 // --isa: the kernels' instruction-set tier (empty: the CPU's best)

  void add(CLI::App* cmd);
  std::unique_ptr<Model> load() const;
  // The same pool of threads on every call: a command's interpreters and analyses share it.
  RunOptions run_options() const;
  Numerics numerics_mode() const;

 private:
  mutable std::shared_ptr<ThreadPool> pool_;
};

// --store FILE.db and --label NAME: keep the run (its command line, models, git state, machine
// and JSON result) in a run store (store/store.h; `loupe runs`, `loupe check`).
struct StoreFlags {
  std::string path;
  std::string label;

  void add(CLI::App* cmd);
  bool enabled() const { return !path.empty(); }
  // Keeps a run when --store was given; says where on stderr. models: the model files as given
  // (hashed by content, cached in the store).
  void record(const std::string& command, const std::vector<std::string>& models, const std::string& model_format,
              int threads, const nlohmann::ordered_json& result) const;
};

// The command line and start time of this process (main sets them; a kept run records them).
void set_command_line(int argc, char** argv);

// Prompt input: -p TEXT, -f FILE (the text of a file: long prompts do not fit argv), --chat TEXT
// (one user turn through the model's chat template) or --tokens 1,2,3, with BOS control.
struct PromptFlags {
  std::string prompt;
  std::string prompt_file;
  std::string chat;
  std::string tokens;
  bool bos = false;
  bool no_bos = false;

  void add(CLI::App* cmd, bool allow_tokens);
  std::vector<int32_t> resolve(const Model& model, int64_t n_ctx) const;
};

// The prompt text of --chat TEXT: the model's chat template (GGUF tokenizer.chat_template, or the
// HF folder's) rendered for one user message with add_generation_prompt = true and the
// tokenizer's BOS / EOS strings. Errors name the model: no template, or the template's error.
std::string chat_prompt_text(const Model& model, const std::string& user);

// Whether `text` starts with the BOS token's text (as Llama 3, Gemma and Mistral templates write it).
bool starts_with_bos_text(const Model& model, const std::string& text);

int default_threads();
std::string json_escape_shape(const std::vector<int64_t>& shape);

}  // namespace loupe::cli
