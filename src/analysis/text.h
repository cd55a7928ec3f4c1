// Token text for reports: pieces joined into valid UTF-8 (an incomplete or invalid sequence
// becomes U+FFFD), control tokens dropped, and line breaks / tabs shown as visible escapes.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace loupe {
class Tokenizer;
}

namespace loupe::analysis {

// The text of tokens, as one valid UTF-8 string with \n, \r and \t written as "\\n" etc.
std::string tokens_text(const Tokenizer& tok, std::span<const int32_t> tokens);

// The text of up to n tokens before position end (exclusive).
std::string context_before(const Tokenizer& tok, std::span<const int32_t> tokens, int64_t end, int64_t n);

}  // namespace loupe::analysis

namespace loupe {
struct Model;
}

namespace loupe::analysis {

// The text of one token for reports (as tokens_text), or its decimal id when the model has no
// tokenizer.
std::string token_text(const Model& model, int32_t id);

// A token named on the command line: a decimal id, or text that encodes to exactly one token
// (without BOS). flag names the option in errors.
int32_t parse_token(const Model& model, const std::string& spec, const std::string& flag);

}  // namespace loupe::analysis
