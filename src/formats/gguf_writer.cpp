#include "formats/gguf_writer.h"

#include <cstdio>

#include "core/atomic_file.h"
#include "core/error.h"

namespace loupe {
namespace {

constexpr uint64_t kAlign = 32;

class Out {
 public:
  explicit Out(AtomicFile& f) : f_(f) {}
  template <class T>
  void put(T v) {
    f_.write(&v, sizeof(T));
    n_ += sizeof(T);
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    f_.write(s);
    n_ += s.size();
  }
  void bytes(const void* p, size_t n) {
    f_.write(p, n);
    n_ += n;
  }
  void pad() {
    static const char zeros[kAlign] = {};
    size_t r = (kAlign - n_ % kAlign) % kAlign;
    bytes(zeros, r);
  }
  uint64_t n() const { return n_; }

 private:
  AtomicFile& f_;
  uint64_t n_ = 0;
};

void put_scalar(Out& o, GgufType t, const GgufValue& v, size_t k, bool in_array) {
  auto iv = [&] { return in_array ? v.ints[k] : v.i; };
  switch (t) {
    case GgufType::U8: o.put<uint8_t>(static_cast<uint8_t>(iv())); return;
    case GgufType::I8: o.put<int8_t>(static_cast<int8_t>(iv())); return;
    case GgufType::U16: o.put<uint16_t>(static_cast<uint16_t>(iv())); return;
    case GgufType::I16: o.put<int16_t>(static_cast<int16_t>(iv())); return;
    case GgufType::U32: o.put<uint32_t>(static_cast<uint32_t>(iv())); return;
    case GgufType::I32: o.put<int32_t>(static_cast<int32_t>(iv())); return;
    case GgufType::U64: o.put<uint64_t>(static_cast<uint64_t>(iv())); return;
    case GgufType::I64: o.put<int64_t>(iv()); return;
    case GgufType::BOOL: o.put<uint8_t>(iv() != 0 ? 1 : 0); return;
    case GgufType::F32: o.put<float>(static_cast<float>(in_array ? v.floats[k] : v.f)); return;
    case GgufType::F64: o.put<double>(in_array ? v.floats[k] : v.f); return;
    case GgufType::STRING: o.str(in_array ? v.strs[k] : v.s); return;
    case GgufType::ARRAY: LOUPE_ASSERT(false, "nested arrays are not written"); return;
  }
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& kv : kv_)
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  kv_.emplace_back(key, std::move(value));
}

void GgufWriter::set_u32(const std::string& key, uint32_t v) {
  GgufValue g;
  g.type = GgufType::U32;
  g.u = v;
  g.i = v;
  set(key, g);
}

void GgufWriter::set_f32(const std::string& key, float v) {
  GgufValue g;
  g.type = GgufType::F32;
  g.f = v;
  set(key, g);
}

void GgufWriter::set_bool(const std::string& key, bool v) {
  GgufValue g;
  g.type = GgufType::BOOL;
  g.u = v;
  g.i = v;
  set(key, g);
}

void GgufWriter::set_string(const std::string& key, const std::string& v) {
  GgufValue g;
  g.type = GgufType::STRING;
  g.s = v;
  set(key, g);
}

void GgufWriter::add_tensor(const std::string& name, DType type, std::vector<int64_t> ne, std::vector<uint8_t> data) {
  size_t rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) rows *= static_cast<size_t>(ne[i]);
  LOUPE_ASSERT(row_fits_blocks(type, ne[0]), name, ": row of ", ne[0], " does not fit ", dtype_name(type), " blocks");
  LOUPE_ASSERT(data.size() == rows * row_bytes(type, ne[0]), name, ": data size ", data.size());
  tensors_.push_back({name, type, std::move(ne), std::move(data)});
}

void GgufWriter::write(const std::string& path) const {
  {
    AtomicFile f(path);
    Out o(f);
    o.put<uint32_t>(0x46554747);
    o.put<uint32_t>(3);
    o.put<uint64_t>(tensors_.size());
    o.put<uint64_t>(kv_.size());
    for (const auto& [key, v] : kv_) {
      o.str(key);
      o.put<uint32_t>(static_cast<uint32_t>(v.type));
      if (v.type == GgufType::ARRAY) {
        o.put<uint32_t>(static_cast<uint32_t>(v.elem_type));
        o.put<uint64_t>(v.array_size());
        for (size_t k = 0; k < v.array_size(); ++k) put_scalar(o, v.elem_type, v, k, true);
      } else {
        put_scalar(o, v.type, v, 0, false);
      }
    }
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
      o.str(t.name);
      o.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
      for (int64_t d : t.ne) o.put<uint64_t>(static_cast<uint64_t>(d));
      o.put<uint32_t>(dtype_traits(t.type).ggml_id);
      o.put<uint64_t>(offset);
      offset += (t.data.size() + kAlign - 1) / kAlign * kAlign;
    }
    o.pad();
    for (const auto& t : tensors_) {
      o.bytes(t.data.data(), t.data.size());
      o.pad();
    }
    f.commit();
  }
}

}  // namespace loupe
