// Pre-tokenizers: cut a text fragment into the words that BPE then encodes separately. Each step
// refines the pieces of the step before (llama.cpp applies several regexes in sequence; Hugging
// Face tokenizer.json has Sequence / Split / ByteLevel / Metaspace / Digits / Whitespace).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/function_ref.h"
#include "tokenizer/regex.h"

namespace loupe {

// What Split does with the matches (names as in Hugging Face tokenizers).
enum class SplitBehavior { Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous };

class PreTokenizer {
 public:
  // Cuts each piece at the matches of a regex (or a literal string when literal is set).
  void add_split(std::string_view pattern, bool literal, SplitBehavior behavior, bool invert, uint32_t extra_options,
                 const std::string& what);
  // Hugging Face ByteLevel: optional prefix space, then (use_regex) the GPT-2 split. The byte to
  // unicode mapping itself is done by the BPE model.
  void add_byte_level(bool add_prefix_space, bool use_regex, const std::string& what);
  // Hugging Face Metaspace: spaces become `replacement`, which is prepended ("always", or "first"
  // for the first fragment of the input only) and, with split, starts each word.
  void add_metaspace(std::string replacement, std::string prepend_scheme, bool split, const std::string& what);
  // Hugging Face Digits: digits cut out one by one (individual) or as runs.
  void add_digits(bool individual, const std::string& what);
  // Hugging Face WhitespaceSplit (split_on_whitespace) and Whitespace (\w+|[^\w\s]+).
  void add_whitespace_split(const std::string& what);
  void add_whitespace(const std::string& what);

  bool empty() const { return steps_.empty(); }

  // Calls emit with each word of text, in order, as the steps cut it (depth first: memory does
  // not grow with the text). first_fragment: the text starts the input (not right after a
  // special token). A word is valid only during its call.
  using Emit = FunctionRef<void(std::string_view)>;
  void for_each(std::string_view text, bool first_fragment, const Emit& emit) const;
  // The words as strings (tests, small inputs).
  std::vector<std::string> run(std::string_view text, bool first_fragment) const;

 private:
  enum class Kind { Split, PrefixSpace, Metaspace };
  struct Step {
    Kind kind = Kind::Split;
    std::vector<Regex> regex;  // Split: exactly one
    SplitBehavior behavior = SplitBehavior::Isolated;
    bool invert = false;
    std::string replacement;     // Metaspace
    std::string prepend_scheme;  // Metaspace: always, first, never
    bool split = true;           // Metaspace
  };
  static void split_piece(const Regex& regex, SplitBehavior behavior, bool invert, std::string_view piece,
                          const Emit& emit);
  void walk(size_t index, std::string_view piece, bool first_fragment, std::vector<char>& seen, const Emit& emit) const;
  std::vector<Step> steps_;
};

// The regexes llama.cpp applies for a GGUF tokenizer.ggml.pre value, in order. Throws Error
// naming the value when it is unknown. ignore_merges is set where llama.cpp sets it.
std::vector<std::string> llamacpp_pre_regexes(const std::string& pre, bool& ignore_merges);

// The GPT-2 pre-tokenizer regex (Hugging Face ByteLevel with use_regex).
extern const char* const kGpt2Regex;

}  // namespace loupe
