#include "core/npy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/atomic_file.h"
#include "core/byte_reader.h"
#include "core/error.h"
#include "core/mapped_file.h"

namespace loupe {
namespace {

constexpr uint64_t kMaxElements = uint64_t(1) << 40;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// Written through AtomicFile: a failed write never leaves a partial PATH behind.
void write_npy(const std::string& path, const char* descr, const void* data, size_t elem_size,
               const std::vector<int64_t>& shape) {
  size_t count = 1;
  for (int64_t d : shape) {
    LOUPE_ASSERT(d >= 0, path, ": negative dimension in shape ", shape_text(shape));
    count *= static_cast<size_t>(d);
  }
  std::string header = cat("{'descr': '", descr, "', 'fortran_order': False, 'shape': ", shape_text(shape), ", }");
  // Magic (6) + version (2) + header length (2, or 4 in version 2.0) + header, padded with
  // spaces so that the data starts at a multiple of 64 bytes, ending in '\n'.
  const bool v2 = header.size() + 1 + 64 > 65535;
  const size_t prefix = v2 ? 12 : 10;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');

  AtomicFile f(path);
  const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', static_cast<char>(v2 ? 2 : 1), 0};
  f.write(magic, 8);
  const uint32_t len32 = static_cast<uint32_t>(header.size());
  const uint16_t len16 = static_cast<uint16_t>(header.size());
  if (v2)
    f.write(&len32, 4);
  else
    f.write(&len16, 2);
  f.write(header);
  f.write(data, elem_size * count);
  f.commit();
}

// The header dictionary, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// as NumPy writes it (Python literal syntax, keys in any order, trailing spaces and '\n').
class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view text, size_t base) : path_(path), s_(text), base_(base) {}

  struct Result {
    std::string descr;
    bool fortran_order = false;
    std::vector<int64_t> shape;
  };

  Result parse() {
    Result out;
    bool have_descr = false, have_order = false, have_shape = false;
    skip();
    expect('{');
    for (;;) {
      skip();
      if (peek() == '}') {
        ++pos_;
        break;
      }
      const size_t key_at = pos_;
      std::string key = quoted("a key");
      skip();
      expect(':');
      skip();
      if (key == "descr") {
        out.descr = quoted("the 'descr' string");
        have_descr = true;
      } else if (key == "fortran_order") {
        if (s_.substr(pos_, 4) == "True") {
          out.fortran_order = true;
          pos_ += 4;
        } else if (s_.substr(pos_, 5) == "False") {
          pos_ += 5;
        } else {
          bad("'fortran_order' must be True or False");
        }
        have_order = true;
      } else if (key == "shape") {
        out.shape = tuple();
        have_shape = true;
      } else {
        pos_ = key_at;
        bad(cat("unexpected key '", key, "'"));
      }
      skip();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      skip();
      if (peek() != '}') bad("expected ',' or '}'");
    }
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n')) ++pos_;
    if (pos_ != s_.size()) bad("unexpected text after the dictionary");
    if (!have_descr) fail(path_, ": header has no 'descr'");
    if (!have_order) fail(path_, ": header has no 'fortran_order'");
    if (!have_shape) fail(path_, ": header has no 'shape'");
    return out;
  }

 private:
  [[noreturn]] void bad(const std::string& what) const { fail(path_, ": header at offset ", base_ + pos_, ": ", what); }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip() {
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
  }
  void expect(char c) {
    if (peek() != c) bad(cat("expected '", c, "'"));
    ++pos_;
  }
  std::string quoted(const char* what) {
    const char q = peek();
    if (q != '\'' && q != '"') bad(cat("expected ", what, " in quotes"));
    const size_t end = s_.find(q, pos_ + 1);
    if (end == std::string_view::npos) bad("unterminated string");
    std::string v(s_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return v;
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> dims;
    expect('(');
    uint64_t count = 1;
    for (;;) {
      skip();
      if (peek() == ')') {
        ++pos_;
        return dims;
      }
      const size_t at = pos_;
      uint64_t d = 0;
      if (peek() < '0' || peek() > '9') bad("'shape' must be a tuple of non-negative integers");
      while (peek() >= '0' && peek() <= '9') {
        d = d * 10 + static_cast<uint64_t>(peek() - '0');
        ++pos_;
        if (d > kMaxElements) {
          pos_ = at;
          bad("'shape' has an absurd dimension (more than 2^40)");
        }
      }
      if (d != 0 && count > kMaxElements / d) {
        pos_ = at;
        bad("'shape' has more than 2^40 elements");
      }
      count *= d;
      dims.push_back(static_cast<int64_t>(d));
      skip();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != ')') {
        bad("expected ',' or ')' in 'shape'");
      }
    }
  }

  const std::string& path_;
  std::string_view s_;
  size_t base_;  // file offset of s_[0]
  size_t pos_ = 0;
};

}  // namespace

void write_npy_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  write_npy(path, "<f4", data, 4, shape);
}

void write_npy_i32(const std::string& path, const int32_t* data, const std::vector<int64_t>& shape) {
  write_npy(path, "<i4", data, 4, shape);
}

NpyArray read_npy(const std::string& path) {
  auto file = MappedFile::open(path);
  ByteReader r(file->data(), file->size(), path);
  std::string_view magic = r.bytes(6, "magic");
  if (magic != std::string_view("\x93NUMPY", 6))
    fail(path, ": not a .npy file (the magic at offset 0 is not '\\x93NUMPY')");
  const uint8_t major = r.read<uint8_t>("version");
  const uint8_t minor = r.read<uint8_t>("version");
  if (major < 1 || major > 3)
    fail(path, ": version at offset 6: unsupported .npy format version ", int(major), ".", int(minor),
         " (loupe reads 1.0, 2.0 and 3.0)");
  const uint64_t hlen = major == 1 ? r.read<uint16_t>("header length") : r.read<uint32_t>("header length");
  const size_t header_at = r.offset();
  std::string_view header = r.bytes(hlen, "header");
  HeaderParser::Result h = HeaderParser(path, header, header_at).parse();
  if (h.fortran_order) fail(path, ": header: fortran_order arrays are not supported");
  size_t elem = 0;
  if (h.descr == "<f4" || h.descr == "<i4")
    elem = 4;
  else if (h.descr == "<f8" || h.descr == "<i8")
    elem = 8;
  else
    fail(path, ": header: unsupported dtype '", h.descr, "' (expected <f4, <f8, <i4 or <i8)");

  NpyArray out;
  out.shape = h.shape;
  size_t count = 1;
  for (int64_t d : h.shape) count *= static_cast<size_t>(d);  // bounded by the parser
  const size_t data_at = r.offset();
  std::string_view raw = r.bytes(count * elem, "array data");
  if (r.remaining() != 0)
    fail(path, ": ", r.remaining(), " bytes after the array data (shape ", shape_text(h.shape), " of ", h.descr,
         " needs ", raw.size(), " bytes from offset ", data_at, ")");
  out.data.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const char* p = raw.data() + i * elem;
    if (h.descr == "<f4") {
      float v;
      std::memcpy(&v, p, 4);
      out.data[i] = v;
    } else if (h.descr == "<f8") {
      double v;
      std::memcpy(&v, p, 8);
      out.data[i] = static_cast<float>(v);
    } else if (h.descr == "<i4") {
      int32_t v;
      std::memcpy(&v, p, 4);
      out.data[i] = static_cast<float>(v);
    } else {
      int64_t v;
      std::memcpy(&v, p, 8);
      out.data[i] = static_cast<float>(v);
    }
  }
  return out;
}

}  // namespace loupe
