// Reading corpora: files, directories and standard input, plain or compressed (gzip, zstd,
// recognised by their magic bytes), split into records by format:
//   Lines  one document per line (the default);
//   Blank  documents separated by one or more blank (empty or whitespace-only) lines;
//   Jsonl  one JSON object per line, the document is a string field (--field, "a.b" nests);
//   Csv    RFC 4180 CSV with a header row, the document is the column named by --field
//          (quoted fields may span lines).
// Auto picks Jsonl for .jsonl/.json/.ndjson, Csv for .csv, else Lines (after stripping .gz/.zst).
//
// Reading is sequential (one thread); JSON extraction is left to the caller's workers
// (extract_jsonl), so JSONL records carry the raw line. Problems (a broken JSON line, a missing
// field, a CSV row without the column) are reported with the source and the line number and the
// record is skipped; reading goes on.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace loupe::data {

enum class Format { Auto, Lines, Blank, Jsonl, Csv };

// "auto", "lines", "blank", "jsonl", "csv"; throws Error naming the bad value.
Format parse_format(std::string_view name);
std::string_view format_name(Format f);

// Decompressed bytes of one input ("-" is standard input). Compression is detected from the
// first bytes: 1f 8b gzip (multi-member), 28 b5 2f fd zstd (multi-frame), else plain.
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Reads up to n bytes; returns 0 at the end. Throws Error naming the input on a read or
  // decompression error (a truncated .gz/.zst included).
  virtual size_t read(char* buf, size_t n) = 0;
  // Bytes consumed from the underlying file so far (compressed bytes for .gz/.zst).
  virtual uint64_t raw_bytes() const = 0;
};
std::unique_ptr<ByteStream> open_stream(const std::string& path);

// Files to read, in order: each path as given, directories expanded recursively (sorted by
// name, hidden entries skipped). Throws Error for a path that does not exist.
std::vector<std::string> expand_inputs(const std::vector<std::string>& paths);

struct Record {
  std::string text;     // the document (Lines/Blank/Csv) or the raw JSON line (Jsonl)
  uint32_t source = 0;  // index into Reader::sources()
  int64_t line = 0;     // 1-based line where the record starts
};

struct Problem {
  uint32_t source = 0;
  int64_t line = 0;
  std::string message;
};

class Reader {
 public:
  // paths as given to expand_inputs; field is used by Jsonl and Csv.
  Reader(const std::vector<std::string>& paths, Format format, std::string field);
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Appends records to out until about max_bytes of text were added; false when the input is
  // exhausted and nothing was added.
  bool next_batch(std::vector<Record>& out, size_t max_bytes);
  // Records longer than this many bytes are skipped as they are read (never held whole), each
  // with a problem naming its line and size; callers derive it from their memory budget.
  void set_max_record_bytes(size_t bytes) { max_record_ = bytes; }

  const std::vector<std::string>& sources() const { return sources_; }
  // The format used for a source (Auto resolved).
  Format format_of(uint32_t source) const;
  const std::string& field() const { return field_; }
  // Problems found while reading (CSV); JSONL problems come from extract_jsonl.
  std::vector<Problem> take_problems();
  // Progress: raw bytes consumed, and the total size of the regular files (0 if unknown).
  uint64_t raw_bytes() const;
  uint64_t total_bytes() const { return total_bytes_; }

 private:
  bool open_next();
  // false at end of the current source; a line past max_record_ is read to its end without being
  // kept, and comes back empty with too_long_ set to its length.
  bool read_line(std::string& line);
  void too_long(int64_t line, uint64_t bytes);  // records the problem
  bool next_record(Record& r);                  // false at end of the current source

  std::vector<std::string> sources_;
  Format format_;
  std::string field_;
  std::unique_ptr<ByteStream> stream_;
  int64_t current_ = -1;
  Format current_format_ = Format::Lines;
  int64_t line_no_ = 0;
  std::string buf_;
  size_t buf_pos_ = 0;
  bool eof_ = false;
  int csv_column_ = -1;
  std::vector<Problem> problems_;
  uint64_t done_raw_bytes_ = 0;
  uint64_t total_bytes_ = 0;
  size_t max_record_ = SIZE_MAX;
  uint64_t too_long_ = 0;  // length of the last line read, when it was past max_record_
};

// Extracts the string field (dotted path) from a JSON line. On failure returns false and sets
// problem to a message without location ("invalid JSON: ...", "missing field 'text'",
// "field 'text' is not a string").
bool extract_jsonl(std::string_view line, const std::string& field, std::string& text, std::string& problem);

// Splits one CSV record (RFC 4180; the text may contain quoted newlines) into fields. Returns
// false with problem set on an unterminated quote or text after a closing quote.
bool split_csv(std::string_view record, std::vector<std::string>& fields, std::string& problem);

}  // namespace loupe::data
