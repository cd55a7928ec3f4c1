// Drivers on top of the interpreter: prompt tokens, forward passes longer than one batch, and
// the generation loop (greedy / sampled, streaming decoded text).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/interpreter.h"
#include "engine/run.h"
#include "model/sampler.h"

namespace loupe {

// Tokenises a prompt with the model's tokenizer; BOS first when bos is set. Errors name the
// problem (no tokenizer, invalid UTF-8 with its byte offset, longer than the context).
std::vector<int32_t> prompt_tokens(const Model& model, const std::string& text, bool bos, int64_t n_ctx);

// Whether a prompt for this model starts with BOS by default (SentencePiece-style llamas do).
bool default_add_bos(const Model& model);

// Parses "1,2,3" (or space separated) token ids, checking the range.
std::vector<int32_t> parse_token_list(const std::string& list, int64_t d_vocab);

// Runs tokens through the model in batches of at most max_batch positions. on_logits gets the
// logits rows of each batch (every position when all_logits, else the last) with the position
// of the first row.
void forward(Interpreter& interp, std::span<const int32_t> tokens, bool all_logits,
             const std::function<void(const float* logits, int64_t rows, int64_t first_pos)>& on_logits);

// One decode pass: token at the next position; returns its logits row [d_vocab] (valid until
// the next pass). Fails past the context. generate, profile and bench decode through it.
const float* decode(Interpreter& interp, int32_t token);

struct GenerateOptions {
  int64_t n_predict = 128;
  SamplerConfig sampler;
  // Called with each piece of text as it becomes printable.
  std::function<void(const std::string&)> on_text;
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // prompt + generated
  int64_t n_prompt = 0;
  std::string text;  // everything printed
  StopReason stop = StopReason::Length;
  double prompt_seconds = 0;    // the prompt's forward pass
  double generate_seconds = 0;  // sampling and the passes of the generated tokens
};

// Feeds the prompt, then samples up to n_predict tokens, stopping at EOS (and at BOS for
// llama-family models, as run.c does). The text includes the prompt, decoded.
GenerateResult generate(Interpreter& interp, std::span<const int32_t> prompt, const GenerateOptions& options);

}  // namespace loupe
