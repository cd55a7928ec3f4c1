// Pre-tokenizer steps over PCRE2, and llama.cpp's table of regexes per tokenizer.ggml.pre value.
#include "tokenizer/pretokenizer.h"

#include "core/error.h"

namespace loupe {

const char* const kGpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

namespace {

struct Span {
  size_t begin;
  size_t end;
  bool is_match;
};

// Calls on_span with the matches and the gaps between them, in order, covering the whole piece.
// An empty match still cuts the piece there (as std::regex_iterator / Hugging Face do), but
// yields no span of its own. Spans are produced as the regex finds them: nothing the size of
// the piece is held.
template <typename OnSpan>
void for_each_span(const Regex& regex, std::string_view piece, OnSpan&& on_span) {
  size_t start = 0;     // where the next search begins
  size_t gap_from = 0;  // end of the last match
  bool after_empty = false;
  while (start <= piece.size()) {
    size_t b = 0, e = 0;
    bool found = regex.find(piece, start, after_empty, b, e);
    if (!found && after_empty) {
      // Nothing non-empty at the empty match's position: move on by one code point.
      if (start >= piece.size()) break;
      size_t next = start + 1;
      while (next < piece.size() && (static_cast<uint8_t>(piece[next]) & 0xC0) == 0x80) ++next;
      after_empty = false;
      start = next;
      continue;
    }
    if (!found) break;
    if (b > gap_from) on_span(Span{gap_from, b, false});
    if (e > b) on_span(Span{b, e, true});
    gap_from = e;
    after_empty = e == b;
    start = e;
    if (!after_empty && start >= piece.size()) break;
  }
  if (gap_from < piece.size()) on_span(Span{gap_from, piece.size(), false});
}

}  // namespace

void PreTokenizer::add_split(std::string_view pattern, bool literal, SplitBehavior behavior, bool invert,
                             uint32_t extra_options, const std::string& what) {
  Step step;
  step.kind = Kind::Split;
  step.regex.emplace_back(pattern, extra_options | (literal ? kRegexLiteral : 0u), what);
  step.behavior = behavior;
  step.invert = invert;
  steps_.push_back(std::move(step));
}

void PreTokenizer::add_byte_level(bool add_prefix_space, bool use_regex, const std::string& what) {
  if (add_prefix_space) {
    Step step;
    step.kind = Kind::PrefixSpace;
    steps_.push_back(std::move(step));
  }
  if (use_regex) add_split(kGpt2Regex, false, SplitBehavior::Isolated, false, 0, what);
}

void PreTokenizer::add_metaspace(std::string replacement, std::string prepend_scheme, bool split,
                                 const std::string& what) {
  if (replacement.empty()) fail(what, ": metaspace replacement is empty");
  if (prepend_scheme != "always" && prepend_scheme != "first" && prepend_scheme != "never")
    fail(what, ": unsupported metaspace prepend_scheme '", prepend_scheme, "'");
  Step step;
  step.kind = Kind::Metaspace;
  step.replacement = std::move(replacement);
  step.prepend_scheme = std::move(prepend_scheme);
  step.split = split;
  if (split) step.regex.emplace_back(step.replacement, kRegexLiteral, what);
  steps_.push_back(std::move(step));
}

void PreTokenizer::add_digits(bool individual, const std::string& what) {
  add_split(individual ? "\\p{Nd}" : "\\p{Nd}+", false, SplitBehavior::Isolated, false, 0, what);
}

void PreTokenizer::add_whitespace_split(const std::string& what) {
  add_split("\\s+", false, SplitBehavior::Removed, false, 0, what);
}

void PreTokenizer::add_whitespace(const std::string& what) {
  add_split("\\w+|[^\\w\\s]+", false, SplitBehavior::Removed, true, 0, what);
}

void PreTokenizer::split_piece(const Regex& regex, SplitBehavior behavior, bool invert, std::string_view piece,
                               const Emit& emit) {
  const auto cut = [&](size_t b, size_t e) {
    if (e > b) emit(piece.substr(b, e - b));
  };
  switch (behavior) {
    case SplitBehavior::Isolated: for_each_span(regex, piece, [&](const Span& s) { cut(s.begin, s.end); }); return;
    case SplitBehavior::Removed:
      for_each_span(regex, piece, [&](const Span& s) {
        if (s.is_match == invert) cut(s.begin, s.end);
      });
      return;
    case SplitBehavior::MergedWithPrevious: {
      // Each match joins the piece before it.
      size_t from = 0;
      for_each_span(regex, piece, [&](const Span& s) {
        if (s.is_match != invert) {
          cut(from, s.end);
          from = s.end;
        }
      });
      cut(from, piece.size());
      return;
    }
    case SplitBehavior::MergedWithNext: {
      // Each match starts a new piece.
      size_t from = 0;
      for_each_span(regex, piece, [&](const Span& s) {
        if (s.is_match != invert) {
          cut(from, s.begin);
          from = s.begin;
        }
      });
      cut(from, piece.size());
      return;
    }
    case SplitBehavior::Contiguous: {
      // Runs of consecutive matches become one piece; each gap is a piece of its own.
      bool in_run = false;
      size_t run_begin = 0, run_end = 0;
      for_each_span(regex, piece, [&](const Span& s) {
        const bool match = s.is_match != invert;
        if (match && in_run && s.begin == run_end) {
          run_end = s.end;
          return;
        }
        if (in_run) cut(run_begin, run_end);
        in_run = match;
        if (match) {
          run_begin = s.begin;
          run_end = s.end;
        } else {
          cut(s.begin, s.end);
        }
      });
      if (in_run) cut(run_begin, run_end);
      return;
    }
  }
}

// Depth first: each piece goes through the remaining steps before the next piece is cut, so the
// memory held is one piece per step, whatever the length of the text. seen[i]: a piece has
// already entered step i (Metaspace's "first" prepend scheme wants the first piece of a step).
void PreTokenizer::walk(size_t index, std::string_view piece, bool first_fragment, std::vector<char>& seen,
                        const Emit& emit) const {
  if (index == steps_.size()) {
    emit(piece);
    return;
  }
  const bool first = seen[index] == 0;
  seen[index] = 1;
  const Step& step = steps_[index];
  switch (step.kind) {
    case Kind::Split:
      split_piece(step.regex.front(), step.behavior, step.invert, piece,
                  [&](std::string_view sub) { walk(index + 1, sub, first_fragment, seen, emit); });
      return;
    case Kind::PrefixSpace: {
      if (piece[0] == ' ') {
        walk(index + 1, piece, first_fragment, seen, emit);
        return;
      }
      std::string spaced;
      spaced.reserve(piece.size() + 1);
      spaced.push_back(' ');
      spaced.append(piece);
      walk(index + 1, spaced, first_fragment, seen, emit);
      return;
    }
    case Kind::Metaspace: {
      std::string replaced;
      replaced.reserve(piece.size() + step.replacement.size());
      const bool prepend =
          step.prepend_scheme == "always" || (step.prepend_scheme == "first" && first_fragment && first);
      if (prepend && !(piece[0] == ' ' || piece.compare(0, step.replacement.size(), step.replacement) == 0))
        replaced += step.replacement;
      for (char c : piece) {
        if (c == ' ') {
          replaced += step.replacement;
        } else {
          replaced.push_back(c);
        }
      }
      if (step.split) {
        split_piece(step.regex.front(), SplitBehavior::MergedWithNext, false, replaced,
                    [&](std::string_view sub) { walk(index + 1, sub, first_fragment, seen, emit); });
      } else {
        walk(index + 1, replaced, first_fragment, seen, emit);
      }
      return;
    }
  }
}

void PreTokenizer::for_each(std::string_view text, bool first_fragment, const Emit& emit) const {
  if (text.empty()) return;
  std::vector<char> seen(steps_.size(), 0);
  walk(0, text, first_fragment, seen, emit);
}

std::vector<std::string> PreTokenizer::run(std::string_view text, bool first_fragment) const {
  std::vector<std::string> pieces;
  for_each(text, first_fragment, [&](std::string_view piece) { pieces.emplace_back(piece); });
  return pieces;
}

std::vector<std::string> llamacpp_pre_regexes(const std::string& pre, bool& ignore_merges) {
  // Regex tables as in llama.cpp's llama-vocab.cpp (llm_tokenizer_bpe), by pre-tokenizer type.
  static const char* const kLlama3 =
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  static const char* const kQwen2 =
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  static const char* const kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
  static const char* const kBloom = " ?[^(\\s|.,!?…。，、।۔،)]+";

  const auto is = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (pre == n) return true;
    return false;
  };
  ignore_merges = false;
  if (pre.empty() || pre == "default") {
    return {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
  }
  if (is({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"})) {
    ignore_merges = true;
    return {kLlama3};
  }
  if (is({"dbrx", "smaug-bpe", "glm4", "chatglm-bpe"})) return {kLlama3};
  if (pre == "deepseek-llm") {
    // Code points that Unicode normalisation would change are written as \x{...} escapes.
    // clang-format off
    return {
        "[\r\n]",
        "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ\\x{1FBE}ῂ-ῄῆ-ῌῐ-\\x{1FD3}ῖ-\\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
        "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
        "\\s+$",
        "[一-龥ࠀ-一가-퟿]+",
        "\\p{N}+",
    };
    // clang-format on
  }
  if (pre == "deepseek-coder") return {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"};
  if (is({"deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"})) {
    return {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
            "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"};
  }
  if (pre == "falcon") return {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
  if (is({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"}))
    return {"\\p{N}", kGpt2};
  if (is({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
          "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4", "mpt", "olmo", "jais", "trillion",
          "granite-docling"}))
    return {kGpt2};
  if (is({"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open"}))
    return {kQwen2};
  if (is({"poro-chat", "bloom", "gpt3-finnish"})) return {kBloom};
  if (pre == "viking") return {kBloom, "\\p{N}"};
  if (pre == "tekken") {
    ignore_merges = true;
    return {
        "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-"
        "z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
  }
  if (is({"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"})) {
    return {
        "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'["
        "mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'["
        "rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!"
        "\\S)|\\s+"};
  }
  if (pre == "chameleon") {
    return {"<sentinel:[0-9]+>",      "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
            "([\\t\\n]|    |  )",     "\\p{N}",
            "[\\p{P}!-/:-@\\[-`{-~]", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"};
  }
  fail("unknown pre-tokenizer type '", pre, "'");
}

}  // namespace loupe
