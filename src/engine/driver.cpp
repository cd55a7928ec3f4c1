#include "engine/driver.h"

#include <cctype>
#include <charconv>
#include <chrono>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace loupe {

bool default_add_bos(const Model& model) {
  return model.config.arch == Arch::Llama && model.tokenizer != nullptr && model.tokenizer->bos_id() >= 0;
}

std::vector<int32_t> prompt_tokens(const Model& model, const std::string& text, bool bos, int64_t n_ctx) {
  if (!model.tokenizer)
    fail(model.path, ": no tokenizer found for this model; pass --tokenizer FILE or --tokens 1,2,3");
  int64_t bad = find_invalid_utf8(text);
  if (bad >= 0) fail("prompt: invalid UTF-8 at byte ", bad);
  std::vector<int32_t> ids = model.tokenizer->encode(text, bos);
  if (ids.empty()) {
    if (model.config.bos_id < 0) fail("prompt is empty and the model has no BOS token to start from");
    ids.push_back(model.config.bos_id);
  }
  if (static_cast<int64_t>(ids.size()) > n_ctx)
    fail("prompt: ", ids.size(), " tokens do not fit the context of ", n_ctx, " positions (", model.path,
         " was trained for ", model.config.n_ctx, "; --ctx sets the context)");
  return ids;
}

std::vector<int32_t> parse_token_list(const std::string& list, int64_t d_vocab) {
  // Items are separated by one comma (spaces around it allowed) or, in a list without commas,
  // by whitespace. An empty item ("1,,2", a trailing comma) is an error, not skipped.
  const bool by_comma = list.find(',') != std::string::npos;
  auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i <= list.size()) {
    size_t j = i;
    if (by_comma) {
      while (j < list.size() && list[j] != ',') ++j;
    } else {
      while (i < list.size() && is_space(list[i])) ++i;
      if (i == list.size()) break;
      j = i;
      while (j < list.size() && !is_space(list[j])) ++j;
    }
    size_t a = i, b = j;
    while (a < b && is_space(list[a])) ++a;
    while (b > a && is_space(list[b - 1])) --b;
    const std::string_view item(list.data() + a, b - a);
    if (item.empty()) fail("--tokens: empty item at character ", i, " of '", list, "'");
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || ptr != item.data() + item.size())
      fail("--tokens: '", item, "' at character ", a, " is not a token id");
    if (v < 0 || v >= d_vocab) fail("--tokens: token id ", v, " is out of range (vocabulary of ", d_vocab, ")");
    ids.push_back(static_cast<int32_t>(v));
    i = j + 1;
  }
  if (ids.empty()) fail("--tokens: no token ids given");
  return ids;
}

void forward(Interpreter& interp, std::span<const int32_t> tokens, bool all_logits,
             const std::function<void(const float*, int64_t, int64_t)>& on_logits) {
  if (interp.n_past() + static_cast<int64_t>(tokens.size()) > interp.n_ctx())
    fail(tokens.size(), " tokens after ", interp.n_past(), " cached positions exceed the context of ", interp.n_ctx(),
         " positions (use --ctx to raise it, up to the model's n_ctx)");
  for (const PassRange& r : pass_ranges(static_cast<int64_t>(tokens.size()), interp.max_batch())) {
    const bool last_batch = r.first + r.count == static_cast<int64_t>(tokens.size());
    interp.begin(tokens.subspan(static_cast<size_t>(r.first), static_cast<size_t>(r.count)), all_logits);
    interp.finish();
    if (on_logits && (all_logits || last_batch))
      on_logits(interp.logits(), interp.logit_rows(), interp.n_past() - interp.logit_rows());
  }
}

const float* decode(Interpreter& interp, int32_t token) {
  if (interp.n_past() >= interp.n_ctx())
    fail("decoding past the context of ", interp.n_ctx(), " positions (use --ctx to raise it)");
  const int32_t one[1] = {token};
  interp.begin(one, false);
  interp.finish();
  return interp.logits() + (interp.logit_rows() - 1) * interp.model().config.d_vocab;
}

GenerateResult generate(Interpreter& interp, std::span<const int32_t> prompt, const GenerateOptions& options) {
  const Model& model = interp.model();
  const Tokenizer* tok = model.tokenizer.get();
  if (tok == nullptr) fail(model.path, ": no tokenizer found for this model; pass --tokenizer FILE");
  const int64_t d_vocab = model.config.d_vocab;
  GenerateResult result;
  result.tokens.assign(prompt.begin(), prompt.end());
  result.n_prompt = static_cast<int64_t>(prompt.size());
  Sampler sampler(options.sampler, d_vocab);
  std::vector<float> logits(static_cast<size_t>(d_vocab));
  const bool llama2c_print = options.sampler.kind == SamplerKind::Llama2c;
  Utf8Stream stream;
  int32_t prev = -1;
  auto emit = [&](int32_t token) {
    if (token == model.config.bos_id) {  // never printed, as in run.c and llama.cpp
      prev = token;
      return;
    }
    std::string piece = tok->token_bytes(token);
    if (prev == model.config.bos_id && tok->strips_leading_space() && !piece.empty() && piece[0] == ' ')
      piece.erase(0, 1);
    prev = token;
    if (llama2c_print) {
      // run.c's safe_printf: a lone byte that is neither printable nor white space is dropped.
      if (piece.size() == 1 &&
          !(std::isprint(static_cast<unsigned char>(piece[0])) || std::isspace(static_cast<unsigned char>(piece[0]))))
        return;
    } else {
      piece = stream.push(piece);
    }
    if (piece.empty()) return;
    result.text += piece;
    if (options.on_text) options.on_text(piece);
  };
  for (int32_t t : prompt) emit(t);
  const auto t0 = std::chrono::steady_clock::now();
  forward(interp, prompt, false, [&](const float* l, int64_t rows, int64_t) {
    std::copy_n(l + (rows - 1) * d_vocab, d_vocab, logits.data());
  });
  const auto t1 = std::chrono::steady_clock::now();
  result.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
  result.stop = StopReason::Length;
  for (int64_t k = 0; k < options.n_predict; ++k) {
    const int32_t next = sampler.sample(logits.data());
    if (const std::optional<StopReason> stop = stops_generation(model.config, next)) {
      result.stop = *stop;
      break;
    }
    result.tokens.push_back(next);
    emit(next);
    if (k + 1 == options.n_predict) break;
    if (interp.n_past() >= interp.n_ctx()) {
      result.stop = StopReason::ContextFull;
      break;
    }
    std::copy_n(decode(interp, next), d_vocab, logits.data());
  }
  result.generate_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  if (!llama2c_print) {
    std::string rest = stream.flush();
    if (!rest.empty()) {
      result.text += rest;
      if (options.on_text) options.on_text(rest);
    }
  }
  return result;
}

}  // namespace loupe
