#include "analysis/text.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace loupe::analysis {

std::string text_form(std::string_view raw, TextForm form) {
  if (form == TextForm::Raw) return std::string(raw);
  std::string out;
  out.reserve(raw.size());
  for (char c : raw) {
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case ' ': out += form == TextForm::Visible ? "\u2423" : " "; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\x%02x", static_cast<unsigned char>(c));
          out += esc;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string tokens_text(const Tokenizer& tok, std::span<const int32_t> tokens, TextForm form) {
  Utf8Stream stream;
  std::string raw;
  for (int32_t t : tokens) {
    const std::string bytes = tok.token_bytes(t);
    raw += bytes.empty() ? stream.push(tok.token_text(t)) : stream.push(bytes);  // control tokens: "<s>"
  }
  raw += stream.flush();
  return text_form(raw, form);
}

std::string context_before(const Tokenizer& tok, std::span<const int32_t> tokens, int64_t end, int64_t n,
                           TextForm form) {
  const int64_t begin = std::max<int64_t>(0, end - n);
  return tokens_text(tok, tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(end - begin)), form);
}

std::string token_text(const Model& model, int32_t id, TextForm form) {
  const int32_t one[1] = {id};
  return model.tokenizer != nullptr ? tokens_text(*model.tokenizer, one, form) : std::to_string(id);
}

int32_t parse_token(const Model& model, const std::string& spec, const std::string& flag) {
  if (spec.empty()) fail(flag, ": empty token");
  if (std::all_of(spec.begin(), spec.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (spec.size() > 9 || std::stoll(spec) >= model.config.d_vocab)
      fail(flag, ": token id ", spec, " is out of range (vocabulary of ", model.config.d_vocab, ")");
    return static_cast<int32_t>(std::stoll(spec));
  }
  if (!model.tokenizer) fail(flag, ": '", spec, "' is text but the model has no tokenizer; give a token id");
  // First the vocabulary: the token whose text is exactly this (" Lily" is one token even where
  // encoding " Lily" alone would split it differently); where several decode to it (a byte token
  // and a piece), the one encoding gives, else the lowest id.
  const Tokenizer& tok = *model.tokenizer;
  std::vector<int32_t> ids = tok.encode(spec, false);
  std::vector<int32_t> exact;
  for (int32_t id = 0; id < tok.n_vocab(); ++id)
    if (tok.token_bytes(id) == spec || tok.token_text(id) == spec) exact.push_back(id);
  if (exact.size() == 1) return exact[0];
  if (exact.size() > 1) {
    if (ids.size() == 1 && std::find(exact.begin(), exact.end(), ids[0]) != exact.end()) return ids[0];
    return exact[0];
  }
  if (ids.size() != 1) {
    std::string list;
    for (int32_t id : ids) list += (list.empty() ? "" : " ") + std::to_string(id);
    fail(flag, ": '", spec, "' is ", ids.size(), " tokens (", list, "); give one token or its id");
  }
  return ids[0];
}

}  // namespace loupe::analysis
