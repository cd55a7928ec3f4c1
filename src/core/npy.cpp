#include "core/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "core/byte_reader.h"
#include "core/error.h"
#include "core/mapped_file.h"

namespace loupe {
namespace {

void write_npy(const std::string& path, const char* descr, const void* data, size_t elem_size,
               const std::vector<int64_t>& shape) {
  std::string dims;
  size_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    dims += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) dims += ",";
    if (i + 1 < shape.size()) dims += " ";
    count *= static_cast<size_t>(shape[i]);
  }
  std::string header = cat("{'descr': '", descr, "', 'fortran_order': False, 'shape': (", dims, "), }");
  // Magic (6) + version (2) + header length (2) + header, padded with spaces to 64 bytes, ending '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail(path, ": cannot open for writing");
  const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.write(magic, 8);
  uint16_t len = static_cast<uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&len), 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(count * elem_size));
  if (!out) fail(path, ": write failed");
}

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
  if (magic != std::string_view("\x93NUMPY", 6)) fail(path, ": not a .npy file (bad magic)");
  uint8_t major = r.read<uint8_t>("version");
  r.read<uint8_t>("version");
  uint64_t hlen = major == 1 ? r.read<uint16_t>("header length") : r.read<uint32_t>("header length");
  std::string header(r.bytes(hlen, "header"));
  auto field = [&](const std::string& key) -> std::string {
    size_t k = header.find("'" + key + "'");
    if (k == std::string::npos) fail(path, ": header has no '", key, "'");
    size_t colon = header.find(':', k);
    if (colon == std::string::npos) fail(path, ": header field '", key, "' is malformed");
    return header.substr(colon + 1);
  };
  std::string descr = field("descr");
  size_t q1 = descr.find('\'');
  size_t q2 = descr.find('\'', q1 + 1);
  if (q1 == std::string::npos || q2 == std::string::npos) fail(path, ": header field 'descr' is malformed");
  descr = descr.substr(q1 + 1, q2 - q1 - 1);
  if (field("fortran_order").find("True") < field("fortran_order").find(','))
    fail(path, ": fortran_order arrays are not supported");
  std::string shape_s = field("shape");
  size_t open = shape_s.find('(');
  size_t close = shape_s.find(')');
  if (open == std::string::npos || close == std::string::npos) fail(path, ": header field 'shape' is malformed");
  NpyArray out;
  size_t count = 1;
  std::string dims = shape_s.substr(open + 1, close - open - 1);
  size_t pos = 0;
  while (pos < dims.size()) {
    size_t comma = dims.find(',', pos);
    std::string tok = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? dims.size() : comma + 1;
    if (tok.find_first_not_of(' ') == std::string::npos) continue;
    int64_t d = 0;
    try {
      d = std::stoll(tok);
    } catch (...) {
      fail(path, ": header field 'shape' has a bad dimension '", tok, "'");
    }
    if (d < 0 || d > (int64_t(1) << 40)) fail(path, ": header field 'shape' has an absurd dimension ", d);
    out.shape.push_back(d);
    count *= static_cast<size_t>(d);
    if (count > (size_t(1) << 40)) fail(path, ": shape is too large");
  }
  size_t elem = 0;
  if (descr == "<f4" || descr == "<i4") elem = 4;
  else if (descr == "<f8" || descr == "<i8") elem = 8;
  else fail(path, ": unsupported dtype '", descr, "' (expected <f4, <f8, <i4 or <i8)");
  std::string_view raw = r.bytes(count * elem, "array data");
  out.data.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const char* p = raw.data() + i * elem;
    if (descr == "<f4") { float v; std::memcpy(&v, p, 4); out.data[i] = v; }
    else if (descr == "<f8") { double v; std::memcpy(&v, p, 8); out.data[i] = static_cast<float>(v); }
    else if (descr == "<i4") { int32_t v; std::memcpy(&v, p, 4); out.data[i] = static_cast<float>(v); }
    else { int64_t v; std::memcpy(&v, p, 8); out.data[i] = static_cast<float>(v); }
  }
  return out;
}

}  // namespace loupe
