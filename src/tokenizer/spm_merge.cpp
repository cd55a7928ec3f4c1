// Score-ordered bigram merging over a linked list of symbols.
#include "tokenizer/spm_merge.h"

#include <limits>
#include <queue>

#include "core/error.h"

namespace loupe {
namespace {

struct Symbol {
  uint32_t offset;
  uint32_t length;
  bool alive;  // false once merged into its left neighbour
  int32_t prev;
  int32_t next;
};

struct Bigram {
  float score;
  int32_t left;
  int32_t right;
  uint32_t length;  // bytes of the joined piece, to detect stale entries
};

struct BigramOrder {
  // priority_queue puts the "largest" on top: best score, then the leftmost.
  bool operator()(const Bigram& a, const Bigram& b) const {
    if (a.score != b.score) return a.score < b.score;
    return a.left > b.left;
  }
};

}  // namespace

std::vector<SymbolSpan> spm_merge(std::string_view text, const std::vector<uint32_t>& lengths, const Vocab& vocab,
                                  float min_score) {
  std::vector<Symbol> symbols;
  symbols.reserve(lengths.size());
  uint32_t offset = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    const int32_t idx = static_cast<int32_t>(i);
    symbols.push_back({offset, lengths[i], true, idx - 1, i + 1 == lengths.size() ? -1 : idx + 1});
    offset += lengths[i];
  }
  LOUPE_ASSERT(offset == text.size(), "symbol lengths add up to ", offset, ", text has ", text.size(), " bytes");

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  const auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const uint32_t length = l.length + r.length;
    const int32_t id = vocab.find(text.substr(l.offset, length));
    if (id < 0) return;
    const float score = vocab.score[static_cast<size_t>(id)];
    if (min_score != -std::numeric_limits<float>::infinity() && !(score > min_score)) return;
    queue.push({score, left, right, length});
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

  while (!queue.empty()) {
    const Bigram top = queue.top();
    queue.pop();
    Symbol& l = symbols[static_cast<size_t>(top.left)];
    Symbol& r = symbols[static_cast<size_t>(top.right)];
    if (!l.alive || !r.alive || l.length + r.length != top.length) continue;  // stale
    l.length += r.length;
    r.alive = false;
    l.next = r.next;
    if (r.next >= 0) symbols[static_cast<size_t>(r.next)].prev = top.left;
    try_add(l.prev, top.left);
    try_add(top.left, l.next);
  }

  std::vector<SymbolSpan> out;
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[static_cast<size_t>(i)].next)
    out.push_back({symbols[static_cast<size_t>(i)].offset, symbols[static_cast<size_t>(i)].length});
  return out;
}

}  // namespace loupe

namespace loupe {

bool piece_respects_word_starts(std::string_view piece, std::string_view space) {
  for (size_t pos = piece.find(space, 1); pos != std::string_view::npos; pos = piece.find(space, pos + 1)) {
    const bool after_space = pos >= space.size() && piece.compare(pos - space.size(), space.size(), space) == 0;
    if (!after_space) return false;
  }
  return true;
}

bool pieces_respect_word_starts(const Vocab& vocab, std::string_view space) {
  for (const std::string& piece : vocab.text)
    if (!piece_respects_word_starts(piece, space)) return false;
  return true;
}

}  // namespace loupe
