#include "formats/gguf.h"

#include <algorithm>
#include <limits>
#include <set>

#include "core/byte_reader.h"
#include "core/error.h"

namespace loupe {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
constexpr int kMaxDims = 4;
constexpr int kMaxArrayDepth = 4;

// Sizes used to reject absurd counts before allocating: the smallest encoding of one item.
size_t min_value_bytes(GgufType t, uint32_t version) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::BOOL: return 1;
    case GgufType::U16:
    case GgufType::I16: return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32: return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64: return 8;
    case GgufType::STRING: return version == 1 ? 4 : 8;
    case GgufType::ARRAY: return version == 1 ? 8 : 12;
  }
  return 1;
}

bool valid_type(uint32_t t) {
  return t <= static_cast<uint32_t>(GgufType::F64);
}

class Parser {
 public:
  Parser(ByteReader& r, uint32_t version) : r_(r), version_(version) {}

  uint64_t count(const std::string& field) {
    return version_ == 1 ? r_.read<uint32_t>(field) : r_.read<uint64_t>(field);
  }

  std::string string(const std::string& field) {
    uint64_t n = count(field + " length");
    return std::string(r_.bytes(n, field));
  }

  GgufType type(const std::string& field) {
    size_t at = r_.offset();
    uint32_t t = r_.read<uint32_t>(field);
    if (!valid_type(t)) fail(r_.source(), ": ", field, " at offset ", at, ": unknown value type ", t);
    return static_cast<GgufType>(t);
  }

  void scalar(GgufValue& v, GgufType t, const std::string& field) {
    v.type = t;
    switch (t) {
      case GgufType::U8:
        v.u = r_.read<uint8_t>(field);
        v.i = static_cast<int64_t>(v.u);
        return;
      case GgufType::I8:
        v.i = r_.read<int8_t>(field);  // NOLINT(bugprone-signed-char-misuse): GGUF I8 is signed
        v.u = static_cast<uint64_t>(v.i);
        return;
      case GgufType::U16:
        v.u = r_.read<uint16_t>(field);
        v.i = static_cast<int64_t>(v.u);
        return;
      case GgufType::I16:
        v.i = r_.read<int16_t>(field);
        v.u = static_cast<uint64_t>(v.i);
        return;
      case GgufType::U32:
        v.u = r_.read<uint32_t>(field);
        v.i = static_cast<int64_t>(v.u);
        return;
      case GgufType::I32:
        v.i = r_.read<int32_t>(field);
        v.u = static_cast<uint64_t>(v.i);
        return;
      case GgufType::U64:
        v.u = r_.read<uint64_t>(field);
        v.i = static_cast<int64_t>(v.u);
        return;
      case GgufType::I64:
        v.i = r_.read<int64_t>(field);
        v.u = static_cast<uint64_t>(v.i);
        return;
      case GgufType::F32: v.f = r_.read<float>(field); return;
      case GgufType::F64: v.f = r_.read<double>(field); return;
      case GgufType::BOOL: {
        size_t at = r_.offset();
        uint8_t b = r_.read<uint8_t>(field);
        if (b > 1) fail(r_.source(), ": ", field, " at offset ", at, ": bool value ", int(b), " is not 0 or 1");
        v.u = b;
        v.i = b;
        return;
      }
      case GgufType::STRING: v.s = string(field); return;
      case GgufType::ARRAY: array(v, field, 0); return;
    }
  }

  void array(GgufValue& v, const std::string& field, int depth) {
    if (depth >= kMaxArrayDepth)
      fail(r_.source(), ": ", field, " at offset ", r_.offset(), ": arrays nested deeper than ", kMaxArrayDepth);
    v.type = GgufType::ARRAY;
    v.elem_type = type(field + " element type");
    size_t at = r_.offset();
    uint64_t n = count(field + " array length");
    if (n > r_.remaining() / min_value_bytes(v.elem_type, version_))
      fail(r_.source(), ": ", field, " at offset ", at, ": array length ", n, " cannot fit in the ", r_.remaining(),
           " bytes left");
    for (uint64_t k = 0; k < n; ++k) {
      switch (v.elem_type) {
        case GgufType::STRING: v.strs.push_back(string(field)); break;
        case GgufType::F32: v.floats.push_back(r_.read<float>(field)); break;
        case GgufType::F64: v.floats.push_back(r_.read<double>(field)); break;
        case GgufType::ARRAY: {
          GgufValue inner;
          array(inner, field, depth + 1);
          v.arrays.push_back(std::move(inner));
          break;
        }
        default: {
          GgufValue e;
          scalar(e, v.elem_type, field);
          v.ints.push_back(e.i);
          break;
        }
      }
    }
  }

 private:
  ByteReader& r_;
  uint32_t version_;
};

}  // namespace

std::string_view gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::U8: return "u8";
    case GgufType::I8: return "i8";
    case GgufType::U16: return "u16";
    case GgufType::I16: return "i16";
    case GgufType::U32: return "u32";
    case GgufType::I32: return "i32";
    case GgufType::F32: return "f32";
    case GgufType::BOOL: return "bool";
    case GgufType::STRING: return "string";
    case GgufType::ARRAY: return "array";
    case GgufType::U64: return "u64";
    case GgufType::I64: return "i64";
    case GgufType::F64: return "f64";
  }
  return "?";
}

size_t GgufValue::array_size() const {
  return strs.size() + ints.size() + floats.size() + arrays.size();
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::U16:
    case GgufType::I16:
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::U64:
    case GgufType::I64: return true;
    default: return false;
  }
}

bool GgufValue::is_float() const {
  return type == GgufType::F32 || type == GgufType::F64;
}

GgufFile GgufFile::open(const std::string& path) {
  GgufFile g;
  g.file_ = MappedFile::open(path);
  ByteReader r(g.file_->data(), g.file_->size(), path);
  uint32_t magic = r.read<uint32_t>("magic");
  if (magic != kGgufMagic) fail(path, ": not a GGUF file (the magic at offset 0 is not 'GGUF')");
  g.version_ = r.read<uint32_t>("version");
  if (g.version_ == 0 || g.version_ > 3) {
    const uint32_t swapped = __builtin_bswap32(g.version_);
    if (swapped >= 1 && swapped <= 3)
      fail(path, ": version at offset 4 reads ", g.version_, ": a big-endian GGUF v", swapped,
           " file, which loupe does not read");
    fail(path, ": version at offset 4: unsupported GGUF version ", g.version_, " (loupe reads versions 1, 2 and 3)");
  }
  Parser p(r, g.version_);
  const size_t count_bytes = g.version_ == 1 ? 4 : 8;
  const size_t tensor_count_at = r.offset();
  uint64_t n_tensors = p.count("tensor_count");
  const size_t kv_count_at = r.offset();
  uint64_t n_kv = p.count("metadata_kv_count");
  // Each kv needs at least a key length, a type and a 1-byte value; each tensor at least a name
  // length, n_dims, one dimension, a type and an offset. Larger counts cannot fit in the file.
  const size_t min_kv = count_bytes + 4 + 1;
  const size_t min_tensor = count_bytes + 4 + count_bytes + 4 + 8;
  if (n_kv > r.remaining() / min_kv)
    fail(path, ": metadata_kv_count at offset ", kv_count_at, " is ", n_kv, ", more than the ", r.remaining(),
         " bytes left can hold (truncated or corrupt file)");
  if (n_tensors > (r.remaining() - n_kv * min_kv) / min_tensor)
    fail(path, ": tensor_count at offset ", tensor_count_at, " is ", n_tensors, ", more than the ", r.remaining(),
         " bytes left can hold (truncated or corrupt file)");

  std::set<std::string, std::less<>> keys;
  for (uint64_t k = 0; k < n_kv; ++k) {
    const size_t key_at = r.offset();
    std::string key = p.string(cat("metadata key #", k));
    if (!keys.insert(key).second) fail(path, ": metadata key '", key, "' at offset ", key_at, " appears twice");
    GgufType t = p.type(cat("metadata '", key, "' type"));
    GgufValue v;
    p.scalar(v, t, cat("metadata '", key, "'"));
    g.metadata_.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = g.find("general.alignment")) {
    if (!a->is_integer())
      fail(path, ": metadata 'general.alignment' is ", gguf_type_name(a->type), ", expected an integer");
    if (a->i <= 0 || (a->u & (a->u - 1)) != 0 || a->u > 65536)
      fail(path, ": metadata 'general.alignment' is ", a->i, ", expected a power of two in 1..65536");
    g.alignment_ = a->u;
  }

  std::set<std::string, std::less<>> names;
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    const size_t name_at = r.offset();
    t.name = p.string(cat("tensor #", k, " name"));
    if (!names.insert(t.name).second) fail(path, ": tensor '", t.name, "' at offset ", name_at, " appears twice");
    std::string what = cat("tensor '", t.name, "'");
    const size_t dims_at = r.offset();
    uint32_t n_dims = r.read<uint32_t>(what + " n_dims");
    if (n_dims == 0 || n_dims > kMaxDims)
      fail(path, ": ", what, " n_dims at offset ", dims_at, " is ", n_dims, " (must be in 1..", kMaxDims, ")");
    uint64_t n_elems = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const size_t ne_at = r.offset();
      uint64_t ne = g.version_ == 1 ? r.read<uint32_t>(what + " shape") : r.read<uint64_t>(what + " shape");
      if (ne == 0 || ne > (uint64_t(1) << 40))
        fail(path, ": ", what, " shape at offset ", ne_at, ": dimension ", d, " is ", ne, " (must be in 1..2^40)");
      if (n_elems > (uint64_t(1) << 50) / ne)
        fail(path, ": ", what, " shape at offset ", ne_at, ": shape overflows (more than 2^50 elements)");
      n_elems *= ne;
      t.ne.push_back(static_cast<int64_t>(ne));
    }
    size_t type_at = r.offset();
    uint32_t ggml_type = r.read<uint32_t>(what + " type");
    auto dtype = dtype_from_ggml(ggml_type);
    if (!dtype) fail(path, ": ", what, " type at offset ", type_at, ": unknown or unsupported tensor type ", ggml_type);
    t.type = *dtype;
    if (!row_fits_blocks(t.type, t.ne[0]))
      fail(path, ": ", what, ": rows of ", t.ne[0], " elements are not a multiple of the ", dtype_name(t.type),
           " block size ", dtype_traits(t.type).block_elems, " (the file is malformed)");
    t.offset = r.read<uint64_t>(what + " offset");
    t.nbytes = row_bytes(t.type, t.ne[0]) * (n_elems / static_cast<uint64_t>(t.ne[0]));
    g.tensors_.push_back(std::move(t));
  }

  const uint64_t data_start = (r.offset() + g.alignment_ - 1) / g.alignment_ * g.alignment_;
  const uint64_t size = g.file_->size();
  for (auto& t : g.tensors_) {
    if (t.offset % g.alignment_ != 0)
      fail(path, ": tensor '", t.name, "': data offset ", t.offset, " is not a multiple of the alignment ",
           g.alignment_);
    if (t.offset > size || data_start > size - t.offset || t.nbytes > size - data_start - t.offset)
      fail(path, ": tensor '", t.name, "': data at offset ", data_start, "+", t.offset, " with ", t.nbytes,
           " bytes runs past the end of the file (", size, " bytes)");
    // Kernels read f32 as floats and block fields as halves: a smaller general.alignment could
    // leave the data misaligned (the map itself is page-aligned).
    const uint64_t need = t.type == DType::F32 ? 4 : 2;
    if ((data_start + t.offset) % need != 0)
      fail(path, ": tensor '", t.name, "': data at file offset ", data_start + t.offset, " is not aligned to ", need,
           " bytes as ", dtype_name(t.type), " needs (general.alignment is ", g.alignment_, ")");
    t.data = g.file_->data() + data_start + t.offset;
  }
  // Tensors sharing bytes would silently read each other's data.
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : g.tensors_) by_offset.push_back(&t);
  std::stable_sort(by_offset.begin(), by_offset.end(),
                   [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k) {
    const GgufTensorInfo& prev = *by_offset[k - 1];
    const GgufTensorInfo& t = *by_offset[k];
    if (prev.offset + prev.nbytes > t.offset)
      fail(path, ": tensor '", t.name, "': data at offset ", data_start, "+", t.offset, " overlaps tensor '", prev.name,
           "' (", prev.nbytes, " bytes at offset ", data_start, "+", prev.offset, ")");
  }
  return g;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const auto& [k, v] : metadata_)
    if (k == key) return &v;
  return nullptr;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {
const GgufValue& need(const GgufFile& g, std::string_view key) {
  const GgufValue* v = g.find(key);
  if (v == nullptr) fail(g.path(), ": metadata key '", key, "' is missing");
  return *v;
}
[[noreturn]] void wrong_type(const GgufFile& g, std::string_view key, const GgufValue& v, const char* want) {
  fail(g.path(), ": metadata '", key, "' is ", gguf_type_name(v.type),
       v.type == GgufType::ARRAY ? cat(" of ", gguf_type_name(v.elem_type)) : std::string(), ", expected ", want);
}
}  // namespace

uint64_t GgufFile::get_uint(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  if (!v.is_integer()) wrong_type(*this, key, v, "an integer");
  if (v.i < 0 && v.type != GgufType::U64) fail(path(), ": metadata '", key, "' is negative (", v.i, ")");
  return v.u;
}

int64_t GgufFile::get_int(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  if (!v.is_integer()) wrong_type(*this, key, v, "an integer");
  return v.i;
}

double GgufFile::get_float(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  if (v.is_float()) return v.f;
  if (v.is_integer()) return static_cast<double>(v.i);
  wrong_type(*this, key, v, "a number");
}

bool GgufFile::get_bool(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  if (v.type != GgufType::BOOL) wrong_type(*this, key, v, "a bool");
  return v.u != 0;
}

const std::string& GgufFile::get_string(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  if (v.type != GgufType::STRING) wrong_type(*this, key, v, "a string");
  return v.s;
}

const std::vector<std::string>& GgufFile::get_string_array(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  if (v.type != GgufType::ARRAY || (v.elem_type != GgufType::STRING)) wrong_type(*this, key, v, "an array of strings");
  return v.strs;
}

const std::vector<int64_t>& GgufFile::get_int_array(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  if (v.type != GgufType::ARRAY || v.elem_type == GgufType::STRING || v.elem_type == GgufType::ARRAY ||
      v.elem_type == GgufType::F32 || v.elem_type == GgufType::F64)
    wrong_type(*this, key, v, "an array of integers");
  return v.ints;
}

const std::vector<double>& GgufFile::get_float_array(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  if (v.type != GgufType::ARRAY || (v.elem_type != GgufType::F32 && v.elem_type != GgufType::F64))
    wrong_type(*this, key, v, "an array of floats");
  return v.floats;
}

uint64_t GgufFile::get_uint_or(std::string_view key, uint64_t fallback) const {
  return has(key) ? get_uint(key) : fallback;
}
double GgufFile::get_float_or(std::string_view key, double fallback) const {
  return has(key) ? get_float(key) : fallback;
}
bool GgufFile::get_bool_or(std::string_view key, bool fallback) const {
  return has(key) ? get_bool(key) : fallback;
}
std::string GgufFile::get_string_or(std::string_view key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

}  // namespace loupe
