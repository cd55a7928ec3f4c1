// Flags shared by the commands that run a model.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
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
  bool q8_act = false;  // llama.cpp's arithmetic: activations quantised to int8 blocks

  void add(CLI::App* cmd);
  std::unique_ptr<Model> load() const;
  RunOptions run_options() const;
};

// Prompt input: -p TEXT or --tokens 1,2,3, with BOS control.
struct PromptFlags {
  std::string prompt;
  std::string tokens;
  bool bos = false;
  bool no_bos = false;

  void add(CLI::App* cmd, bool allow_tokens);
  std::vector<int32_t> resolve(const Model& model, int64_t n_ctx) const;
};

int default_threads();
std::string json_escape_shape(const std::vector<int64_t>& shape);

}  // namespace loupe::cli
