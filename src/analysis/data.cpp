#include "analysis/data.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
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

DocumentReader::DocumentReader(const std::string& path, const std::string& field, data::Format format, bool strict)
    : path_(path), field_(field), strict_(strict) {
  if (format == data::Format::Auto && path != "-") {
    // A file without a telling extension is JSONL when it starts with '{'.
    std::error_code ec;
    const bool file = std::filesystem::is_regular_file(path, ec);
    const bool named = ends_with(path, ".jsonl") || ends_with(path, ".json") || ends_with(path, ".ndjson") ||
                       ends_with(path, ".csv") || ends_with(path, ".gz") || ends_with(path, ".zst");
    if (file && !named) {
      std::ifstream in(path, std::ios::binary);
      if (!in) fail(path, ": cannot open the data file");
      char c = 0;
      while (in.get(c))
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
      format = in && c == '{' ? data::Format::Jsonl : data::Format::Lines;
    }
  }
  reader_ = std::make_unique<data::Reader>(std::vector<std::string>{path}, format, field);
  reader_->set_max_record_bytes(size_t{64} << 20);
  format_ = reader_->sources().empty() ? data::Format::Lines : reader_->format_of(0);
  on_problem_ = [n = 0](const std::string& msg) mutable {
    if (++n <= 20) std::fprintf(stderr, "warning: %s; skipped (--strict stops instead)\n", msg.c_str());
    if (n == 21) std::fprintf(stderr, "warning: more records skipped; not listed\n");
  };
}

DocumentReader::~DocumentReader() = default;

const std::string& DocumentReader::path() const {
  return reader_->sources().empty() ? path_ : reader_->sources()[source_];
}

void DocumentReader::problem(uint32_t source, int64_t line, const std::string& message) {
  const std::string where = source < reader_->sources().size() ? reader_->sources()[source] : path_;
  const std::string msg = cat(where, ":", line, ": ", message);
  if (strict_) fail(msg, " (--strict)");
  ++skipped_;
  if (on_problem_) on_problem_(msg);
}

void DocumentReader::take_reader_problems() {
  for (const data::Problem& p : reader_->take_problems()) problem(p.source, p.line, p.message);
}

std::optional<std::string> DocumentReader::next() {
  for (;;) {
    if (pos_ >= batch_.size()) {
      batch_.clear();
      pos_ = 0;
      const bool more = reader_->next_batch(batch_, size_t{1} << 20);
      take_reader_problems();
      if (!more) return std::nullopt;
      continue;
    }
    data::Record& r = batch_[pos_++];
    source_ = r.source;
    line_ = r.line;
    std::string text;
    if (reader_->format_of(r.source) == data::Format::Jsonl) {
      if (blank(r.text)) continue;
      std::string why;
      if (!data::extract_jsonl(r.text, field_, text, why)) {
        problem(r.source, r.line, why);
        continue;
      }
    } else {
      text = std::move(r.text);
    }
    if (blank(text)) continue;
    const int64_t bad = find_invalid_utf8(text);
    if (bad >= 0) {
      problem(r.source, r.line, cat("invalid UTF-8 at byte ", bad, " of the document"));
      continue;
    }
    return text;
  }
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
