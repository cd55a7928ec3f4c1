// Special-token partitioning of input text.
#include "tokenizer/special_tokens.h"

#include <algorithm>
#include <list>

namespace loupe {
namespace {

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

}  // namespace

SpecialTokenSplitter::SpecialTokenSplitter(std::vector<SpecialToken> tokens) : tokens_(std::move(tokens)) {
  tokens_.erase(std::remove_if(tokens_.begin(), tokens_.end(), [](const SpecialToken& t) { return t.text.empty(); }),
                tokens_.end());
  std::stable_sort(tokens_.begin(), tokens_.end(), [](const SpecialToken& a, const SpecialToken& b) {
    if (a.text.size() != b.text.size()) return a.text.size() > b.text.size();
    return a.id < b.id;
  });
  trie_.emplace_back();
  for (size_t t = 0; t < tokens_.size(); ++t) {
    int32_t node = 0;
    for (char c : tokens_[t].text) {
      const uint8_t byte = static_cast<uint8_t>(c);
      int32_t next = child(node, byte);
      if (next < 0) {
        next = static_cast<int32_t>(trie_.size());
        trie_.emplace_back();
        auto& children = trie_[static_cast<size_t>(node)].children;
        children.insert(std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{0})),
                        {byte, next});
      }
      node = next;
    }
    if (trie_[static_cast<size_t>(node)].token < 0) trie_[static_cast<size_t>(node)].token = static_cast<int32_t>(t);
  }
}

int32_t SpecialTokenSplitter::child(int32_t node, uint8_t byte) const {
  const auto& children = trie_[static_cast<size_t>(node)].children;
  auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{0}));
  return it != children.end() && it->first == byte ? it->second : -1;
}

std::vector<Fragment> SpecialTokenSplitter::split(std::string_view text, bool parse_special) const {
  std::vector<Fragment> out;
  if (text.empty()) return out;
  if (tokens_.empty()) {
    out.push_back({-1, 0, text.size()});
    return out;
  }

  // Which tokens occur anywhere in the text (duplicate texts: the trie keeps the first).
  std::vector<bool> occurs(tokens_.size(), false);
  size_t n_occurring = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    int32_t node = 0;
    for (size_t j = i; j < text.size(); ++j) {
      node = child(node, static_cast<uint8_t>(text[j]));
      if (node < 0) break;
      const int32_t t = trie_[static_cast<size_t>(node)].token;
      if (t >= 0 && !occurs[static_cast<size_t>(t)] && (parse_special || !tokens_[static_cast<size_t>(t)].control)) {
        occurs[static_cast<size_t>(t)] = true;
        ++n_occurring;
      }
    }
  }

  std::list<Fragment> fragments{{-1, 0, text.size()}};
  if (n_occurring > 0) {
    for (size_t t = 0; t < tokens_.size(); ++t) {
      if (!occurs[t]) continue;
      const SpecialToken& tok = tokens_[t];
      for (auto it = fragments.begin(); it != fragments.end();) {
        if (it->token >= 0) {
          ++it;
          continue;
        }
        size_t base = it->offset;
        size_t length = it->length;
        // The pieces this fragment becomes, in order.
        std::vector<Fragment> pieces;
        while (length > 0) {
          const size_t match = text.substr(0, base + length).find(tok.text, base);
          if (match == std::string_view::npos) break;
          size_t left_length = match - base;
          if (tok.lstrip)
            while (left_length > 0 && is_ascii_space(text[base + left_length - 1])) --left_length;
          if (left_length > 0) pieces.push_back({-1, base, left_length});
          pieces.push_back({tok.id, match, tok.text.size()});
          size_t right = match + tok.text.size();
          size_t right_length = base + length - right;
          if (tok.rstrip)
            while (right_length > 0 && is_ascii_space(text[right])) {
              ++right;
              --right_length;
            }
          base = right;
          length = right_length;
        }
        if (pieces.empty()) {
          ++it;
          continue;
        }
        if (length > 0) pieces.push_back({-1, base, length});
        it = fragments.erase(it);
        fragments.insert(it, pieces.begin(), pieces.end());
      }
    }
  }
  out.assign(fragments.begin(), fragments.end());
  return out;
}

}  // namespace loupe
