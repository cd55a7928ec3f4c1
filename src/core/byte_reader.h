// Bounds-checked little-endian reads from a byte range. Every failure names the source,
// the field being read and its offset, so a truncated or hostile file gives a precise error.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/error.h"

namespace loupe {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, std::string source)
      : data_(data), size_(size), source_(std::move(source)) {}

  size_t offset() const { return pos_; }
  size_t size() const { return size_; }
  size_t remaining() const { return size_ - pos_; }
  const std::string& source() const { return source_; }

  void seek(size_t offset, std::string_view field) {
    if (offset > size_)
      fail(source_, ": ", field, ": offset ", offset, " is past the end of the file (", size_, " bytes)");
    pos_ = offset;
  }

  template <class T>
  T read(std::string_view field) {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T), field);
    T value;
    std::memcpy(&value, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  // A view of the next n bytes (not copied).
  std::string_view bytes(uint64_t n, std::string_view field) {
    need(n, field);
    std::string_view v(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return v;
  }

  void need(uint64_t n, std::string_view field) const {
    if (n > size_ - pos_)
      fail(source_, ": ", field, " at offset ", pos_, ": unexpected end of file (needs ", n, " bytes, ", size_ - pos_,
           " left)");
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string source_;
};

}  // namespace loupe
