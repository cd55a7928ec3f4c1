// Input: byte streams (plain, gzip, zstd), directory expansion, record splitting by format.
#include "data/input.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace loupe::data {

namespace {

namespace fs = std::filesystem;

constexpr size_t kChunk = 1 << 18;

// A FILE* (or stdin) with a few bytes of look-ahead put back in front.
class FileSource {
 public:
  explicit FileSource(const std::string& path) : name_(path == "-" ? "<stdin>" : path) {
    if (path == "-") {
      file_ = stdin;
    } else {
      file_ = std::fopen(path.c_str(), "rb");
      if (!file_) fail(path, ": cannot open (", std::strerror(errno), ")");
      owned_ = true;
    }
  }
  ~FileSource() {
    if (owned_) std::fclose(file_);
  }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  size_t read(char* buf, size_t n) {
    size_t got = 0;
    if (pending_pos_ < pending_.size()) {
      got = std::min(n, pending_.size() - pending_pos_);
      std::memcpy(buf, pending_.data() + pending_pos_, got);
      pending_pos_ += got;
      if (got == n) return got;
    }
    const size_t r = std::fread(buf + got, 1, n - got, file_);
    if (r < n - got && std::ferror(file_)) fail(name_, ": read error (", std::strerror(errno), ")");
    raw_ += r;
    return got + r;
  }
  // Reads up to n bytes and puts them back, for format detection.
  std::string peek(size_t n) {
    std::string head(n, '\0');
    const size_t r = std::fread(head.data(), 1, n, file_);
    raw_ += r;
    head.resize(r);
    pending_ = head;
    pending_pos_ = 0;
    return head;
  }
  uint64_t raw() const { return raw_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  FILE* file_ = nullptr;
  bool owned_ = false;
  std::string pending_;
  size_t pending_pos_ = 0;
  uint64_t raw_ = 0;
};

class PlainStream : public ByteStream {
 public:
  explicit PlainStream(std::unique_ptr<FileSource> f) : f_(std::move(f)) {}
  size_t read(char* buf, size_t n) override { return f_->read(buf, n); }
  uint64_t raw_bytes() const override { return f_->raw(); }

 private:
  std::unique_ptr<FileSource> f_;
};

class GzipStream : public ByteStream {
 public:
  explicit GzipStream(std::unique_ptr<FileSource> f) : f_(std::move(f)), in_(kChunk) {
    std::memset(&z_, 0, sizeof z_);
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) fail(f_->name(), ": cannot start gzip decoding");
  }
  ~GzipStream() override { inflateEnd(&z_); }
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  size_t read(char* buf, size_t n) override {
    z_.next_out = reinterpret_cast<Bytef*>(buf);
    z_.avail_out = static_cast<uInt>(n);
    while (z_.avail_out > 0) {
      if (z_.avail_in == 0) {
        const size_t got = f_->read(in_.data(), in_.size());
        if (got == 0) {
          if (!member_done_) fail(f_->name(), ": truncated gzip data");
          break;
        }
        z_.next_in = reinterpret_cast<Bytef*>(in_.data());
        z_.avail_in = static_cast<uInt>(got);
      }
      if (member_done_) {  // another member follows (concatenated .gz)
        inflateReset(&z_);
        member_done_ = false;
      }
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        member_done_ = true;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        fail(f_->name(), ": corrupt gzip data (", z_.msg ? z_.msg : "zlib error", ")");
      }
    }
    return n - z_.avail_out;
  }
  uint64_t raw_bytes() const override { return f_->raw(); }

 private:
  std::unique_ptr<FileSource> f_;
  std::vector<char> in_;
  z_stream z_;
  bool member_done_ = false;
};

class ZstdStream : public ByteStream {
 public:
  explicit ZstdStream(std::unique_ptr<FileSource> f) : f_(std::move(f)), in_(kChunk) {
    ctx_ = ZSTD_createDCtx();
    if (!ctx_) fail(f_->name(), ": cannot start zstd decoding");
  }
  ~ZstdStream() override { ZSTD_freeDCtx(ctx_); }
  ZstdStream(const ZstdStream&) = delete;
  ZstdStream& operator=(const ZstdStream&) = delete;

  size_t read(char* buf, size_t n) override {
    ZSTD_outBuffer out{buf, n, 0};
    while (out.pos < out.size) {
      if (in_pos_ == in_size_) {
        in_size_ = f_->read(in_.data(), in_.size());
        in_pos_ = 0;
        if (in_size_ == 0) {
          if (!frame_done_) fail(f_->name(), ": truncated zstd data");
          break;
        }
      }
      ZSTD_inBuffer in{in_.data(), in_size_, in_pos_};
      const size_t rc = ZSTD_decompressStream(ctx_, &out, &in);
      in_pos_ = in.pos;
      if (ZSTD_isError(rc)) fail(f_->name(), ": corrupt zstd data (", ZSTD_getErrorName(rc), ")");
      frame_done_ = rc == 0;
    }
    return out.pos;
  }
  uint64_t raw_bytes() const override { return f_->raw(); }

 private:
  std::unique_ptr<FileSource> f_;
  std::vector<char> in_;
  size_t in_size_ = 0;
  size_t in_pos_ = 0;
  ZSTD_DCtx* ctx_ = nullptr;
  bool frame_done_ = true;
};

std::string strip_compression_ext(const std::string& path) {
  for (const char* ext : {".gz", ".zst"}) {
    const size_t n = std::strlen(ext);
    if (path.size() > n && path.compare(path.size() - n, n, ext) == 0) return path.substr(0, path.size() - n);
  }
  return path;
}

Format auto_format(const std::string& path) {
  const std::string ext = fs::path(strip_compression_ext(path)).extension().string();
  if (ext == ".jsonl" || ext == ".json" || ext == ".ndjson") return Format::Jsonl;
  if (ext == ".csv") return Format::Csv;
  return Format::Lines;
}

bool blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; });
}

}  // namespace

Format parse_format(std::string_view name) {
  if (name == "auto") return Format::Auto;
  if (name == "lines") return Format::Lines;
  if (name == "blank") return Format::Blank;
  if (name == "jsonl") return Format::Jsonl;
  if (name == "csv") return Format::Csv;
  fail("--split/--format: unknown value '", name, "' (expected auto, lines, blank, jsonl or csv)");
}

std::string_view format_name(Format f) {
  switch (f) {
    case Format::Auto: return "auto";
    case Format::Lines: return "lines";
    case Format::Blank: return "blank";
    case Format::Jsonl: return "jsonl";
    case Format::Csv: return "csv";
  }
  return "auto";
}

std::unique_ptr<ByteStream> open_stream(const std::string& path) {
  auto f = std::make_unique<FileSource>(path);
  const std::string head = f->peek(4);
  if (head.size() >= 2 && static_cast<uint8_t>(head[0]) == 0x1f && static_cast<uint8_t>(head[1]) == 0x8b)
    return std::make_unique<GzipStream>(std::move(f));
  if (head.size() == 4 && head == std::string("\x28\xb5\x2f\xfd", 4)) return std::make_unique<ZstdStream>(std::move(f));
  return std::make_unique<PlainStream>(std::move(f));
}

std::vector<std::string> expand_inputs(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    if (p == "-") {
      out.push_back(p);
      continue;
    }
    std::error_code ec;
    if (!fs::exists(p, ec)) fail(p, ": no such file or directory");
    if (!fs::is_directory(p, ec)) {
      out.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
    if (ec) fail(p, ": cannot list directory (", ec.message(), ")");
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) fail(p, ": cannot list directory (", ec.message(), ")");
      const std::string name = it->path().filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec)) found.push_back(it->path().string());
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

Reader::Reader(const std::vector<std::string>& paths, Format format, std::string field)
    : sources_(expand_inputs(paths)), format_(format), field_(std::move(field)) {
  if (field_.empty()) fail("--field: empty field name");
  for (const std::string& s : sources_) {
    std::error_code ec;
    if (s != "-" && fs::is_regular_file(s, ec)) total_bytes_ += fs::file_size(s, ec);
  }
}

Reader::~Reader() = default;

Format Reader::format_of(uint32_t source) const {
  return format_ == Format::Auto ? auto_format(sources_.at(source)) : format_;
}

std::vector<Problem> Reader::take_problems() {
  std::vector<Problem> out;
  out.swap(problems_);
  return out;
}

uint64_t Reader::raw_bytes() const {
  return done_raw_bytes_ + (stream_ ? stream_->raw_bytes() : 0);
}

bool Reader::open_next() {
  if (stream_) done_raw_bytes_ += stream_->raw_bytes();
  stream_.reset();
  if (current_ + 1 >= static_cast<int64_t>(sources_.size())) return false;
  ++current_;
  stream_ = open_stream(sources_[static_cast<size_t>(current_)]);
  current_format_ = format_of(static_cast<uint32_t>(current_));
  line_no_ = 0;
  buf_.clear();
  buf_pos_ = 0;
  eof_ = false;
  csv_column_ = -1;
  return true;
}

bool Reader::read_line(std::string& line) {
  line.clear();
  too_long_ = 0;
  uint64_t length = 0;  // of the whole line, kept or not
  bool any = false;
  for (;;) {
    const size_t nl = buf_.find('\n', buf_pos_);
    const size_t end = nl != std::string::npos ? nl : buf_.size();
    length += end - buf_pos_;
    any = any || end > buf_pos_ || nl != std::string::npos;
    if (length > max_record_) {
      line.clear();  // past the limit: the rest is only counted
      line.shrink_to_fit();
    } else {
      line.append(buf_, buf_pos_, end - buf_pos_);
    }
    if (nl != std::string::npos) {
      buf_pos_ = nl + 1;
      break;
    }
    buf_.clear();
    buf_pos_ = 0;
    if (eof_) {
      if (!any) return false;
      break;
    }
    buf_.resize(kChunk);
    const size_t got = stream_->read(buf_.data(), buf_.size());
    buf_.resize(got);
    if (got == 0) eof_ = true;
  }
  ++line_no_;
  if (length > max_record_) {
    too_long_ = length;
    return true;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

void Reader::too_long(int64_t line, uint64_t bytes) {
  problems_.push_back({static_cast<uint32_t>(current_), line,
                       cat("a record of ", bytes, " bytes is longer than the ", max_record_,
                           " bytes the memory budget allows one document (--memory-mb); skipped")});
}

bool Reader::next_record(Record& r) {
  r.source = static_cast<uint32_t>(current_);
  switch (current_format_) {
    case Format::Auto:
    case Format::Lines:
    case Format::Jsonl:
      for (;;) {
        if (!read_line(r.text)) return false;
        if (too_long_ == 0) break;
        too_long(line_no_, too_long_);
      }
      r.line = line_no_;
      if (current_format_ == Format::Lines && line_no_ == 1 && r.text.compare(0, 3, "\xEF\xBB\xBF") == 0)
        r.text.erase(0, 3);  // byte order mark
      return true;
    case Format::Blank: {
      std::string line;
      r.text.clear();
      bool started = false, dropped = false;
      uint64_t length = 0;
      while (read_line(line)) {
        if (too_long_ == 0 && blank(line)) {
          if (dropped) {  // the end of a document that was too long
            too_long(r.line, length);
            r.text.clear();
            started = dropped = false;
            length = 0;
            continue;
          }
          if (started) return true;
          continue;
        }
        if (!started && !dropped) r.line = line_no_;
        length += (started || dropped ? 1 : 0) + (too_long_ != 0 ? too_long_ : line.size());
        if (length > max_record_) {
          dropped = true;
          started = false;
          r.text.clear();
          r.text.shrink_to_fit();
          continue;
        }
        if (started) r.text += '\n';
        r.text += line;
        started = true;
      }
      if (dropped) too_long(r.line, length);
      return started;
    }
    case Format::Csv: {
      std::string line;
      std::vector<std::string> fields;
      std::string problem;
      for (;;) {
        if (!read_line(line)) return false;
        const int64_t start = line_no_;
        uint64_t length = too_long_ != 0 ? too_long_ : line.size();
        bool dropped = too_long_ != 0;
        std::string record = line;
        // A record continues while its quotes are unbalanced (counted line by line: a quote
        // left open does not make reading quadratic). A line too long to keep is not scanned
        // for quotes: the record ends with it.
        size_t quotes = dropped ? 0 : static_cast<size_t>(std::count(line.begin(), line.end(), '"'));
        while (quotes % 2 == 1) {
          if (!read_line(line)) break;
          length += 1 + (too_long_ != 0 ? too_long_ : line.size());
          quotes += static_cast<size_t>(std::count(line.begin(), line.end(), '"'));
          if (too_long_ != 0 || length > max_record_) {  // read on to the record's end, keeping nothing
            dropped = true;
            record.clear();
            record.shrink_to_fit();
          }
          if (dropped) continue;
          record += '\n';
          record += line;
        }
        if (dropped) {
          too_long(start, length);
          continue;
        }
        if (!split_csv(record, fields, problem)) {
          problems_.push_back({r.source, start, problem});
          continue;
        }
        if (csv_column_ < 0) {
          const auto it = std::find(fields.begin(), fields.end(), field_);
          if (it == fields.end()) {
            problems_.push_back({r.source, start, "csv header has no column '" + field_ + "'; file skipped"});
            while (read_line(line)) {
            }
            return false;
          }
          csv_column_ = static_cast<int>(it - fields.begin());
          continue;
        }
        if (static_cast<int>(fields.size()) <= csv_column_) {
          problems_.push_back(
              {r.source, start,
               cat("row has ", fields.size(), " field(s), no column '", field_, "' (column ", csv_column_ + 1, ")")});
          continue;
        }
        r.text = std::move(fields[static_cast<size_t>(csv_column_)]);
        r.line = start;
        return true;
      }
    }
  }
  return false;
}

bool Reader::next_batch(std::vector<Record>& out, size_t max_bytes) {
  size_t added = 0;
  bool any = false;
  while (added < max_bytes) {
    if (!stream_ && !open_next()) break;
    Record r;
    if (!next_record(r)) {
      if (!open_next()) break;
      continue;
    }
    added += r.text.size() + 16;
    out.push_back(std::move(r));
    any = true;
  }
  return any;
}

bool extract_jsonl(std::string_view line, const std::string& field, std::string& text, std::string& problem) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
    std::string what = e.what();
    const size_t at = what.find("] ");
    problem = "invalid JSON (" + (at == std::string::npos ? what : what.substr(at + 2)) + ")";
    return false;
  }
  const nlohmann::json* node = &j;
  size_t start = 0;
  for (;;) {
    const size_t dot = field.find('.', start);
    const std::string key = field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object()) {
      problem = "missing field '" + field + "' (not a JSON object)";
      return false;
    }
    const auto it = node->find(key);
    if (it == node->end()) {
      problem = "missing field '" + field + "'";
      return false;
    }
    node = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!node->is_string()) {
    problem = "field '" + field + "' is not a string (" + node->type_name() + ")";
    return false;
  }
  text = node->get<std::string>();
  return true;
}

bool split_csv(std::string_view record, std::vector<std::string>& fields, std::string& problem) {
  fields.clear();
  std::string cur;
  size_t i = 0;
  for (;;) {
    cur.clear();
    if (i < record.size() && record[i] == '"') {
      ++i;
      for (;;) {
        if (i >= record.size()) {
          problem = "unterminated quoted field";
          return false;
        }
        if (record[i] == '"') {
          if (i + 1 < record.size() && record[i + 1] == '"') {
            cur += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        cur += record[i++];
      }
      if (i < record.size() && record[i] != ',') {
        problem = cat("text after a closing quote at byte ", i);
        return false;
      }
    } else {
      while (i < record.size() && record[i] != ',') cur += record[i++];
    }
    fields.push_back(cur);
    if (i >= record.size()) return true;
    ++i;  // ','
  }
}

}  // namespace loupe::data
