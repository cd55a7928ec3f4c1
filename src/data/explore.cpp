// explore(): the streaming pass (phases A, B, C as described in explore.h).
#include "data/explore.h"

#include <algorithm>
#include <cstring>
#include <future>
#include <unordered_set>

#include "core/error.h"
#include "core/thread_pool.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace loupe::data {

namespace {

constexpr size_t kBatchBytesPerThread = size_t{1} << 20;
constexpr size_t kMaxProblems = 100;
constexpr size_t kLengthExamples = kMaxExamples / 2;
const char* const kReplacement = "\xEF\xBF\xBD";

const char* const kStopWords[] = {
    "a",       "about",  "above", "after",      "again",    "against",    "all",     "am",        "an",    "and",
    "any",     "are",    "as",    "at",         "be",       "because",    "been",    "before",    "being", "below",
    "between", "both",   "but",   "by",         "can",      "could",      "did",     "do",        "does",  "doing",
    "down",    "during", "each",  "few",        "for",      "from",       "further", "had",       "has",   "have",
    "having",  "he",     "her",   "here",       "hers",     "herself",    "him",     "himself",   "his",   "how",
    "i",       "if",     "in",    "into",       "is",       "it",         "its",     "itself",    "just",  "me",
    "more",    "most",   "my",    "myself",     "no",       "nor",        "not",     "now",       "of",    "off",
    "on",      "once",   "only",  "or",         "other",    "our",        "ours",    "ourselves", "out",   "over",
    "own",     "same",   "she",   "should",     "so",       "some",       "such",    "than",      "that",  "the",
    "their",   "theirs", "them",  "themselves", "then",     "there",      "these",   "they",      "this",  "those",
    "through", "to",     "too",   "under",      "until",    "up",         "very",    "was",       "we",    "were",
    "what",    "when",   "where", "which",      "while",    "who",        "whom",    "why",       "will",  "with",
    "would",   "you",    "your",  "yours",      "yourself", "yourselves",
};

// Longest/shortest candidates: keep the best k by (characters, then location) in a small vector.
void offer(std::vector<DocExample>& list, const DocExample& e, bool longest) {
  const auto better = [longest](const DocExample& a, const DocExample& b) {
    if (a.value != b.value) return longest ? a.value > b.value : a.value < b.value;
    return a.location < b.location;
  };
  if (list.size() == kLengthExamples && !better(e, list.back())) return;
  list.insert(std::upper_bound(list.begin(), list.end(), e, better), e);
  if (list.size() > kLengthExamples) list.pop_back();
}

// The first up to kSnippetBytes of valid UTF-8 text, cut at a code point boundary.
std::string snippet(std::string_view text) {
  if (text.size() <= kSnippetBytes) return std::string(text);
  size_t end = kSnippetBytes;
  while (end > 0 && (static_cast<uint8_t>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end)) + "...";
}

// Replaces invalid UTF-8 with U+FFFD; returns the number of invalid bytes and the first offset.
uint64_t sanitize(std::string& text, int64_t& first_bad) {
  first_bad = find_invalid_utf8(text);
  if (first_bad < 0) return 0;
  std::string out;
  out.reserve(text.size() + 8);
  uint64_t bad = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      out.push_back(text[pos++]);
      continue;
    }
    const size_t n = utf8::valid_sequence_length(text, pos);
    if (n == 0) {
      out += kReplacement;
      ++bad;
      ++pos;
    } else {
      out.append(text, pos, n);
      pos += n;
    }
  }
  text.swap(out);
  return bad;
}

bool word_char(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
  const char c = unicode::category(cp);
  return c == 'L' || c == 'M' || c == 'N';
}
bool letter(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  return unicode::category(cp) == 'L';
}
bool number_char(uint32_t cp) {
  return cp < 0x80 ? (cp >= '0' && cp <= '9') : unicode::category(cp) == 'N';
}

bool is_url(std::string_view chunk) {
  if (chunk.rfind("www.", 0) == 0 && chunk.size() > 4) return true;
  const size_t p = chunk.find("://");
  if (p == std::string_view::npos || p == 0 || p + 3 >= chunk.size()) return false;
  for (size_t i = 0; i < p; ++i) {
    const char c = chunk[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
          c == '.'))
      return false;
  }
  return true;
}
bool is_email(std::string_view chunk) {
  const size_t at = chunk.find('@');
  if (at == std::string_view::npos || at == 0) return false;
  const size_t dot = chunk.find('.', at + 2);
  if (dot == std::string_view::npos || dot + 1 >= chunk.size()) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  return alnum(chunk[at - 1]) && alnum(chunk[at + 1]) && alnum(chunk[dot + 1]);
}

std::string fold(std::string_view word) {
  bool ascii = true;
  for (char c : word) ascii = ascii && static_cast<uint8_t>(c) < 0x80;
  if (!ascii) return unicode::lowercase(word);
  std::string s(word);
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return s;
}

// Per-batch, per-document scratch filled in phase A.
struct DocInfo {
  bool skip = false;  // a problem: not a document
  std::string problem;
  uint64_t hash = 0;
  BandKeys bands{};
  int64_t invalid_at = -1;
};

// What one thread gathers from its slice of a batch (phase A).
struct Slice {
  uint64_t documents = 0, characters = 0, bytes = 0, words = 0, lines = 0;
  uint64_t empty = 0, whitespace = 0, invalid_docs = 0, invalid_bytes = 0, controls = 0;
  uint64_t urls = 0, url_docs = 0, emails = 0, email_docs = 0, numbers = 0;
  uint64_t tokens = 0, byte_fallback = 0, unknown = 0, over_context = 0;
  std::array<uint64_t, kScriptCount> scripts{};
  LengthDistribution chars, words_len, tokens_len;
  std::vector<DocExample> longest, shortest;
  std::vector<uint64_t> token_counts;
};

// One thread's n-gram counts of its slice, already split by NgramTable partition so that phase
// B reads only the partition it merges. Kept across batches (reset, not freed). Used where a
// batch repeats its keys a lot (characters, word unigrams) and a small table stays in cache.
struct LocalTable {
  std::vector<StringCounter> parts{NgramTable::kPartitions};
  void add(uint64_t h, std::string_view key, uint64_t count, uint64_t first = 0) {
    parts[static_cast<size_t>(NgramTable::partition_of(h))].add(h, key, count, first);
  }
  void reset() {
    for (StringCounter& c : parts) c.reset();
  }
};

// One thread's n-gram occurrences of its slice, not aggregated: mostly distinct keys (word and
// token n-grams, n >= 2) are appended to per-partition lists, and phase B adds them to the
// tables one partition at a time (whose table then stays in cache). Keys are byte ranges of
// `text`, which holds each document's joined words (or token ids) once.
struct LocalOccurrences {
  struct Occurrence {
    uint64_t hash;
    uint64_t first;
    uint32_t offset, length;
  };
  std::vector<std::vector<Occurrence>> parts{NgramTable::kPartitions};
  void add(uint64_t h, uint64_t offset, uint64_t length, uint64_t first) {
    LOUPE_ASSERT(offset + length < (uint64_t{1} << 32), "batch text over 4 GiB");
    parts[static_cast<size_t>(NgramTable::partition_of(h))].push_back(
        {h, first, static_cast<uint32_t>(offset), static_cast<uint32_t>(length)});
  }
  void reset() {
    for (auto& p : parts) p.clear();
  }
};

// Counts of keys of at most 7 bytes (most character n-grams) without storing key bytes or
// hashing strings per occurrence: one or two ASCII bytes index an array, other keys are packed
// into one integer (length in the top byte) in a small table. Folded into a LocalTable (one
// hash_bytes per distinct key) at the end of the scan.
class SmallKeyCounter {
 public:
  static constexpr size_t kMaxBytes = 7;
  void add(std::string_view key) {
    const auto b0 = static_cast<uint8_t>(key[0]);
    if (key.size() == 1 && b0 < 0x80) {
      ++ascii1_[b0];
      return;
    }
    if (key.size() == 2 && (b0 | static_cast<uint8_t>(key[1])) < 0x80) {
      ++ascii2_[b0 | static_cast<size_t>(static_cast<uint8_t>(key[1])) << 7];
      return;
    }
    uint64_t packed = static_cast<uint64_t>(key.size()) << 56;
    for (size_t i = 0; i < key.size(); ++i) packed |= static_cast<uint64_t>(static_cast<uint8_t>(key[i])) << (8 * i);
    if ((used_ + 1) * 2 > slots_.size()) grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = mix64(packed) & mask;; i = (i + 1) & mask) {
      if (slots_[i].key == packed) {
        ++slots_[i].count;
        return;
      }
      if (slots_[i].key == 0) {
        slots_[i] = {packed, 1};
        ++used_;
        return;
      }
    }
  }
  // Moves every count into `to` and empties this counter (keeping its memory).
  void drain_into(LocalTable& to) {
    const auto put = [&to](std::string_view k, uint64_t c) { to.add(hash_bytes(k), k, c); };
    for (size_t b = 0; b < ascii1_.size(); ++b)
      if (ascii1_[b] != 0) {
        const char k = static_cast<char>(b);
        put(std::string_view(&k, 1), ascii1_[b]);
        ascii1_[b] = 0;
      }
    for (size_t b = 0; b < ascii2_.size(); ++b)
      if (ascii2_[b] != 0) {
        const char k[2] = {static_cast<char>(b & 0x7F), static_cast<char>(b >> 7)};
        put(std::string_view(k, 2), ascii2_[b]);
        ascii2_[b] = 0;
      }
    for (Slot& s : slots_) {
      if (s.key == 0) continue;
      char k[8];
      for (size_t i = 0; i < 8; ++i) k[i] = static_cast<char>((s.key >> (8 * i)) & 0xFF);
      put(std::string_view(k, static_cast<size_t>(s.key >> 56)), s.count);
      s = Slot{};
    }
    used_ = 0;
  }

 private:
  struct Slot {
    uint64_t key = 0;  // 0: empty (a packed key has a length >= 1)
    uint64_t count = 0;
  };
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{});
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.key == 0) continue;
      size_t i = mix64(s.key) & mask;
      while (slots_[i].key != 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  std::array<uint64_t, 128> ascii1_{};
  std::vector<uint64_t> ascii2_ = std::vector<uint64_t>(size_t{1} << 14, 0);
  std::vector<Slot> slots_;
  size_t used_ = 0;
};

struct LocalTables {
  LocalTable word_unigrams;
  std::vector<SmallKeyCounter> small_chars{kCharOrders};
  std::vector<LocalOccurrences> words{kWordOrders - 1};  // n = 2..
  std::vector<LocalTable> chars{kCharOrders};
  std::vector<LocalOccurrences> tokens{kTokenOrders - 1};  // n = 2..
  std::string word_text, token_text;                       // keys of the occurrences
  void reset() {
    word_unigrams.reset();
    for (LocalTable& t : chars) t.reset();
    for (auto* list : {&words, &tokens})
      for (LocalOccurrences& o : *list) o.reset();
    word_text.clear();
    token_text.clear();
  }
};

// Adds one thread's occurrences of a partition to a table, prefetching the slot of a key a few
// places ahead (the table is far larger than the cache until it becomes a sketch).
void add_occurrences(NgramTable& table, int p, const std::vector<LocalOccurrences::Occurrence>& list,
                     const std::string& text, uint64_t first_offset) {
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < list.size(); ++i) {
    if (i + kAhead < list.size()) table.prefetch(p, list[i + kAhead].hash);
    const LocalOccurrences::Occurrence& o = list[i];
    table.add(p, o.hash, std::string_view(text).substr(o.offset, o.length), 1, o.first + first_offset);
  }
}

class Scanner {
 public:
  Scanner(const ExploreOptions& o, const std::vector<uint8_t>& token_flags) : o_(o), token_flags_(token_flags) {
    for (const char* w : kStopWords) stop_.insert(w);
  }

  void scan(Record& rec, Format format, DocInfo& info, Slice& s, LocalTables& local) const {
    // Invalid UTF-8 is located in the record as read (the JSON line for JSONL).
    uint64_t bad = 0;
    if (format == Format::Jsonl) {
      std::string line = std::move(rec.text);
      bad = sanitize(line, info.invalid_at);
      std::string problem;
      if (!extract_jsonl(line, o_.field, rec.text, problem)) {
        info.skip = true;
        info.problem = problem;
        return;
      }
    } else {
      bad = sanitize(rec.text, info.invalid_at);
    }
    std::string& text = rec.text;
    if (bad) {
      ++s.invalid_docs;
      s.invalid_bytes += bad;
    }
    ++s.documents;
    s.bytes += text.size();
    const uint64_t location = pack_location(rec.source, rec.line);

    // One pass over code points: characters, scripts, controls, lines, words.
    uint64_t chars = 0;
    bool only_space = true;
    std::vector<std::pair<size_t, size_t>> words;  // byte ranges
    std::vector<bool> numeric;
    size_t word_start = std::string::npos;
    bool word_numeric = true;
    size_t char_starts[kCharOrders] = {0, 0, 0};  // byte starts of the last kCharOrders code points
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t start = pos;
      const uint32_t cp = utf8::next_code_point(text, pos);
      ++chars;
      if (cp == '\n') ++s.lines;
      ++s.scripts[static_cast<size_t>(script_of(cp))];
      if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || (cp >= 0x7F && cp <= 0x9F)) ++s.controls;
      const bool space = cp < 0x80 ? (cp == ' ' || (cp >= '\t' && cp <= '\r')) : unicode::is_whitespace(cp);
      if (!space) only_space = false;
      // character n-grams ending at this code point
      for (int k = kCharOrders - 1; k > 0; --k) char_starts[k] = char_starts[k - 1];
      char_starts[0] = start;
      for (int n = 1; n <= kCharOrders && static_cast<uint64_t>(n) <= chars; ++n) {
        const std::string_view g(text.data() + char_starts[n - 1], pos - char_starts[n - 1]);
        if (g.size() <= SmallKeyCounter::kMaxBytes)
          local.small_chars[static_cast<size_t>(n - 1)].add(g);
        else
          local.chars[static_cast<size_t>(n - 1)].add(hash_bytes(g), g, 1);
      }
      // words
      bool in_word = word_char(cp);
      if (!in_word && word_start != std::string::npos && (cp == '\'' || cp == 0x2019) && pos < text.size()) {
        size_t look = pos;
        const uint32_t next = utf8::next_code_point(text, look);
        size_t back = start;
        while (back > 0 && (static_cast<uint8_t>(text[back - 1]) & 0xC0) == 0x80) --back;
        size_t prev_pos = back > 0 ? back - 1 : 0;
        while (prev_pos > 0 && (static_cast<uint8_t>(text[prev_pos]) & 0xC0) == 0x80) --prev_pos;
        size_t tmp = prev_pos;
        const uint32_t prev = utf8::next_code_point(text, tmp);
        in_word = letter(next) && letter(prev);
        if (in_word) word_numeric = false;
      }
      if (in_word) {
        if (word_start == std::string::npos) {
          word_start = start;
          word_numeric = true;
        }
        if (cp != '\'' && cp != 0x2019 && !number_char(cp)) word_numeric = false;
      } else if (word_start != std::string::npos) {
        words.emplace_back(word_start, start);
        numeric.push_back(word_numeric);
        word_start = std::string::npos;
      }
    }
    if (word_start != std::string::npos) {
      words.emplace_back(word_start, text.size());
      numeric.push_back(word_numeric);
    }
    if (!text.empty()) ++s.lines;
    s.characters += chars;
    if (text.empty())
      ++s.empty;
    else if (only_space)
      ++s.whitespace;
    s.words += words.size();
    for (bool n : numeric) s.numbers += n ? 1 : 0;
    s.chars.add(chars);
    s.words_len.add(words.size());
    if (chars > 0) {
      DocExample e{location, chars, 0, {}};
      if (s.longest.size() < kLengthExamples || chars >= s.longest.back().value) {
        e.snippet = snippet(text);
        offer(s.longest, e, true);
      }
      if (s.shortest.size() < kLengthExamples || chars <= s.shortest.back().value) {
        if (e.snippet.empty()) e.snippet = snippet(text);
        offer(s.shortest, e, false);
      }
    }

    // URLs and e-mails in whitespace-separated chunks.
    bool has_url = false, has_email = false;
    size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && (text[i] == ' ' || (text[i] >= '\t' && text[i] <= '\r'))) ++i;
      size_t j = i;
      while (j < text.size() && !(text[j] == ' ' || (text[j] >= '\t' && text[j] <= '\r'))) ++j;
      const std::string_view chunk(text.data() + i, j - i);
      if (chunk.size() >= 5) {
        if (is_url(chunk)) {
          ++s.urls;
          has_url = true;
        } else if (is_email(chunk)) {
          ++s.emails;
          has_email = true;
        }
      }
      i = j;
    }
    s.url_docs += has_url ? 1 : 0;
    s.email_docs += has_email ? 1 : 0;

    // Word n-grams over the (optionally folded) words joined by single spaces.
    std::string& joined = local.word_text;
    const size_t base = joined.size();
    std::vector<size_t> starts, ends;
    std::vector<bool> stop;
    std::vector<uint64_t> word_hashes;
    word_hashes.reserve(words.size());
    starts.reserve(words.size());
    ends.reserve(words.size());
    for (const auto& [b, e] : words) {
      const std::string_view w(text.data() + b, e - b);
      const std::string folded = fold(w);
      word_hashes.push_back(hash_bytes(folded));
      if (joined.size() > base) joined += ' ';
      starts.push_back(joined.size());
      joined += o_.lowercase ? std::string_view(folded) : w;
      ends.push_back(joined.size());
      stop.push_back(o_.stop_words && stop_.count(folded) > 0);
    }
    const uint64_t first_word = s.words - words.size();
    for (size_t k = 0; k < words.size(); ++k) {
      bool all_stop = true;
      for (int n = 1; n <= kWordOrders && k + 1 >= static_cast<size_t>(n); ++n) {
        const size_t from = k + 1 - static_cast<size_t>(n);
        all_stop = all_stop && stop[from];
        if (all_stop && o_.stop_words) continue;
        const std::string_view g(joined.data() + starts[from], ends[k] - starts[from]);
        if (n == 1)
          local.word_unigrams.add(hash_bytes(g), g, 1, first_word + k);
        else
          local.words[static_cast<size_t>(n - 2)].add(hash_bytes(g), starts[from], g.size(), first_word + k);
      }
    }

    // Tokens.
    if (o_.tokenizer) {
      std::vector<int32_t> ids;
      try {
        ids = o_.tokenizer->encode(text, false, false);
      } catch (const Error& e) {
        info.problem = cat("tokenizer: ", e.what());
      }
      s.tokens += ids.size();
      s.tokens_len.add(ids.size());
      if (static_cast<int64_t>(ids.size()) > o_.context_length) ++s.over_context;
      // Token n-gram keys are little-endian int32 ids.
      const size_t tokens_at = local.token_text.size();
      local.token_text.resize(tokens_at + ids.size() * 4);
      std::memcpy(local.token_text.data() + tokens_at, ids.data(), ids.size() * 4);
      for (size_t k = 0; k < ids.size(); ++k) {
        const int32_t id = ids[k];
        if (id >= 0 && static_cast<size_t>(id) < s.token_counts.size()) {
          ++s.token_counts[static_cast<size_t>(id)];
          const uint8_t f = token_flags_[static_cast<size_t>(id)];
          s.byte_fallback += f & 1;
          s.unknown += (f >> 1) & 1;
        }
        for (int n = 2; n <= kTokenOrders && k + 1 >= static_cast<size_t>(n); ++n) {
          const size_t offset = tokens_at + (k + 1 - static_cast<size_t>(n)) * 4;
          const size_t length = static_cast<size_t>(n) * 4;
          const std::string_view key(local.token_text.data() + offset, length);
          local.tokens[static_cast<size_t>(n - 2)].add(hash_bytes(key), offset, length, 0);
        }
      }
    }

    info.hash = hash_bytes(text);
    minhash_.band_keys(word_hashes, info.bands);
  }

 private:
  const ExploreOptions& o_;
  const std::vector<uint8_t>& token_flags_;
  std::unordered_set<std::string> stop_;
  MinHasher minhash_;
};

// Flags per token id: bit 0 byte fallback ("<0xAB>"), bit 1 unknown.
std::vector<uint8_t> token_flags(const Tokenizer& tok) {
  std::vector<uint8_t> flags(static_cast<size_t>(tok.n_vocab()), 0);
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    const std::string_view t = tok.token_text(id);
    if (t.size() == 6 && t[0] == '<' && t[1] == '0' && t[2] == 'x' && t[5] == '>' && std::isxdigit(t[3]) &&
        std::isxdigit(t[4]))
      flags[static_cast<size_t>(id)] |= 1;
    if (t == "<unk>" || t == "[UNK]" || t == "<|unk|>" || t == "<UNK>") flags[static_cast<size_t>(id)] |= 2;
  }
  return flags;
}

}  // namespace

bool is_stop_word(std::string_view w) {
  for (const char* s : kStopWords)
    if (w == s) return true;
  return false;
}

std::vector<std::string> split_words(std::string_view text) {
  // The same rule as the scanner, written plainly.
  std::vector<std::string> out;
  std::string cur;
  size_t pos = 0;
  std::vector<uint32_t> cps;
  std::vector<std::pair<size_t, size_t>> spans;
  while (pos < text.size()) {
    const size_t b = pos;
    const size_t n = utf8::valid_sequence_length(text, pos);
    if (n == 0) {
      cps.push_back(0xFFFD);
      ++pos;
    } else {
      cps.push_back(utf8::next_code_point(text, pos));
    }
    spans.emplace_back(b, pos);
  }
  for (size_t i = 0; i < cps.size(); ++i) {
    bool in = word_char(cps[i]);
    if (!in && (cps[i] == '\'' || cps[i] == 0x2019) && !cur.empty() && i + 1 < cps.size())
      in = letter(cps[i - 1]) && letter(cps[i + 1]);
    if (in) {
      cur.append(text.substr(spans[i].first, spans[i].second - spans[i].first));
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

Summary::Summary(size_t budget) : memory_budget(budget) {
  const size_t ngram_budget = budget / 10 * 6 / (kWordOrders + kCharOrders + kTokenOrders - 1);
  for (int i = 0; i < kWordOrders; ++i) word_ngrams.push_back(std::make_unique<NgramTable>(ngram_budget));
  for (int i = 0; i < kCharOrders; ++i) char_ngrams.push_back(std::make_unique<NgramTable>(ngram_budget));
  for (int i = 0; i < kTokenOrders - 1; ++i) token_ngrams.push_back(std::make_unique<NgramTable>(ngram_budget));
}

Summary explore(const std::vector<std::string>& inputs, const ExploreOptions& o) {
  LOUPE_ASSERT(o.threads >= 1, "threads ", o.threads);
  Summary sum(o.memory_budget);
  sum.format = std::string(format_name(o.format));
  sum.field = o.field;
  sum.lowercase = o.lowercase;
  sum.stop_words = o.stop_words;
  sum.dedup_cap = o.memory_budget / 10 * 3 / kBytesPerDocument;
  DedupIndex dedup(sum.dedup_cap);

  Reader reader(inputs, o.format, o.field);
  // One document's scan holds its n-grams, words and tokens at once, about 30 times its bytes
  // (a 100 MB line peaked at 2.78 GB): documents past a 32nd of the budget are skipped and
  // reported, so the budget holds.
  reader.set_max_record_bytes(std::max<size_t>(o.memory_budget / 32, size_t{1} << 16));
  sum.sources = reader.sources();
  if (sum.sources.empty()) fail("no input files (the directories given are empty)");

  std::vector<uint8_t> flags;
  if (o.tokenizer) {
    sum.has_tokens = true;
    sum.context_length = o.context_length;
    flags = token_flags(*o.tokenizer);
    sum.token_counts.assign(static_cast<size_t>(o.tokenizer->n_vocab()), 0);
  }
  const Scanner scanner(o, flags);
  ThreadPool pool(o.threads);
  const int n_threads = pool.n_threads();
  const size_t batch_bytes = kBatchBytesPerThread * static_cast<size_t>(n_threads);

  std::vector<Record> batch;
  auto read_batch = [&reader, batch_bytes](std::vector<Record>& out) {
    out.clear();
    return reader.next_batch(out, batch_bytes);
  };
  std::vector<LocalTables> locals(static_cast<size_t>(n_threads));
  bool have = read_batch(batch);
  uint64_t words_before = 0;
  uint64_t seen = 0;  // records read before this batch
  const bool whole = o.first_record == 0 && o.end_record == UINT64_MAX;
  while (have) {
    if (!whole) {
      // A share of a job: only this share's records are analysed.
      const uint64_t before = seen;
      seen += batch.size();
      const uint64_t keep_from = std::clamp(o.first_record, before, seen) - before;
      const uint64_t keep_to = std::clamp(o.end_record, before, seen) - before;
      batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(keep_to), batch.end());
      batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(keep_from));
    }
    // Read the next batch while this one is scanned.
    std::vector<Record> next;
    std::future<bool> ahead = std::async(std::launch::async, read_batch, std::ref(next));
    const int64_t n_docs = static_cast<int64_t>(batch.size());
    std::vector<DocInfo> info(batch.size());
    std::vector<Slice> slices(static_cast<size_t>(n_threads));
    for (Slice& s : slices) s.token_counts.assign(sum.token_counts.size(), 0);

    // Phase A: scan slices of documents.
    pool.run([&](int t) {
      Slice& s = slices[static_cast<size_t>(t)];
      LocalTables& local = locals[static_cast<size_t>(t)];
      local.reset();
      const int64_t b = n_docs * t / n_threads, e = n_docs * (t + 1) / n_threads;
      for (int64_t i = b; i < e; ++i)
        scanner.scan(batch[static_cast<size_t>(i)], reader.format_of(batch[static_cast<size_t>(i)].source),
                     info[static_cast<size_t>(i)], s, local);
      for (int n = 0; n < kCharOrders; ++n)
        local.small_chars[static_cast<size_t>(n)].drain_into(local.chars[static_cast<size_t>(n)]);
    });

    // Phase B: merge slice n-gram counts into the tables, partitions spread over threads.
    std::vector<uint64_t> word_offset(static_cast<size_t>(n_threads));
    uint64_t acc = words_before;
    for (int t = 0; t < n_threads; ++t) {
      word_offset[static_cast<size_t>(t)] = acc;
      acc += slices[static_cast<size_t>(t)].words;
    }
    pool.run([&](int t) {
      for (int p = t; p < NgramTable::kPartitions; p += n_threads) {
        const auto part = static_cast<size_t>(p);
        for (size_t u = 0; u < locals.size(); ++u) {
          const uint64_t off = word_offset[u];
          locals[u].word_unigrams.parts[part].for_each([&](uint64_t h, std::string_view k, uint64_t c, uint64_t f) {
            sum.word_ngrams[0]->add(p, h, k, c, f + off);
          });
        }
        for (size_t n = 0; n < kCharOrders; ++n)
          for (const LocalTables& l : locals)
            l.chars[n].parts[part].for_each(
                [&](uint64_t h, std::string_view k, uint64_t c, uint64_t) { sum.char_ngrams[n]->add(p, h, k, c); });
        for (size_t n = 0; n + 1 < kWordOrders; ++n)
          for (size_t u = 0; u < locals.size(); ++u)
            add_occurrences(*sum.word_ngrams[n + 1], p, locals[u].words[n].parts[part], locals[u].word_text,
                            word_offset[u]);
        for (size_t n = 0; n + 1 < kTokenOrders; ++n)
          for (const LocalTables& l : locals)
            add_occurrences(*sum.token_ngrams[n], p, l.tokens[n].parts[part], l.token_text, 0);
      }
    });
    words_before = acc;

    // Phase C: fold slices and run the duplicate index in document order.
    for (const Slice& s : slices) {
      sum.documents += s.documents, sum.characters += s.characters, sum.bytes += s.bytes, sum.words += s.words;
      sum.lines += s.lines, sum.empty_documents += s.empty, sum.whitespace_documents += s.whitespace;
      sum.invalid_utf8_documents += s.invalid_docs, sum.invalid_utf8_bytes += s.invalid_bytes;
      sum.control_characters += s.controls, sum.urls += s.urls, sum.documents_with_urls += s.url_docs;
      sum.emails += s.emails, sum.documents_with_emails += s.email_docs, sum.number_words += s.numbers;
      sum.tokens += s.tokens, sum.byte_fallback_tokens += s.byte_fallback, sum.unknown_tokens += s.unknown;
      sum.documents_over_context += s.over_context;
      for (int k = 0; k < kScriptCount; ++k)
        sum.script_characters[static_cast<size_t>(k)] += s.scripts[static_cast<size_t>(k)];
      sum.char_lengths.merge(s.chars);
      sum.word_lengths.merge(s.words_len);
      if (sum.has_tokens) sum.token_lengths.merge(s.tokens_len);
      for (const DocExample& e : s.longest) offer(sum.longest, e, true);
      for (const DocExample& e : s.shortest) offer(sum.shortest, e, false);
      for (size_t k = 0; k < s.token_counts.size(); ++k) sum.token_counts[k] += s.token_counts[k];
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const Record& r = batch[i];
      const DocInfo& d = info[i];
      if (!d.problem.empty()) {
        ++sum.problem_count;
        if (sum.problems.size() < kMaxProblems) sum.problems.push_back({r.source, r.line, d.problem});
      }
      if (d.skip) continue;
      const uint64_t loc = pack_location(r.source, r.line);
      if (d.invalid_at >= 0 && sum.invalid_utf8_examples.size() < kMaxExamples)
        sum.invalid_utf8_examples.push_back({loc, static_cast<uint64_t>(d.invalid_at), 0, snippet(r.text)});
      const DedupResult res = dedup.add(d.hash, d.bands, loc);
      if (res.checked && o.keep_records) sum.records.push_back({d.hash, loc, d.bands});
      if (res.exact) {
        ++sum.exact_duplicate_documents;
        sum.exact_duplicate_groups += res.first_repeat ? 1 : 0;
        if (sum.exact_examples.size() < kMaxExamples)
          sum.exact_examples.push_back({loc, 0, res.original, snippet(r.text)});
      } else if (res.near) {
        ++sum.near_duplicate_documents;
        if (sum.near_examples.size() < kMaxExamples)
          sum.near_examples.push_back({loc, 0, res.original, snippet(r.text)});
      }
    }
    for (Problem& p : reader.take_problems()) {
      if (!o.reader_problems) continue;
      ++sum.problem_count;
      if (sum.problems.size() < kMaxProblems) sum.problems.push_back(std::move(p));
    }
    if (o.progress) o.progress(reader.raw_bytes(), reader.total_bytes());
    have = ahead.get();
    batch.swap(next);
  }
  for (Problem& p : reader.take_problems()) {
    if (!o.reader_problems) continue;
    ++sum.problem_count;
    if (sum.problems.size() < kMaxProblems) sum.problems.push_back(std::move(p));
  }
  sum.dedup_checked = dedup.checked();
  sum.dedup_unchecked = dedup.unchecked();
  return sum;
}

void merge_summary(Summary& a, const Summary& b, uint64_t dedup_cap, bool same_sources) {
  const uint32_t source_offset = same_sources ? 0 : static_cast<uint32_t>(a.sources.size());
  const auto shift = [source_offset](uint64_t loc) {
    return pack_location(location_source(loc) + source_offset, location_line(loc));
  };
  if (!same_sources) a.sources.insert(a.sources.end(), b.sources.begin(), b.sources.end());
  const uint64_t words_before = a.words;
  a.documents += b.documents, a.characters += b.characters, a.bytes += b.bytes, a.words += b.words;
  a.lines += b.lines, a.empty_documents += b.empty_documents, a.whitespace_documents += b.whitespace_documents;
  a.invalid_utf8_documents += b.invalid_utf8_documents, a.invalid_utf8_bytes += b.invalid_utf8_bytes;
  a.control_characters += b.control_characters, a.urls += b.urls, a.documents_with_urls += b.documents_with_urls;
  a.emails += b.emails, a.documents_with_emails += b.documents_with_emails, a.number_words += b.number_words;
  for (int k = 0; k < kScriptCount; ++k)
    a.script_characters[static_cast<size_t>(k)] += b.script_characters[static_cast<size_t>(k)];
  for (DocExample e : b.invalid_utf8_examples) {
    if (a.invalid_utf8_examples.size() >= kMaxExamples) break;
    e.location = shift(e.location);
    a.invalid_utf8_examples.push_back(e);
  }
  a.char_lengths.merge(b.char_lengths);
  a.word_lengths.merge(b.word_lengths);
  a.token_lengths.merge(b.token_lengths);
  for (DocExample e : b.longest) {
    e.location = shift(e.location);
    offer(a.longest, e, true);
  }
  for (DocExample e : b.shortest) {
    e.location = shift(e.location);
    offer(a.shortest, e, false);
  }
  a.tokens += b.tokens, a.byte_fallback_tokens += b.byte_fallback_tokens, a.unknown_tokens += b.unknown_tokens;
  a.documents_over_context += b.documents_over_context;
  if (b.token_counts.size() > a.token_counts.size()) a.token_counts.resize(b.token_counts.size(), 0);
  for (size_t k = 0; k < b.token_counts.size(); ++k) a.token_counts[k] += b.token_counts[k];

  const auto merge_tables = [](std::vector<std::unique_ptr<NgramTable>>& to,
                               const std::vector<std::unique_ptr<NgramTable>>& from, uint64_t first_offset) {
    for (size_t n = 0; n < to.size() && n < from.size(); ++n) {
      std::vector<std::vector<CountedKey>> by_part(NgramTable::kPartitions);
      for (CountedKey& k : from[n]->entries()) {
        k.first += first_offset;
        by_part[static_cast<size_t>(NgramTable::partition_of(hash_bytes(k.key)))].push_back(std::move(k));
      }
      for (int p = 0; p < NgramTable::kPartitions; ++p)
        to[n]->merge_partition(p, by_part[static_cast<size_t>(p)], from[n]->partition_state(p));
    }
  };
  merge_tables(a.word_ngrams, b.word_ngrams, words_before);
  merge_tables(a.char_ngrams, b.char_ngrams, 0);
  merge_tables(a.token_ngrams, b.token_ngrams, 0);

  // Duplicates: replay both record lists through one index, in order.
  DedupIndex dedup(dedup_cap);
  uint64_t exact = 0, groups = 0, near = 0;
  std::vector<DocExample> exact_ex, near_ex;
  std::vector<DocRecord> records;
  const auto replay = [&](const std::vector<DocRecord>& list, bool shifted, const std::vector<DocExample>& ex_exact,
                          const std::vector<DocExample>& ex_near) {
    for (DocRecord r : list) {
      if (shifted) r.location = shift(r.location);
      const DedupResult res = dedup.add(r.hash, r.bands, r.location);
      if (res.checked) records.push_back(r);
      if (res.exact) {
        ++exact;
        groups += res.first_repeat ? 1 : 0;
      } else if (res.near) {
        ++near;
      }
      if ((res.exact || res.near) && (res.exact ? exact_ex : near_ex).size() < kMaxExamples) {
        // Reuse the shard's snippet when that shard listed this document.
        std::string text;
        for (const DocExample& e : res.exact ? ex_exact : ex_near)
          if ((shifted ? shift(e.location) : e.location) == r.location) text = e.snippet;
        (res.exact ? exact_ex : near_ex).push_back({r.location, 0, res.original, text});
      }
    }
  };
  replay(a.records, false, a.exact_examples, a.near_examples);
  replay(b.records, true, b.exact_examples, b.near_examples);
  a.exact_duplicate_documents = exact;
  a.exact_duplicate_groups = groups;
  a.near_duplicate_documents = near;
  a.exact_examples = std::move(exact_ex);
  a.near_examples = std::move(near_ex);
  a.records = std::move(records);
  a.dedup_checked = dedup.checked();
  a.dedup_unchecked = dedup.unchecked() + a.dedup_unchecked + b.dedup_unchecked;
  a.dedup_cap = dedup_cap;

  a.problem_count += b.problem_count;
  for (Problem p : b.problems) {
    if (a.problems.size() >= kMaxProblems) break;
    p.source += source_offset;
    a.problems.push_back(std::move(p));
  }
}

uint64_t count_records(const std::vector<std::string>& inputs, const ExploreOptions& o) {
  Reader reader(inputs, o.format, o.field);
  reader.set_max_record_bytes(std::max<size_t>(o.memory_budget / 32, size_t{1} << 16));
  uint64_t n = 0;
  std::vector<Record> batch;
  while (reader.next_batch(batch, size_t{4} << 20)) {
    n += batch.size();
    batch.clear();
  }
  return n;
}

void fill_snippets(Summary& s, const std::vector<std::string>& inputs, const ExploreOptions& o) {
  std::vector<DocExample*> missing;
  for (auto* list : {&s.exact_examples, &s.near_examples})
    for (DocExample& e : *list)
      if (e.snippet.empty()) missing.push_back(&e);
  if (missing.empty()) return;
  Reader reader(inputs, o.format, o.field);
  reader.set_max_record_bytes(std::max<size_t>(o.memory_budget / 32, size_t{1} << 16));
  std::vector<Record> batch;
  size_t found = 0;
  while (found < missing.size() && reader.next_batch(batch, size_t{4} << 20)) {
    for (Record& r : batch) {
      const uint64_t loc = pack_location(r.source, r.line);
      bool wanted = false;
      for (const DocExample* e : missing) wanted = wanted || (e->location == loc && e->snippet.empty());
      if (!wanted) continue;
      // The document's text as the scan saw it (sanitised; the field of a JSONL line).
      int64_t first_bad = -1;
      std::string text = std::move(r.text);
      sanitize(text, first_bad);
      if (reader.format_of(r.source) == Format::Jsonl) {
        std::string doc, problem;
        if (!extract_jsonl(text, o.field, doc, problem)) continue;
        text = std::move(doc);
      }
      for (DocExample* e : missing)
        if (e->location == loc && e->snippet.empty()) {
          e->snippet = snippet(text);
          ++found;
        }
    }
    batch.clear();
  }
}

}  // namespace loupe::data
