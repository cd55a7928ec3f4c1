// Splits text around special tokens written in it, the way llama.cpp does
// (tokenizer_st_partition): the longest token first, each taking all of its occurrences in the
// text still unclaimed, then the next. Control and unknown tokens take part only with
// parse_special; user-defined tokens always do. A trie pass first finds which tokens occur at all,
// so text without special tokens costs one linear scan.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loupe {

struct Fragment {
  int32_t token = -1;  // >= 0: a special token; -1: raw text [offset, offset + length)
  size_t offset = 0;
  size_t length = 0;
};

struct SpecialToken {
  int32_t id = -1;
  std::string text;
  bool control = false;  // matched only with parse_special
  bool lstrip = false;   // drops ASCII whitespace just left of a match
  bool rstrip = false;   // drops ASCII whitespace just right of a match
};

class SpecialTokenSplitter {
 public:
  SpecialTokenSplitter() = default;
  explicit SpecialTokenSplitter(std::vector<SpecialToken> tokens);

  bool empty() const { return tokens_.empty(); }
  std::vector<Fragment> split(std::string_view text, bool parse_special) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t token = -1;                                 // index into tokens_
  };
  int32_t child(int32_t node, uint8_t byte) const;

  std::vector<SpecialToken> tokens_;  // priority order: longest first, then lowest id
  std::vector<Node> trie_;
};

}  // namespace loupe
