// PCRE2 wrapper. Match data and the JIT stack are per thread, so one Regex serves many threads.
#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

#include "core/error.h"

namespace loupe {

static_assert(kRegexLiteral == PCRE2_LITERAL && kRegexDollarEndOnly == PCRE2_DOLLAR_ENDONLY);

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return std::string(reinterpret_cast<const char*>(buffer));
}

// Per-thread match resources: a match context with a large JIT stack, and match data big enough
// for any of our patterns' capture groups.
struct ThreadMatchState {
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  pcre2_match_data* data = nullptr;
  uint32_t data_pairs = 0;

  ThreadMatchState() {
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    if (context != nullptr && jit_stack != nullptr) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~ThreadMatchState() {
    pcre2_match_data_free(data);
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
  }
  pcre2_match_data* data_for(const pcre2_code* code) {
    uint32_t captures = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &captures);
    if (data == nullptr || data_pairs < captures + 1) {
      pcre2_match_data_free(data);
      data_pairs = std::max<uint32_t>(captures + 1, 16);
      data = pcre2_match_data_create(data_pairs, nullptr);
    }
    return data;
  }
};

ThreadMatchState& thread_state() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

Regex::Regex(std::string_view pattern, uint32_t options, const std::string& what) : pattern_(pattern) {
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  // PCRE2_LITERAL allows no UCP (nor any other pattern option).
  const uint32_t unicode = (options & PCRE2_LITERAL) != 0 ? PCRE2_UTF : PCRE2_UTF | PCRE2_UCP;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), unicode | options,
                                   &error, &error_offset, nullptr);
  if (code == nullptr)
    fail(what, ": regex does not compile at offset ", error_offset, ": ", pcre2_message(error), " (pattern \"", pattern,
         "\")");
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is missing
  code_ = std::make_shared<Code>();
  code_->code = code;
}

bool Regex::find(std::string_view subject, size_t start, bool not_empty_at_start_anchored, size_t& match_begin,
                 size_t& match_end) const {
  ThreadMatchState& state = thread_state();
  pcre2_match_data* data = state.data_for(code_->code);
  uint32_t options = PCRE2_NO_UTF_CHECK;
  if (not_empty_at_start_anchored) options |= PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED;
  const int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), start, options,
                             data, state.context);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) fail("regex \"", pattern_, "\": match failed: ", pcre2_message(rc));
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
  match_begin = ovector[0];
  match_end = ovector[1];
  if (match_end < match_begin) match_end = match_begin;  // \K tricks; not used by tokenizers
  return true;
}

}  // namespace loupe
