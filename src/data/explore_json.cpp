// The --json report, Heaps/Zipf fits, and the summary file (save/load).
#include "data/explore_json.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

#include "core/atomic_file.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace loupe::data {

namespace {

using ojson = nlohmann::ordered_json;

constexpr int kSummaryVersion = 1;
const double kPercentiles[] = {1, 5, 10, 25, 50, 75, 90, 95, 99};

double share(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

ojson percentiles(const LengthDistribution& d) {
  ojson j;
  j["min"] = d.min();
  for (double p : kPercentiles) j["p" + std::to_string(static_cast<int>(p))] = d.percentile(p);
  j["max"] = d.max();
  j["mean"] = d.mean();
  return j;
}

ojson histogram(const LengthDistribution& d) {
  std::vector<double> edges, counts;
  d.histogram(40, edges, counts);
  ojson j;
  j["edges"] = edges;
  j["counts"] = counts;
  return j;
}

std::string source_name(const Summary& s, uint64_t loc) {
  const uint32_t src = location_source(loc);
  return src < s.sources.size() ? s.sources[src] : "?";
}

ojson example(const Summary& s, const DocExample& e, const char* value_name, bool with_original) {
  ojson j;
  j["source"] = source_name(s, e.location);
  j["line"] = location_line(e.location);
  if (value_name) j[value_name] = e.value;
  if (with_original) {
    j["original_source"] = source_name(s, e.other);
    j["original_line"] = location_line(e.other);
  }
  j["snippet"] = e.snippet;
  return j;
}

ojson ngram_list(const NgramTable& t, size_t k, const Tokenizer* tok, bool token_keys) {
  ojson list = ojson::array();
  for (const CountedKey& c : t.top(k))
    list.push_back(ojson::array({token_keys ? token_ngram_text(c.key, tok) : c.key, c.count}));
  return list;
}

ojson accuracy(const NgramTable& t) {
  ojson j;
  j["exact"] = t.exact();
  j["max_error"] = t.max_error();
  j["total"] = t.total();
  j["distinct"] = t.distinct();
  return j;
}

// ---- base64 for the binary blobs of the summary file ----
const char* const kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v =
        (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
    for (int k = 3; k >= 0; --k) out += kB64[(v >> (6 * k)) & 63];
  }
  if (i < in.size()) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(const std::string& in, const std::string& what) {
  int rev[256];
  std::fill(std::begin(rev), std::end(rev), -1);
  for (int i = 0; i < 64; ++i) rev[static_cast<uint8_t>(kB64[i])] = i;
  if (in.size() % 4 != 0) fail(what, ": base64 length ", in.size(), " is not a multiple of 4");
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i + static_cast<size_t>(k)];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      const int d = rev[static_cast<uint8_t>(c)];
      if (d < 0 || pad) fail(what, ": bad base64 character at ", i + static_cast<size_t>(k));
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out += static_cast<char>((v >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(v & 0xFF);
  }
  return out;
}

// Typed field access with errors naming the file and field.
struct Fields {
  const std::string& path;
  template <class T>
  T get(const nlohmann::json& j, const char* key) const {
    const auto it = j.find(key);
    if (it == j.end()) fail(path, ": summary field '", key, "' is missing");
    try {
      return it->get<T>();
    } catch (const nlohmann::json::exception&) {
      fail(path, ": summary field '", key, "' has the wrong type (", it->type_name(), ")");
    }
  }
};

ojson save_lengths(const LengthDistribution& d) {
  ojson a = ojson::array();
  for (const auto& [v, n] : d.values()) a.push_back(ojson::array({v, n}));
  return a;
}

void load_lengths(const nlohmann::json& j, LengthDistribution& d, const Fields& f, const char* key) {
  for (const auto& pair : f.get<std::vector<std::array<uint64_t, 2>>>(j, key)) d.add(pair[0], pair[1]);
}

ojson save_examples(const std::vector<DocExample>& list) {
  ojson a = ojson::array();
  for (const DocExample& e : list) a.push_back(ojson::array({e.location, e.value, e.other, e.snippet}));
  return a;
}

std::vector<DocExample> load_examples(const nlohmann::json& j, const Fields& f, const char* key) {
  std::vector<DocExample> out;
  for (const auto& e : f.get<nlohmann::json>(j, key)) {
    if (!e.is_array() || e.size() != 4)
      fail(f.path, ": summary field '", key, "': each example is [loc, value, other, snippet]");
    out.push_back({e[0].get<uint64_t>(), e[1].get<uint64_t>(), e[2].get<uint64_t>(), e[3].get<std::string>()});
  }
  return out;
}

ojson save_tables(const std::vector<std::unique_ptr<NgramTable>>& tables, bool binary_keys) {
  ojson a = ojson::array();
  for (const auto& t : tables) {
    ojson parts = ojson::array();
    for (int p = 0; p < NgramTable::kPartitions; ++p) {
      const NgramTable::PartitionState st = t->partition_state(p);
      parts.push_back(ojson::array({st.sketch ? 1 : 0, st.total, st.min_count, st.capacity}));
    }
    ojson entries = ojson::array();
    for (const CountedKey& k : t->entries())
      entries.push_back(ojson::array({binary_keys ? base64_encode(k.key) : k.key, k.count, k.error, k.first}));
    ojson j;
    j["partitions"] = parts;
    j["entries"] = entries;
    a.push_back(j);
  }
  return a;
}

void load_tables(const nlohmann::json& j, std::vector<std::unique_ptr<NgramTable>>& tables, bool binary_keys,
                 const Fields& f, const char* key) {
  const auto list = f.get<nlohmann::json>(j, key);
  if (!list.is_array() || list.size() != tables.size())
    fail(f.path, ": summary field '", key, "' must list ", tables.size(), " tables");
  for (size_t n = 0; n < tables.size(); ++n) {
    const auto parts = f.get<std::vector<std::array<uint64_t, 4>>>(list[n], "partitions");
    if (parts.size() != NgramTable::kPartitions)
      fail(f.path, ": summary field '", key, "': ", parts.size(), " partitions, expected ", NgramTable::kPartitions);
    std::vector<std::vector<CountedKey>> by_part(NgramTable::kPartitions);
    for (const auto& e : f.get<nlohmann::json>(list[n], "entries")) {
      if (!e.is_array() || e.size() != 4 || !e[0].is_string())
        fail(f.path, ": summary field '", key, "': each entry is [key, count, error, first]");
      CountedKey k{e[0].get<std::string>(), e[1].get<uint64_t>(), e[2].get<uint64_t>(), e[3].get<uint64_t>()};
      if (binary_keys) k.key = base64_decode(k.key, f.path + ": " + key);
      by_part[static_cast<size_t>(NgramTable::partition_of(hash_bytes(k.key)))].push_back(std::move(k));
    }
    for (int p = 0; p < NgramTable::kPartitions; ++p) {
      const auto& st = parts[static_cast<size_t>(p)];
      tables[n]->merge_partition(p, by_part[static_cast<size_t>(p)], {st[0] != 0, st[1], st[2], st[3]});
    }
  }
}

}  // namespace

std::vector<std::pair<uint64_t, uint64_t>> vocabulary_growth(const Summary& s, int max_points) {
  std::vector<uint64_t> firsts;
  for (const CountedKey& k : s.word_ngrams[0]->entries()) firsts.push_back(k.first);
  std::sort(firsts.begin(), firsts.end());
  std::vector<std::pair<uint64_t, uint64_t>> out;
  if (s.words == 0 || firsts.empty()) return out;
  const double lw = std::log(static_cast<double>(s.words));
  uint64_t last_w = 0;
  for (int i = 0; i < max_points; ++i) {
    const uint64_t w = static_cast<uint64_t>(std::llround(std::exp(lw * (i + 1) / max_points)));
    if (w <= last_w) continue;
    last_w = w;
    // Words with first position < w are in the vocabulary after w words.
    const uint64_t v = static_cast<uint64_t>(std::lower_bound(firsts.begin(), firsts.end(), w) - firsts.begin());
    out.emplace_back(w, v);
  }
  return out;
}

PowerFit fit_power_law(const std::vector<std::pair<double, double>>& points) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int n = 0;
  for (const auto& [x, y] : points) {
    if (!(x > 0) || !(y > 0)) continue;
    const double lx = std::log(x), ly = std::log(y);
    sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
    ++n;
  }
  PowerFit f;
  f.points = n;
  if (n < 2) return f;
  const double denom = n * sxx - sx * sx;
  if (std::fabs(denom) < 1e-12) return f;
  f.beta = (n * sxy - sx * sy) / denom;
  f.k = std::exp((sy - f.beta * sx) / n);
  return f;
}

PowerFit heaps_fit(const Summary& s) {
  std::vector<std::pair<double, double>> pts;
  for (const auto& [w, v] : vocabulary_growth(s)) pts.emplace_back(static_cast<double>(w), static_cast<double>(v));
  return fit_power_law(pts);
}

double zipf_slope(const Summary& s) {
  std::vector<CountedKey> top = s.word_ngrams[0]->top(1000);
  std::vector<std::pair<double, double>> pts;
  for (size_t r = 0; r < top.size(); ++r)
    pts.emplace_back(static_cast<double>(r + 1), static_cast<double>(top[r].count));
  return fit_power_law(pts).beta;
}

std::string token_ngram_text(const std::string& key, const Tokenizer* tok) {
  std::string out;
  for (size_t i = 0; i + 4 <= key.size(); i += 4) {
    int32_t id;
    std::memcpy(&id, key.data() + i, 4);
    if (!out.empty()) out += ' ';
    if (tok && id >= 0 && id < tok->n_vocab())
      out += std::string(tok->token_text(id));
    else
      out += "#" + std::to_string(id);
  }
  return out;
}

ojson report_json(const Summary& s, const Tokenizer* tok, size_t top_k) {
  ojson j;
  j["sources"] = s.sources;
  j["documents"] = s.documents;
  j["characters"] = s.characters;
  j["bytes"] = s.bytes;
  j["words"] = s.words;
  j["lines"] = s.lines;
  if (s.has_tokens) j["tokens"] = s.tokens;
  j["empty_documents"] = s.empty_documents;
  j["whitespace_only_documents"] = s.whitespace_documents;
  j["exact_duplicate_documents"] = s.exact_duplicate_documents;
  j["near_duplicate_documents"] = s.near_duplicate_documents;

  ojson bad;
  bad["documents"] = s.invalid_utf8_documents;
  bad["bytes"] = s.invalid_utf8_bytes;
  bad["examples"] = ojson::array();
  for (const DocExample& e : s.invalid_utf8_examples) bad["examples"].push_back(example(s, e, "byte", false));
  j["invalid_utf8"] = bad;
  j["control_characters"] = s.control_characters;
  ojson pat;
  pat["urls"] = s.urls;
  pat["documents_with_urls"] = s.documents_with_urls;
  pat["url_document_share"] = share(s.documents_with_urls, s.documents);
  pat["emails"] = s.emails;
  pat["documents_with_emails"] = s.documents_with_emails;
  pat["email_document_share"] = share(s.documents_with_emails, s.documents);
  pat["number_words"] = s.number_words;
  pat["number_word_share"] = share(s.number_words, s.words);
  j["patterns"] = pat;

  std::vector<std::pair<uint64_t, int>> scripts;
  for (int k = 0; k < kScriptCount; ++k)
    if (s.script_characters[static_cast<size_t>(k)])
      scripts.emplace_back(s.script_characters[static_cast<size_t>(k)], k);
  std::sort(scripts.begin(), scripts.end(),
            [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  ojson sc = ojson::array();
  for (const auto& [n, k] : scripts) {
    ojson e;
    e["script"] = std::string(script_name(static_cast<Script>(k)));
    e["characters"] = n;
    e["share"] = share(n, s.characters);
    sc.push_back(e);
  }
  j["scripts"] = sc;

  ojson lp, lh;
  lp["characters"] = percentiles(s.char_lengths);
  lp["words"] = percentiles(s.word_lengths);
  lh["characters"] = histogram(s.char_lengths);
  lh["words"] = histogram(s.word_lengths);
  if (s.has_tokens) {
    lp["tokens"] = percentiles(s.token_lengths);
    lh["tokens"] = histogram(s.token_lengths);
  }
  j["length_percentiles"] = lp;
  j["length_histograms"] = lh;
  ojson lo = ojson::array(), sh = ojson::array();
  for (const DocExample& e : s.longest) lo.push_back(example(s, e, "characters", false));
  for (const DocExample& e : s.shortest) sh.push_back(example(s, e, "characters", false));
  j["longest_documents"] = lo;
  j["shortest_documents"] = sh;

  ojson top, acc;
  ojson words, chars, toks, wa, ca, ta;
  for (int n = 0; n < kWordOrders; ++n) {
    words[std::to_string(n + 1)] = ngram_list(*s.word_ngrams[static_cast<size_t>(n)], top_k, tok, false);
    wa[std::to_string(n + 1)] = accuracy(*s.word_ngrams[static_cast<size_t>(n)]);
  }
  for (int n = 0; n < kCharOrders; ++n) {
    chars[std::to_string(n + 1)] = ngram_list(*s.char_ngrams[static_cast<size_t>(n)], top_k, tok, false);
    ca[std::to_string(n + 1)] = accuracy(*s.char_ngrams[static_cast<size_t>(n)]);
  }
  top["words"] = words;
  top["characters"] = chars;
  acc["words"] = wa;
  acc["characters"] = ca;
  if (s.has_tokens) {
    std::vector<std::pair<uint64_t, int32_t>> uni;
    for (size_t id = 0; id < s.token_counts.size(); ++id)
      if (s.token_counts[id]) uni.emplace_back(s.token_counts[id], static_cast<int32_t>(id));
    std::sort(uni.begin(), uni.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    ojson t1 = ojson::array();
    for (size_t i = 0; i < std::min(top_k, uni.size()); ++i) {
      std::string key(4, '\0');
      std::memcpy(key.data(), &uni[i].second, 4);
      t1.push_back(ojson::array({token_ngram_text(key, tok), uni[i].first}));
    }
    toks["1"] = t1;
    for (int n = 0; n < kTokenOrders - 1; ++n) {
      toks[std::to_string(n + 2)] = ngram_list(*s.token_ngrams[static_cast<size_t>(n)], top_k, tok, true);
      ta[std::to_string(n + 2)] = accuracy(*s.token_ngrams[static_cast<size_t>(n)]);
    }
    top["tokens"] = toks;
    acc["tokens"] = ta;
  }
  j["top_ngrams"] = top;
  j["ngram_accuracy"] = acc;

  ojson vocab;
  vocab["size"] = s.word_ngrams[0]->distinct();
  vocab["exact"] = s.word_ngrams[0]->exact();
  const PowerFit h = heaps_fit(s);
  vocab["heaps_k"] = h.k;
  vocab["heaps_beta"] = h.beta;
  ojson growth = ojson::array();
  for (const auto& [w, v] : vocabulary_growth(s)) growth.push_back(ojson::array({w, v}));
  vocab["growth"] = growth;
  vocab["zipf_slope"] = zipf_slope(s);
  j["vocabulary"] = vocab;

  if (s.has_tokens) {
    ojson t;
    t["name"] = s.tokenizer_name;
    t["vocab_size"] = s.token_counts.size();
    t["fertility"] = s.words ? static_cast<double>(s.tokens) / static_cast<double>(s.words) : 0.0;
    t["byte_fallback_tokens"] = s.byte_fallback_tokens;
    t["byte_fallback_share"] = share(s.byte_fallback_tokens, s.tokens);
    t["unknown_tokens"] = s.unknown_tokens;
    t["unknown_share"] = share(s.unknown_tokens, s.tokens);
    uint64_t used = 0;
    ojson never = ojson::array();
    std::vector<std::pair<size_t, int32_t>> longest;
    for (size_t id = 0; id < s.token_counts.size(); ++id) {
      if (s.token_counts[id]) {
        ++used;
        if (tok) longest.emplace_back(tok->token_bytes(static_cast<int32_t>(id)).size(), static_cast<int32_t>(id));
      } else if (never.size() < 20) {
        never.push_back(ojson::array({id, tok ? std::string(tok->token_text(static_cast<int32_t>(id))) : ""}));
      }
    }
    t["tokens_used"] = used;
    t["tokens_never_used"] = s.token_counts.size() - used;
    t["never_used_examples"] = never;
    std::sort(longest.begin(), longest.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    ojson lt = ojson::array();
    for (size_t i = 0; i < std::min<size_t>(10, longest.size()); ++i) {
      const int32_t id = longest[i].second;
      lt.push_back(ojson{{"id", id},
                         {"text", std::string(tok->token_text(id))},
                         {"bytes", longest[i].first},
                         {"count", s.token_counts[static_cast<size_t>(id)]}});
    }
    t["longest_tokens_seen"] = lt;
    t["context_length"] = s.context_length;
    t["documents_over_context"] = s.documents_over_context;
    j["tokenizer"] = t;
  }

  ojson d;
  d["exact_duplicate_documents"] = s.exact_duplicate_documents;
  d["exact_duplicate_groups"] = s.exact_duplicate_groups;
  d["near_duplicate_documents"] = s.near_duplicate_documents;
  d["checked_documents"] = s.dedup_checked;
  d["unchecked_documents"] = s.dedup_unchecked;
  d["near_method"] = cat("minhash ", kMinHashes, " x word ", kShingleWords, "-gram shingles, lsh ", kBands, " bands x ",
                         kRows, " rows");
  d["exact_examples"] = ojson::array();
  for (const DocExample& e : s.exact_examples) d["exact_examples"].push_back(example(s, e, nullptr, true));
  d["near_examples"] = ojson::array();
  for (const DocExample& e : s.near_examples) d["near_examples"].push_back(example(s, e, nullptr, true));
  j["duplicates"] = d;

  ojson pr;
  pr["count"] = s.problem_count;
  pr["list"] = ojson::array();
  for (const Problem& p : s.problems)
    pr["list"].push_back(ojson{
        {"source", p.source < s.sources.size() ? s.sources[p.source] : "?"}, {"line", p.line}, {"message", p.message}});
  j["problems"] = pr;
  return j;
}

std::string summary_text(const Summary& s) {
  ojson j;
  j["loupe_explore_summary"] = kSummaryVersion;
  j["sources"] = s.sources;
  j["format"] = s.format;
  j["field"] = s.field;
  j["lowercase"] = s.lowercase;
  j["stop_words"] = s.stop_words;
  j["counts"] = {s.documents,
                 s.characters,
                 s.bytes,
                 s.words,
                 s.lines,
                 s.empty_documents,
                 s.whitespace_documents,
                 s.invalid_utf8_documents,
                 s.invalid_utf8_bytes,
                 s.control_characters,
                 s.urls,
                 s.documents_with_urls,
                 s.emails,
                 s.documents_with_emails,
                 s.number_words};
  j["scripts"] = s.script_characters;
  j["invalid_utf8_examples"] = save_examples(s.invalid_utf8_examples);
  j["lengths_characters"] = save_lengths(s.char_lengths);
  j["lengths_words"] = save_lengths(s.word_lengths);
  j["lengths_tokens"] = save_lengths(s.token_lengths);
  j["longest"] = save_examples(s.longest);
  j["shortest"] = save_examples(s.shortest);
  j["has_tokens"] = s.has_tokens;
  j["tokenizer"] = s.tokenizer_name;
  j["token_figures"] = {s.tokens, s.byte_fallback_tokens, s.unknown_tokens, s.documents_over_context};
  j["context_length"] = s.context_length;
  j["token_counts"] = s.token_counts;
  j["word_ngrams"] = save_tables(s.word_ngrams, false);
  j["char_ngrams"] = save_tables(s.char_ngrams, false);
  j["token_ngrams"] = save_tables(s.token_ngrams, true);
  j["dedup"] = {s.exact_duplicate_documents, s.exact_duplicate_groups,
                s.near_duplicate_documents,  s.dedup_checked,
                s.dedup_unchecked,           s.dedup_cap};
  j["exact_examples"] = save_examples(s.exact_examples);
  j["near_examples"] = save_examples(s.near_examples);
  std::string blob;
  blob.reserve(s.records.size() * sizeof(DocRecord));
  for (const DocRecord& r : s.records) {
    char buf[8 * (2 + kBands)];
    std::memcpy(buf, &r.hash, 8);
    std::memcpy(buf + 8, &r.location, 8);
    std::memcpy(buf + 16, r.bands.data(), 8 * kBands);
    blob.append(buf, sizeof buf);
  }
  j["records"] = base64_encode(blob);
  j["problem_count"] = s.problem_count;
  ojson probs = ojson::array();
  for (const Problem& p : s.problems) probs.push_back(ojson::array({p.source, p.line, p.message}));
  j["problems"] = probs;

  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void save_summary(const Summary& s, const std::string& path) {
  write_file_atomic(path, summary_text(s));
}

Summary load_summary(const std::string& path, size_t memory_budget) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_summary(text, path, memory_budget);
}

Summary parse_summary(std::string_view text, const std::string& path, size_t memory_budget) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not a summary file (", e.what(), ")");
  }
  const Fields f{path};
  if (!j.is_object() || !j.contains("loupe_explore_summary")) fail(path, ": not a loupe explore summary file");
  if (f.get<int>(j, "loupe_explore_summary") != kSummaryVersion)
    fail(path, ": summary version ", j["loupe_explore_summary"].dump(), ", this loupe reads ", kSummaryVersion);
  Summary s(memory_budget);
  s.sources = f.get<std::vector<std::string>>(j, "sources");
  s.format = f.get<std::string>(j, "format");
  s.field = f.get<std::string>(j, "field");
  s.lowercase = f.get<bool>(j, "lowercase");
  s.stop_words = f.get<bool>(j, "stop_words");
  const auto c = f.get<std::vector<uint64_t>>(j, "counts");
  if (c.size() != 15) fail(path, ": summary field 'counts' has ", c.size(), " values, expected 15");
  uint64_t* counts[] = {&s.documents,
                        &s.characters,
                        &s.bytes,
                        &s.words,
                        &s.lines,
                        &s.empty_documents,
                        &s.whitespace_documents,
                        &s.invalid_utf8_documents,
                        &s.invalid_utf8_bytes,
                        &s.control_characters,
                        &s.urls,
                        &s.documents_with_urls,
                        &s.emails,
                        &s.documents_with_emails,
                        &s.number_words};
  for (size_t i = 0; i < c.size(); ++i) *counts[i] = c[i];
  const auto scripts = f.get<std::vector<uint64_t>>(j, "scripts");
  if (scripts.size() != kScriptCount) fail(path, ": summary field 'scripts' has ", scripts.size(), " values");
  std::copy(scripts.begin(), scripts.end(), s.script_characters.begin());
  s.invalid_utf8_examples = load_examples(j, f, "invalid_utf8_examples");
  load_lengths(j, s.char_lengths, f, "lengths_characters");
  load_lengths(j, s.word_lengths, f, "lengths_words");
  load_lengths(j, s.token_lengths, f, "lengths_tokens");
  s.longest = load_examples(j, f, "longest");
  s.shortest = load_examples(j, f, "shortest");
  s.has_tokens = f.get<bool>(j, "has_tokens");
  s.tokenizer_name = f.get<std::string>(j, "tokenizer");
  const auto tf = f.get<std::array<uint64_t, 4>>(j, "token_figures");
  s.tokens = tf[0], s.byte_fallback_tokens = tf[1], s.unknown_tokens = tf[2], s.documents_over_context = tf[3];
  s.context_length = f.get<int64_t>(j, "context_length");
  s.token_counts = f.get<std::vector<uint64_t>>(j, "token_counts");
  load_tables(j, s.word_ngrams, false, f, "word_ngrams");
  load_tables(j, s.char_ngrams, false, f, "char_ngrams");
  load_tables(j, s.token_ngrams, true, f, "token_ngrams");
  const auto d = f.get<std::array<uint64_t, 6>>(j, "dedup");
  s.exact_duplicate_documents = d[0], s.exact_duplicate_groups = d[1], s.near_duplicate_documents = d[2];
  s.dedup_checked = d[3], s.dedup_unchecked = d[4], s.dedup_cap = d[5];
  s.exact_examples = load_examples(j, f, "exact_examples");
  s.near_examples = load_examples(j, f, "near_examples");
  const std::string blob = base64_decode(f.get<std::string>(j, "records"), path + ": records");
  constexpr size_t kRecord = 8 * (2 + kBands);
  if (blob.size() % kRecord != 0) fail(path, ": summary field 'records' is not a whole number of records");
  for (size_t i = 0; i < blob.size(); i += kRecord) {
    DocRecord r;
    std::memcpy(&r.hash, blob.data() + i, 8);
    std::memcpy(&r.location, blob.data() + i + 8, 8);
    std::memcpy(r.bands.data(), blob.data() + i + 16, 8 * kBands);
    s.records.push_back(r);
  }
  if (s.records.size() != s.dedup_checked)
    fail(path, ": summary has ", s.records.size(), " duplicate records for ", s.dedup_checked,
         " checked documents (was it written with --summary?)");
  s.problem_count = f.get<uint64_t>(j, "problem_count");
  for (const auto& p : f.get<nlohmann::json>(j, "problems")) {
    if (!p.is_array() || p.size() != 3) fail(path, ": summary field 'problems': each is [source, line, message]");
    s.problems.push_back({p[0].get<uint32_t>(), p[1].get<int64_t>(), p[2].get<std::string>()});
  }
  return s;
}

}  // namespace loupe::data
