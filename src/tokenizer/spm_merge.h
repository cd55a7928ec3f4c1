// SentencePiece-style merging by score (what llama.cpp's SPM tokenizer and llama2.c's encode()
// do): repeatedly join the two adjacent symbols whose concatenation is the best-scoring
// vocabulary piece, leftmost on ties. A priority queue keeps it O(n log n).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace loupe {

struct SymbolSpan {
  uint32_t offset = 0;
  uint32_t length = 0;
};

// text is cut into initial symbols of the given byte lengths (they must add up to text.size()).
// Only pieces scoring strictly above min_score are merged (llama2.c ignores scores <= -1e10);
// -infinity means no floor.
std::vector<SymbolSpan> spm_merge(std::string_view text, const std::vector<uint32_t>& lengths, const Vocab& vocab,
                                  float min_score);

}  // namespace loupe

namespace loupe {

// Whether text can be merged word by word: true when no vocabulary piece holds `space` right
// after another character ("a▁" or "a▁b"). Then no merge crosses the start of a run of spaces
// that follows other text, and the words between such starts merge independently (same result,
// far cheaper, and cacheable).
bool pieces_respect_word_starts(const Vocab& vocab, std::string_view space);
// The same for one piece.
bool piece_respects_word_starts(std::string_view piece, std::string_view space);

// Calls fn with each word of text, in order, without allocating: a word starts at 0 and at
// every run of `space` that follows other text.
template <typename Fn>
void for_each_word(std::string_view text, std::string_view space, Fn&& fn) {
  size_t begin = 0;
  for (size_t pos = text.find(space, 1); pos != std::string_view::npos; pos = text.find(space, pos + 1)) {
    const bool after_space = pos >= space.size() && text.compare(pos - space.size(), space.size(), space) == 0;
    if (after_space) continue;
    fn(text.substr(begin, pos - begin));
    begin = pos;
  }
  if (begin < text.size()) fn(text.substr(begin));
}

}  // namespace loupe
