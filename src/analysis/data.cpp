#include "analysis/data.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/driver.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace loupe::analysis {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool blank(const std::string& s) {
  return s.find_first_not_of(" \t\r\n") == std::string::npos;
}

}  // namespace

DocumentReader::DocumentReader(const std::string& path, const std::string& field)
    : path_(path), field_(field), in_(path, std::ios::binary) {
  if (!in_) fail(path, ": cannot open the data file");
  if (ends_with(path, ".jsonl") || ends_with(path, ".ndjson")) {
    format_ = DataFormat::Jsonl;
    return;
  }
  // Peek at the first non-blank character.
  char c = 0;
  while (in_.get(c))
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
  if (in_ && c == '{') format_ = DataFormat::Jsonl;
  in_.clear();
  in_.seekg(0);
}

std::optional<std::string> DocumentReader::next() {
  std::string line;
  while (std::getline(in_, line)) {
    ++line_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (blank(line)) continue;
    if (format_ == DataFormat::Text) {
      const int64_t bad = find_invalid_utf8(line);
      if (bad >= 0) fail(path_, ":", line_, ": invalid UTF-8 at byte ", bad, " of the line");
      return line;
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      fail(path_, ":", line_, ": not a JSON object (", e.what(), ")");
    }
    if (!j.is_object()) fail(path_, ":", line_, ": expected a JSON object with a '", field_, "' field");
    auto it = j.find(field_);
    if (it == j.end()) fail(path_, ":", line_, ": no '", field_, "' field (use --field to name another)");
    if (!it->is_string()) fail(path_, ":", line_, ": field '", field_, "' is not a string");
    std::string text = it->get<std::string>();
    if (blank(text)) continue;
    return text;
  }
  if (in_.bad()) fail(path_, ": read error after line ", line_);
  return std::nullopt;
}

Sequencer::Sequencer(const Model& model, DocumentReader& reader, const SequencerOptions& options)
    : model_(model), reader_(reader), opt_(options) {
  if (!model.tokenizer) fail(model.path, ": no tokenizer found for this model; pass --tokenizer FILE");
  add_bos_ = default_add_bos(model);
  if (opt_.chunk < 0) fail("--chunk: ", opt_.chunk, " is negative");
  if (opt_.chunk > 0 && opt_.chunk < 4) fail("--chunk: ", opt_.chunk, " is too short (at least 4 tokens)");
  if (opt_.chunk == 0 && opt_.max_len < 2) fail("sequence length ", opt_.max_len, " is too short");
}

bool Sequencer::load_next_document() {
  if (opt_.max_docs > 0 && n_docs_ >= opt_.max_docs) return false;
  std::optional<std::string> text = reader_.next();
  if (!text) return false;
  doc_tokens_ = model_.tokenizer->encode(*text, add_bos_);
  doc_line_ = reader_.line();
  ++n_docs_;
  next_start_ = 0;
  return true;
}

std::optional<Sequence> Sequencer::next() {
  if (opt_.chunk > 0) {
    if (!chunks_loaded_) {
      std::string all;
      while (opt_.max_docs == 0 || n_docs_ < opt_.max_docs) {
        std::optional<std::string> text = reader_.next();
        if (!text) break;
        if (n_docs_ > 0) all += '\n';
        all += *text;
        ++n_docs_;
      }
      all_tokens_ = model_.tokenizer->encode(all, add_bos_);
      chunks_loaded_ = true;
      const auto n_chunks = static_cast<int64_t>(all_tokens_.size()) / opt_.chunk;
      if (n_chunks == 0)
        fail(reader_.path(), ": ", all_tokens_.size(), " tokens are fewer than one chunk of ", opt_.chunk,
             " (use a smaller --chunk or more data)");
    }
    const int64_t start = next_chunk_ * opt_.chunk;
    if (start + opt_.chunk > static_cast<int64_t>(all_tokens_.size())) return std::nullopt;
    Sequence s;
    s.doc = next_chunk_++;
    s.offset = start;
    s.tokens.assign(all_tokens_.begin() + start, all_tokens_.begin() + start + opt_.chunk);
    if (add_bos_) s.tokens[0] = model_.config.bos_id;
    s.first_scored = opt_.chunk / 2;
    return s;
  }

  // Per-document windows.
  while (next_start_ < 0 || next_start_ + 1 >= static_cast<int64_t>(doc_tokens_.size())) {
    if (!load_next_document()) return std::nullopt;
  }
  const auto n = static_cast<int64_t>(doc_tokens_.size());
  const int64_t begin = next_start_;
  const int64_t end = std::min(n, begin + opt_.max_len);
  Sequence s;
  s.doc = n_docs_ - 1;
  s.doc_line = doc_line_;
  s.offset = begin;
  s.tokens.assign(doc_tokens_.begin() + begin, doc_tokens_.begin() + end);
  s.first_scored = 0;
  s.last_of_doc = end == n;
  next_start_ = end == n ? n : end - 1;
  return s;
}

}  // namespace loupe::analysis
