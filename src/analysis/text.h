// Token text for reports: pieces joined into valid UTF-8 (an incomplete or invalid sequence
// becomes U+FFFD), control tokens as their text ("<s>"). Results carry it raw (JSON escapes it
// itself); a terminal line or a table cell shows it escaped (\n, \t), a picture's label visible
// (spaces as ␣ too, so " the" and "the" differ at a glance).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace loupe {
class Tokenizer;
}

namespace loupe::analysis {

enum class TextForm : uint8_t {
  Raw,      // the text itself
  Escaped,  // \n, \r, \t and other control characters written as "\\n", "\\x01", ...
  Visible,  // escaped, and spaces shown as ␣
};

// Raw text in another form.
std::string text_form(std::string_view raw, TextForm form);

// The text of tokens as one valid UTF-8 string.
std::string tokens_text(const Tokenizer& tok, std::span<const int32_t> tokens, TextForm form = TextForm::Raw);

// The text of up to n tokens before position end (exclusive).
std::string context_before(const Tokenizer& tok, std::span<const int32_t> tokens, int64_t end, int64_t n,
                           TextForm form = TextForm::Raw);

}  // namespace loupe::analysis

namespace loupe {
struct Model;
}

namespace loupe::analysis {

// The text of one token for reports (as tokens_text), or its decimal id when the model has no
// tokenizer.
std::string token_text(const Model& model, int32_t id, TextForm form = TextForm::Raw);

// A token named on the command line: a decimal id, or text that encodes to exactly one token
// (without BOS). flag names the option in errors.
int32_t parse_token(const Model& model, const std::string& spec, const std::string& flag);

}  // namespace loupe::analysis
