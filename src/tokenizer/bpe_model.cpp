// BPE merging with a priority queue over a linked list of symbols.
#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <queue>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace loupe {

BpeModel::BpeModel(const Vocab& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeUnknownPolicy unknowns, bool ignore_merges)
    : vocab_(vocab), unknowns_(unknowns), ignore_merges_(ignore_merges) {
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const int32_t left = intern(a);
    const int32_t right = intern(b);
    const int32_t result = intern(a + b);
    merges_.emplace(pair_key(left, right), Merge{static_cast<int32_t>(rank), result});  // first rank wins
  }
  find_byte_tokens();
}

BpeModel::BpeModel(const Vocab& vocab, const std::vector<std::array<int32_t, 3>>& merge_ids, BpeUnknownPolicy unknowns,
                   bool ignore_merges)
    : vocab_(vocab), unknowns_(unknowns), ignore_merges_(ignore_merges) {
  merges_.reserve(merge_ids.size());
  for (size_t rank = 0; rank < merge_ids.size(); ++rank) {
    const auto [left, right, result] = merge_ids[rank];
    merges_.emplace(pair_key(left, right), Merge{static_cast<int32_t>(rank), result});  // first rank wins
  }
  find_byte_tokens();
}

void BpeModel::find_byte_tokens() {
  byte_token_.assign(256, -1);
  static const char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const char name[7] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>', 0};
    byte_token_[static_cast<size_t>(b)] = vocab_.find(name);
  }
}

int32_t BpeModel::symbol_id(std::string_view s) const {
  const int32_t id = vocab_.find(s);
  if (id >= 0) return id;
  auto it = extra_ids_.find(s);
  return it == extra_ids_.end() ? -1 : it->second;
}

int32_t BpeModel::intern(const std::string& s) {
  const int32_t id = symbol_id(s);
  if (id >= 0) return id;
  const int32_t extra = vocab_.size() + static_cast<int32_t>(extra_text_.size());
  extra_text_.push_back(s);
  extra_ids_.emplace(s, extra);
  return extra;
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  const bool cacheable = WordCache::cacheable(word);
  if (cacheable && cache_.lookup(word, out)) return;
  const size_t before = out.size();
  encode_uncached(word, out);
  if (cacheable) cache_.store(word, out.data() + before, out.size() - before);
}

namespace {

struct Symbol {
  int32_t id;       // symbol id, -1 when the text is in neither the vocabulary nor the merges
  uint32_t offset;  // bytes of the word it covers
  uint32_t length;
  int32_t prev;
  int32_t next;
  bool alive;
};

struct Candidate {
  int32_t rank;
  int32_t left;  // symbol index
  int32_t right;
  int32_t left_id;
  int32_t right_id;
  int32_t result;
};

struct CandidateOrder {
  bool operator()(const Candidate& a, const Candidate& b) const {
    if (a.rank != b.rank) return a.rank > b.rank;  // lowest rank on top
    return a.left > b.left;                        // then leftmost
  }
};

}  // namespace

void BpeModel::encode_uncached(std::string_view word, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    const int32_t whole = vocab_.find(word);
    if (whole >= 0) {
      out.push_back(whole);
      return;
    }
  }

  // Initial symbols: one per UTF-8 character (Hugging Face: unknown ones by byte fallback / unk).
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  const auto push = [&](int32_t id, size_t offset, size_t length) {
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, static_cast<uint32_t>(offset), static_cast<uint32_t>(length), index - 1, index + 1, true});
  };
  size_t pos = 0;
  while (pos < word.size()) {
    const size_t n = std::min(utf8::sequence_length(static_cast<uint8_t>(word[pos])), word.size() - pos);
    const std::string_view ch = word.substr(pos, n);
    const int32_t id = symbol_id(ch);
    if (id >= 0 || unknowns_.llamacpp_bytes) {
      push(id, pos, n);
    } else {
      bool done = false;
      if (unknowns_.byte_fallback) {
        bool all = true;
        for (char c : ch) all = all && byte_token_[static_cast<uint8_t>(c)] >= 0;
        if (all) {
          for (size_t i = 0; i < n; ++i) push(byte_token_[static_cast<uint8_t>(ch[i])], pos + i, 1);
          done = true;
        }
      }
      if (!done && unknowns_.unk_id >= 0) {
        if (unknowns_.fuse_unk && !symbols.empty() && symbols.back().id == unknowns_.unk_id) {
          symbols.back().length += static_cast<uint32_t>(n);
        } else {
          push(unknowns_.unk_id, pos, n);
        }
      }
      // Neither byte fallback nor unk: the character is dropped, as Hugging Face does.
    }
    pos += n;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;
  // Re-link: fused / dropped characters leave indices consistent since we pushed in order.
  for (size_t i = 0; i < symbols.size(); ++i) {
    symbols[i].prev = static_cast<int32_t>(i) - 1;
    symbols[i].next = i + 1 < symbols.size() ? static_cast<int32_t>(i + 1) : -1;
  }

  std::priority_queue<Candidate, std::vector<Candidate>, CandidateOrder> queue;
  const auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t a = symbols[static_cast<size_t>(left)].id;
    const int32_t b = symbols[static_cast<size_t>(right)].id;
    if (a < 0 || b < 0) return;
    auto it = merges_.find(pair_key(a, b));
    if (it == merges_.end()) return;
    queue.push({it->second.rank, left, right, a, b, it->second.result});
  };
  for (size_t i = 1; i < symbols.size(); ++i) consider(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& l = symbols[static_cast<size_t>(top.left)];
    Symbol& r = symbols[static_cast<size_t>(top.right)];
    if (!l.alive || !r.alive || l.next != top.right || l.id != top.left_id || r.id != top.right_id) continue;
    l.id = top.result;
    l.length += r.length;
    r.alive = false;
    l.next = r.next;
    if (r.next >= 0) symbols[static_cast<size_t>(r.next)].prev = top.left;
    consider(l.prev, top.left);
    consider(top.left, l.next);
  }

  for (int32_t i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    if (s.id >= 0 && s.id < vocab_.size()) {
      out.push_back(s.id);
      continue;
    }
    // Not a token (llama.cpp): the tokens of its single bytes, where they exist.
    for (char c : word.substr(s.offset, s.length)) {
      const int32_t id = vocab_.find(std::string_view(&c, 1));
      if (id >= 0) out.push_back(id);
    }
  }
}

}  // namespace loupe
