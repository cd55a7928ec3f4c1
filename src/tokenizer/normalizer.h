// Hugging Face tokenizer.json normalizers: Sequence of Prepend, Replace (string or regex),
// Lowercase, Strip, NFC / NFD (NFKC / NFKD as their canonical forms).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace loupe {

class Normalizer {
 public:
  void add_prepend(std::string prefix);
  void add_replace(std::string_view pattern, bool literal, std::string content, const std::string& what);
  void add_lowercase();
  void add_strip(bool left, bool right);
  void add_unicode_normal_form(std::string form);  // "NFC", "NFKC", "NFD", "NFKD"

  bool empty() const { return steps_.empty(); }
  std::string apply(std::string_view text) const;

 private:
  enum class Kind { Prepend, Replace, Lowercase, Strip, NormalForm };
  struct Step {
    Kind kind = Kind::Prepend;
    std::string text;  // Prepend: prefix; Replace: content; NormalForm: name
    std::shared_ptr<Regex> regex;
    bool left = false;
    bool right = false;
  };
  std::vector<Step> steps_;
};

}  // namespace loupe
