// A compiled PCRE2 pattern (UTF + UCP, JIT where available) for the pre-tokenizers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace loupe {

// PCRE2 compile options the callers use (values from pcre2.h, checked in regex.cpp).
constexpr uint32_t kRegexLiteral = 0x02000000u;        // PCRE2_LITERAL
constexpr uint32_t kRegexDollarEndOnly = 0x00000010u;  // PCRE2_DOLLAR_ENDONLY: '$' only at the very end

class Regex {
 public:
  // Options: extra PCRE2 compile options (e.g. PCRE2_LITERAL, PCRE2_DOLLAR_ENDONLY). Throws Error
  // naming `what` and the offset in the pattern when it does not compile.
  Regex(std::string_view pattern, uint32_t options, const std::string& what);

  // Finds the first match in subject (valid UTF-8) at or after byte `start`. Empty matches are
  // allowed; after one at p, search again with not_empty_at_start. Returns false when none.
  bool find(std::string_view subject, size_t start, bool not_empty_at_start_anchored, size_t& match_begin,
            size_t& match_end) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::shared_ptr<Code> code_;
  std::string pattern_;
};

}  // namespace loupe
