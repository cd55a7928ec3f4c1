// Rank-ordered BPE merging of one word (GPT-2 / llama.cpp "gpt2" vocab / Hugging Face BPE): the
// adjacent pair with the lowest merge rank is joined first, leftmost on ties, with a priority
// queue. Symbols are ids: vocabulary ids, plus extra ids for merge parts that are not tokens.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/vocab.h"
#include "tokenizer/word_cache.h"

namespace loupe {

// What becomes of a character (or merged symbol) that is not a vocabulary token.
struct BpeUnknownPolicy {
  // llama.cpp: a final symbol that is not a token becomes the tokens of its single bytes, where
  // those exist (others are dropped).
  bool llamacpp_bytes = true;
  // Hugging Face: an unknown character becomes its <0xXX> byte tokens (byte_fallback), else unk.
  bool byte_fallback = false;
  int32_t unk_id = -1;
  bool fuse_unk = false;
};

class BpeModel {
 public:
  // merges in rank order; what names the source in errors.
  BpeModel(const Vocab& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           BpeUnknownPolicy unknowns, bool ignore_merges);
  // Merges already as vocabulary ids {left, right, joined}, in rank order (a tokenizer.json's:
  // every part is a token).
  BpeModel(const Vocab& vocab, const std::vector<std::array<int32_t, 3>>& merge_ids, BpeUnknownPolicy unknowns,
           bool ignore_merges);

  // Encodes one word (already in the vocabulary's alphabet, e.g. byte-level mapped) and appends
  // the ids. Results of short words are cached.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  int32_t symbol_id(std::string_view s) const;
  int32_t intern(const std::string& s);
  void encode_uncached(std::string_view word, std::vector<int32_t>& out) const;
  void find_byte_tokens();

  const Vocab& vocab_;
  BpeUnknownPolicy unknowns_;
  bool ignore_merges_ = false;
  TokenMap extra_ids_;                          // merge parts that are not tokens -> n_vocab + i
  std::vector<std::string> extra_text_;         // [n_extra]
  std::unordered_map<uint64_t, Merge> merges_;  // (left, right) -> rank, joined symbol
  std::vector<int32_t> byte_token_;             // [256] <0xXX> ids for byte fallback, -1 when absent

  WordCache cache_;
};

}  // namespace loupe
