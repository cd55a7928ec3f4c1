// GGUF reader against files built byte by byte in the test (not with GgufWriter): versions 1
// (u32 counts, lengths and dims), 2 and 3; metadata of every value type; tensors of several
// types with their shapes, offsets and data pointers; general.alignment. Then the GgufWriter
// round trip, and hostile files: each must throw loupe::Error whose message names the file and
// the field or offset, never crash (this suite runs under ASan + UBSan in CI).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "tensor/dtype.h"
#include "test_support.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kMagic = 0x46554747;  // "GGUF"
// ggml_type ids
constexpr uint32_t kF32 = 0, kF16 = 1, kQ8_0 = 8, kQ4_K = 12, kBF16 = 30;

// Little-endian bytes in the encoding of one GGUF version.
class Bytes {
 public:
  explicit Bytes(uint32_t version) : version_(version) {}
  template <class T>
  Bytes& put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    buf_.append(b, sizeof(T));
    return *this;
  }
  // Counts and lengths: u32 in v1, u64 after.
  Bytes& count(uint64_t n) {
    if (version_ == 1) return put<uint32_t>(static_cast<uint32_t>(n));
    return put<uint64_t>(n);
  }
  Bytes& str(const std::string& s) {
    count(s.size());
    buf_ += s;
    return *this;
  }
  Bytes& type(GgufType t) { return put<uint32_t>(static_cast<uint32_t>(t)); }
  Bytes& raw(const std::string& s) {
    buf_ += s;
    return *this;
  }
  size_t size() const { return buf_.size(); }
  const std::string& str() const { return buf_; }
  size_t count_bytes() const { return version_ == 1 ? 4 : 8; }

 private:
  uint32_t version_;
  std::string buf_;
};

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> ne;  // ggml order
  uint32_t ggml_type = kF32;
  std::string data;                // the encoded rows
  std::optional<uint32_t> n_dims;  // overrides ne.size() in the header
  std::optional<uint64_t> offset;  // overrides the laid-out offset
};

// Where the fields of a built file are.
struct Layout {
  std::string file;
  size_t header_bytes = 0;              // magic, version, two counts
  std::map<std::string, size_t> kv_at;  // key -> offset of its entry (the key length)
  std::vector<size_t> tensor_at;        // offset of each tensor info (the name length)
  std::vector<uint64_t> tensor_offset;  // relative to the data section
  size_t data_start = 0;
};

// A GGUF file assembled from parts; the parts can be made hostile one at a time.
class Builder {
 public:
  explicit Builder(uint32_t version) : version(version), kv(version) {}

  uint32_t magic = kMagic;
  uint32_t version;
  std::optional<uint64_t> n_kv_override, n_tensors_override;
  uint64_t alignment = 32;  // layout of the data section; write general.alignment yourself
  Bytes kv;
  uint64_t n_kv = 0;
  std::vector<std::pair<std::string, size_t>> kv_rel;
  std::vector<TensorSpec> tensors;
  std::string trailer;  // bytes after the last tensor's data

  // Starts an entry: key and type; the caller appends the value to kv.
  Bytes& entry(const std::string& key, GgufType t) {
    kv_rel.emplace_back(key, kv.size());
    ++n_kv;
    return kv.str(key).type(t);
  }
  template <class T>
  Builder& scalar(const std::string& key, GgufType t, T v) {
    entry(key, t).put<T>(v);
    return *this;
  }
  Builder& string(const std::string& key, const std::string& v) {
    entry(key, GgufType::STRING).str(v);
    return *this;
  }
  // An array header; the caller appends n elements.
  Bytes& array(const std::string& key, GgufType elem, uint64_t n) {
    return entry(key, GgufType::ARRAY).type(elem).count(n);
  }
  Builder& tensor(TensorSpec t) {
    tensors.push_back(std::move(t));
    return *this;
  }

  Layout build() const {
    Layout L;
    Bytes b(version);
    b.put<uint32_t>(magic).put<uint32_t>(version);
    b.count(n_tensors_override.value_or(tensors.size()));
    b.count(n_kv_override.value_or(n_kv));
    L.header_bytes = b.size();
    for (const auto& [key, rel] : kv_rel) L.kv_at[key] = L.header_bytes + rel;
    b.raw(kv.str());
    uint64_t off = 0;
    for (const auto& t : tensors) {
      L.tensor_offset.push_back(t.offset.value_or(off));
      off = (off + t.data.size() + alignment - 1) / alignment * alignment;
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
      const TensorSpec& t = tensors[i];
      L.tensor_at.push_back(b.size());
      b.str(t.name);
      b.put<uint32_t>(t.n_dims.value_or(static_cast<uint32_t>(t.ne.size())));
      for (uint64_t d : t.ne) {
        if (version == 1)
          b.put<uint32_t>(static_cast<uint32_t>(d));
        else
          b.put<uint64_t>(d);
      }
      b.put<uint32_t>(t.ggml_type);
      b.put<uint64_t>(L.tensor_offset[i]);
    }
    std::string file = b.str();
    if (!tensors.empty()) file.append((alignment - file.size() % alignment) % alignment, '\0');
    L.data_start = file.size();
    for (size_t i = 0; i < tensors.size(); ++i) {
      file += tensors[i].data;
      // Padding between tensors, none after the last: its data ends the file.
      if (i + 1 < tensors.size()) file.append((alignment - file.size() % alignment) % alignment, '\0');
    }
    file += trailer;
    L.file = std::move(file);
    return L;
  }

  // Offsets inside a tensor info (v1 dims are u32).
  size_t n_dims_at(const Layout& L, size_t i) const {
    return L.tensor_at[i] + kv.count_bytes() + tensors[i].name.size();
  }
  size_t dim_at(const Layout& L, size_t i, size_t d) const { return n_dims_at(L, i) + 4 + d * (version == 1 ? 4 : 8); }
  size_t type_at(const Layout& L, size_t i) const { return dim_at(L, i, tensors[i].ne.size()); }
  // The value of a kv entry.
  size_t value_at(const Layout& L, const std::string& key) const {
    return L.kv_at.at(key) + kv.count_bytes() + key.size() + 4;
  }
};

std::string f32_bytes(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

std::string pattern(size_t n, uint8_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((seed + i * 7) & 0xff);
  return s;
}

class GgufTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::temp_dir("gguf"); }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& bytes, const std::string& name = "t.gguf") {
    const std::string path = dir_ + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    return path;
  }

  // The message of the Error that opening the bytes gives ("" when it opens).
  std::string open_error(const std::string& bytes, const std::string& name = "t.gguf") {
    const std::string path = write(bytes, name);
    try {
      GgufFile::open(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  // Opening must fail with a message that names the file and contains every part.
  void expect_error(const std::string& bytes, const std::vector<std::string>& parts) {
    const std::string msg = open_error(bytes, "bad.gguf");
    ASSERT_FALSE(msg.empty()) << "opened without an error";
    EXPECT_EQ(msg.rfind(dir_ + "/bad.gguf: ", 0), 0u) << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }

  std::string dir_;
};

// A file with metadata of every value type, read back in versions 1, 2 and 3.
class GgufVersionTest : public GgufTest, public ::testing::WithParamInterface<uint32_t> {};

Builder every_value_type(uint32_t version) {
  Builder b(version);
  b.scalar<uint8_t>("t.u8", GgufType::U8, 200);
  b.scalar<int8_t>("t.i8", GgufType::I8, -100);
  b.scalar<uint16_t>("t.u16", GgufType::U16, 60000);
  b.scalar<int16_t>("t.i16", GgufType::I16, -30000);
  b.scalar<uint32_t>("t.u32", GgufType::U32, 4000000000u);
  b.scalar<int32_t>("t.i32", GgufType::I32, -2000000000);
  b.scalar<uint64_t>("t.u64", GgufType::U64, (uint64_t(1) << 63) + 5);
  b.scalar<int64_t>("t.i64", GgufType::I64, -(int64_t(1) << 62));
  b.scalar<float>("t.f32", GgufType::F32, 0.15625f);
  b.scalar<double>("t.f64", GgufType::F64, -2.5e-300);
  b.scalar<uint8_t>("t.true", GgufType::BOOL, 1);
  b.scalar<uint8_t>("t.false", GgufType::BOOL, 0);
  b.string("t.str", "h\xc3\xa9llo world");
  b.string("t.empty", "");
  b.array("a.u8", GgufType::U8, 3).put<uint8_t>(1).put<uint8_t>(2).put<uint8_t>(255);
  b.array("a.i32", GgufType::I32, 3).put<int32_t>(-1).put<int32_t>(0).put<int32_t>(7);
  b.array("a.i64", GgufType::I64, 2).put<int64_t>(-(int64_t(1) << 40)).put<int64_t>(5);
  b.array("a.f32", GgufType::F32, 2).put<float>(0.5f).put<float>(-1.25f);
  b.array("a.f64", GgufType::F64, 2).put<double>(1e100).put<double>(-0.125);
  b.array("a.str", GgufType::STRING, 3).str("a").str("").str("ccc");
  b.array("a.bool", GgufType::BOOL, 3).put<uint8_t>(1).put<uint8_t>(0).put<uint8_t>(1);
  b.array("a.empty", GgufType::U32, 0);
  // [[1, 2] (u16), ["x"] (string)]
  b.array("a.nested", GgufType::ARRAY, 2)
      .type(GgufType::U16)
      .count(2)
      .put<uint16_t>(1)
      .put<uint16_t>(2)
      .type(GgufType::STRING)
      .count(1)
      .str("x");
  b.tensor({"f32.w", {4, 3}, kF32, f32_bytes({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}), {}, {}});
  b.tensor({"f16.v", {8}, kF16, pattern(16, 1), {}, {}});
  b.tensor({"q8.m", {64, 2}, kQ8_0, pattern(2 * 2 * 34, 2), {}, {}});
  b.tensor({"q4k.r", {256, 1, 1, 2}, kQ4_K, pattern(2 * 144, 3), {}, {}});
  b.tensor({"bf16.x", {2, 2, 2}, kBF16, pattern(16, 4), {}, {}});
  return b;
}

TEST_P(GgufVersionTest, ReadsEveryValueType) {
  const uint32_t version = GetParam();
  Builder b = every_value_type(version);
  Layout L = b.build();
  GgufFile g = GgufFile::open(write(L.file));
  EXPECT_EQ(g.version(), version);
  EXPECT_EQ(g.alignment(), 32u);
  ASSERT_EQ(g.metadata().size(), b.n_kv);
  EXPECT_EQ(g.metadata()[0].first, "t.u8");  // file order kept

  EXPECT_EQ(g.get_uint("t.u8"), 200u);
  EXPECT_EQ(g.find("t.u8")->type, GgufType::U8);
  EXPECT_EQ(g.get_int("t.i8"), -100);
  EXPECT_EQ(g.find("t.i8")->type, GgufType::I8);
  EXPECT_EQ(g.get_uint("t.u16"), 60000u);
  EXPECT_EQ(g.get_int("t.i16"), -30000);
  EXPECT_EQ(g.get_uint("t.u32"), 4000000000u);
  EXPECT_EQ(g.get_int("t.i32"), -2000000000);
  EXPECT_EQ(g.get_uint("t.u64"), (uint64_t(1) << 63) + 5);
  EXPECT_EQ(g.find("t.u64")->type, GgufType::U64);
  EXPECT_EQ(g.get_int("t.i64"), -(int64_t(1) << 62));
  EXPECT_EQ(g.get_float("t.f32"), 0.15625);
  EXPECT_EQ(g.find("t.f32")->type, GgufType::F32);
  EXPECT_EQ(g.get_float("t.f64"), -2.5e-300);
  EXPECT_EQ(g.find("t.f64")->type, GgufType::F64);
  EXPECT_EQ(g.get_float("t.i32"), -2000000000.0);  // integers are numbers too
  EXPECT_TRUE(g.get_bool("t.true"));
  EXPECT_FALSE(g.get_bool("t.false"));
  EXPECT_EQ(g.get_string("t.str"), "h\xc3\xa9llo world");
  EXPECT_EQ(g.get_string("t.empty"), "");

  EXPECT_EQ(g.get_int_array("a.u8"), (std::vector<int64_t>{1, 2, 255}));
  EXPECT_EQ(g.find("a.u8")->elem_type, GgufType::U8);
  EXPECT_EQ(g.get_int_array("a.i32"), (std::vector<int64_t>{-1, 0, 7}));
  EXPECT_EQ(g.get_int_array("a.i64"), (std::vector<int64_t>{-(int64_t(1) << 40), 5}));
  EXPECT_EQ(g.get_float_array("a.f32"), (std::vector<double>{0.5, -1.25}));
  EXPECT_EQ(g.get_float_array("a.f64"), (std::vector<double>{1e100, -0.125}));
  EXPECT_EQ(g.get_string_array("a.str"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(g.get_int_array("a.bool"), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(g.find("a.bool")->elem_type, GgufType::BOOL);
  EXPECT_EQ(g.find("a.empty")->array_size(), 0u);
  EXPECT_EQ(g.find("a.empty")->elem_type, GgufType::U32);
  const GgufValue* nested = g.find("a.nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->type, GgufType::ARRAY);
  EXPECT_EQ(nested->elem_type, GgufType::ARRAY);
  ASSERT_EQ(nested->arrays.size(), 2u);
  EXPECT_EQ(nested->array_size(), 2u);
  EXPECT_EQ(nested->arrays[0].elem_type, GgufType::U16);
  EXPECT_EQ(nested->arrays[0].ints, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(nested->arrays[1].elem_type, GgufType::STRING);
  EXPECT_EQ(nested->arrays[1].strs, (std::vector<std::string>{"x"}));
  EXPECT_EQ(g.find("no.such.key"), nullptr);
  EXPECT_EQ(g.get_uint_or("no.such.key", 7), 7u);
  EXPECT_EQ(g.get_string_or("no.such.key", "d"), "d");
  EXPECT_TRUE(g.get_bool_or("no.such.key", true));
  EXPECT_EQ(g.get_float_or("t.f32", 3.0), 0.15625);

  // Tensors: shape, type, offset, size, and the data pointer into the map.
  ASSERT_EQ(g.tensors().size(), 5u);
  struct Want {
    const char* name;
    DType type;
    std::vector<int64_t> ne;
    size_t nbytes;
  };
  const std::vector<Want> want = {{"f32.w", DType::F32, {4, 3}, 48},
                                  {"f16.v", DType::F16, {8}, 16},
                                  {"q8.m", DType::Q8_0, {64, 2}, 136},
                                  {"q4k.r", DType::Q4_K, {256, 1, 1, 2}, 288},
                                  {"bf16.x", DType::BF16, {2, 2, 2}, 16}};
  const uint8_t* base = g.file()->data();
  EXPECT_EQ(L.data_start % 32, 0u);
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].name);
    const GgufTensorInfo& t = g.tensors()[i];
    EXPECT_EQ(t.name, want[i].name);
    EXPECT_EQ(t.type, want[i].type);
    EXPECT_EQ(t.ne, want[i].ne);
    EXPECT_EQ(t.nbytes, want[i].nbytes);
    EXPECT_EQ(t.offset, L.tensor_offset[i]);
    EXPECT_EQ(t.offset % 32, 0u);
    EXPECT_EQ(t.data, base + L.data_start + t.offset);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(t.data), t.nbytes), b.tensors[i].data);
    EXPECT_EQ(g.find_tensor(want[i].name), &t);
  }
  EXPECT_EQ(g.find_tensor("missing"), nullptr);
  float f[12];
  std::memcpy(f, g.find_tensor("f32.w")->data, sizeof f);
  EXPECT_EQ(f[0], 0.0f);
  EXPECT_EQ(f[11], 11.0f);
}

INSTANTIATE_TEST_SUITE_P(Versions, GgufVersionTest, ::testing::Values(1u, 2u, 3u),
                         [](const auto& info) { return "v" + std::to_string(info.param); });

TEST_F(GgufTest, GettersNameTheKeyOnMissingOrWrongType) {
  Builder b = every_value_type(3);
  const std::string path = write(b.build().file);
  GgufFile g = GgufFile::open(path);
  auto message = [&](auto&& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(message([&] { g.get_uint("nope"); }), path + ": metadata key 'nope' is missing");
  EXPECT_EQ(message([&] { g.get_string("t.u32"); }), path + ": metadata 't.u32' is u32, expected a string");
  EXPECT_EQ(message([&] { g.get_uint("t.i8"); }), path + ": metadata 't.i8' is negative (-100)");
  EXPECT_EQ(message([&] { g.get_bool("t.u8"); }), path + ": metadata 't.u8' is u8, expected a bool");
  EXPECT_EQ(message([&] { g.get_int("t.str"); }), path + ": metadata 't.str' is string, expected an integer");
  EXPECT_EQ(message([&] { g.get_float("t.str"); }), path + ": metadata 't.str' is string, expected a number");
  EXPECT_EQ(message([&] { g.get_string_array("a.i32"); }),
            path + ": metadata 'a.i32' is array of i32, expected an array of strings");
  EXPECT_EQ(message([&] { g.get_int_array("a.f32"); }),
            path + ": metadata 'a.f32' is array of f32, expected an array of integers");
  EXPECT_EQ(message([&] { g.get_float_array("a.str"); }),
            path + ": metadata 'a.str' is array of string, expected an array of floats");
  EXPECT_EQ(message([&] { g.get_uint_or("t.str", 1); }), path + ": metadata 't.str' is string, expected an integer");
}

TEST_F(GgufTest, SharedV1AndV3FilesAgree) {
  GgufFile v1 = GgufFile::open(test::shared("models/stories260K-gguf/stories260K-f32.gguf-v1.gguf"));
  GgufFile v3 = GgufFile::open(test::shared("models/stories260K-gguf/stories260K-f32.gguf"));
  EXPECT_EQ(v1.version(), 1u);
  EXPECT_EQ(v3.version(), 3u);
  EXPECT_EQ(v1.get_string("general.architecture"), "llama");
  EXPECT_EQ(v1.get_uint("llama.embedding_length"), 64u);
  EXPECT_EQ(v3.get_uint("llama.embedding_length"), 64u);
  const GgufTensorInfo* a = v1.find_tensor("blk.0.ffn_down.weight");
  const GgufTensorInfo* c = v3.find_tensor("blk.0.ffn_down.weight");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(a->ne, (std::vector<int64_t>{172, 64}));
  EXPECT_EQ(a->ne, c->ne);
  ASSERT_EQ(a->nbytes, c->nbytes);
  EXPECT_EQ(std::memcmp(a->data, c->data, a->nbytes), 0);
}

// ---- general.alignment ----

TEST_F(GgufTest, HonoursGeneralAlignment) {
  Builder b(3);
  b.alignment = 64;
  b.scalar<uint32_t>("general.alignment", GgufType::U32, 64);
  b.tensor({"a", {3}, kF32, f32_bytes({1, 2, 3}), {}, {}});
  b.tensor({"b", {5}, kF32, f32_bytes({4, 5, 6, 7, 8}), {}, {}});
  Layout L = b.build();
  ASSERT_EQ(L.data_start % 64, 0u);
  GgufFile g = GgufFile::open(write(L.file));
  EXPECT_EQ(g.alignment(), 64u);
  EXPECT_EQ(g.tensors()[1].offset, 64u);
  EXPECT_EQ(g.tensors()[1].data, g.file()->data() + L.data_start + 64);
  float v;
  std::memcpy(&v, g.tensors()[1].data, 4);
  EXPECT_EQ(v, 4.0f);
}

TEST_F(GgufTest, AlignmentAsU64AndSmallAlignments) {
  for (uint64_t a : {1u, 2u, 8u, 256u}) {
    SCOPED_TRACE(a);
    Builder b(3);
    b.alignment = a;
    b.scalar<uint64_t>("general.alignment", GgufType::U64, a);
    b.tensor({"h", {2}, kF16, pattern(4, 9), {}, {}});
    Layout L = b.build();
    EXPECT_EQ(L.data_start % a, 0u);
    if (L.data_start % 2 != 0) {  // only with alignment 1: f16 data must be 2-aligned
      expect_error(L.file, {"tensor 'h'", "not aligned to 2 bytes"});
      continue;
    }
    GgufFile g = GgufFile::open(write(L.file));
    EXPECT_EQ(g.alignment(), a);
    EXPECT_EQ(g.tensors()[0].data, g.file()->data() + L.data_start);
  }
}

TEST_F(GgufTest, RejectsBadAlignmentValues) {
  {
    Builder b(3);
    b.scalar<uint32_t>("general.alignment", GgufType::U32, 0);
    expect_error(b.build().file, {"'general.alignment' is 0", "power of two"});
  }
  {
    Builder b(3);
    b.scalar<uint32_t>("general.alignment", GgufType::U32, 48);
    expect_error(b.build().file, {"'general.alignment' is 48", "power of two"});
  }
  {
    Builder b(3);
    b.scalar<int32_t>("general.alignment", GgufType::I32, -32);
    expect_error(b.build().file, {"'general.alignment' is -32"});
  }
  {
    Builder b(3);
    b.scalar<uint64_t>("general.alignment", GgufType::U64, uint64_t(1) << 20);
    expect_error(b.build().file, {"'general.alignment' is 1048576"});
  }
  {
    Builder b(3);
    b.string("general.alignment", "32");
    expect_error(b.build().file, {"'general.alignment' is string, expected an integer"});
  }
}

TEST_F(GgufTest, RejectsF32DataMisalignedByASmallAlignment) {
  // general.alignment 1: pad a key so that the data section starts at a multiple of 4, then
  // put an f32 tensor 2 bytes into it.
  for (int pad = 0; pad < 4; ++pad) {
    Builder b(3);
    b.alignment = 1;
    b.scalar<uint32_t>("general.alignment", GgufType::U32, 1);
    b.string("pad", std::string(static_cast<size_t>(pad), 'p'));
    b.tensor({"h", {1}, kF16, pattern(2, 5), {}, {}});
    b.tensor({"f", {2}, kF32, f32_bytes({1, 2}), {}, {}});
    Layout L = b.build();
    if (L.data_start % 4 != 0) continue;
    ASSERT_EQ(L.tensor_offset[1], 2u);
    expect_error(L.file, {"tensor 'f'", cat("file offset ", L.data_start + 2), "not aligned to 4 bytes",
                          "general.alignment is 1"});
    return;
  }
  FAIL() << "no padding gave a 4-aligned data section";
}

// ---- GgufWriter round trip ----

TEST_F(GgufTest, WriterRoundTrip) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 5);
  w.set_f32("llama.rope.freq_base", 10000.5f);
  w.set_bool("flag", true);
  GgufValue strs;
  strs.type = GgufType::ARRAY;
  strs.elem_type = GgufType::STRING;
  strs.strs = {"<s>", "", "h\xc3\xa9"};
  w.set("tokenizer.ggml.tokens", strs);
  GgufValue ints;
  ints.type = GgufType::ARRAY;
  ints.elem_type = GgufType::I32;
  ints.ints = {-3, 0, 2147483647};
  w.set("ints", ints);
  GgufValue floats;
  floats.type = GgufType::ARRAY;
  floats.elem_type = GgufType::F32;
  floats.floats = {0.25, -8};
  w.set("floats", floats);
  GgufValue bools;
  bools.type = GgufType::ARRAY;
  bools.elem_type = GgufType::BOOL;
  bools.ints = {0, 1};
  w.set("bools", bools);
  GgufValue i64;
  i64.type = GgufType::I64;
  i64.i = -(int64_t(1) << 50);
  w.set("i64", i64);
  GgufValue f64;
  f64.type = GgufType::F64;
  f64.f = 1.0 / 3.0;
  w.set("f64", f64);
  w.set_u32("llama.block_count", 6);  // replaces, keeps the position

  std::vector<float> rows(64 * 3);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<float>(i) * 0.01f - 0.5f;
  std::vector<uint8_t> q8(3 * row_bytes(DType::Q8_0, 64));
  for (int r = 0; r < 3; ++r)
    quantize_row(DType::Q8_0, rows.data() + r * 64, q8.data() + r * row_bytes(DType::Q8_0, 64), 64);
  std::vector<uint8_t> f32(5 * 4);
  for (int i = 0; i < 5; ++i) {
    float v = static_cast<float>(i) + 0.5f;
    std::memcpy(f32.data() + i * 4, &v, 4);
  }
  std::vector<uint8_t> f16(2 * 3 * 2, 0x3c);
  w.add_tensor("q", DType::Q8_0, {64, 3}, q8);
  w.add_tensor("v", DType::F32, {5}, f32);
  w.add_tensor("h", DType::F16, {2, 3}, f16);
  const std::string path = dir_ + "/rt.gguf";
  w.write(path);
  EXPECT_FALSE(fs::exists(path + ".partial"));

  GgufFile g = GgufFile::open(path);
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_uint("llama.block_count"), 6u);
  EXPECT_EQ(g.metadata()[1].first, "llama.block_count");
  EXPECT_EQ(g.get_float("llama.rope.freq_base"), 10000.5);
  EXPECT_TRUE(g.get_bool("flag"));
  EXPECT_EQ(g.get_string_array("tokenizer.ggml.tokens"), strs.strs);
  EXPECT_EQ(g.get_int_array("ints"), ints.ints);
  EXPECT_EQ(g.find("ints")->elem_type, GgufType::I32);
  EXPECT_EQ(g.get_float_array("floats"), floats.floats);
  EXPECT_EQ(g.get_int_array("bools"), bools.ints);
  EXPECT_EQ(g.get_int("i64"), -(int64_t(1) << 50));
  EXPECT_EQ(g.get_float("f64"), 1.0 / 3.0);
  ASSERT_EQ(g.tensors().size(), 3u);
  const GgufTensorInfo* q = g.find_tensor("q");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, DType::Q8_0);
  EXPECT_EQ(q->ne, (std::vector<int64_t>{64, 3}));
  ASSERT_EQ(q->nbytes, q8.size());
  EXPECT_EQ(std::memcmp(q->data, q8.data(), q8.size()), 0);
  std::vector<float> back(64);
  dequantize_row(DType::Q8_0, q->data + row_bytes(DType::Q8_0, 64), back.data(), 64);
  for (int i = 0; i < 64; ++i) EXPECT_NEAR(back[i], rows[64 + i], 0.01f);
  const GgufTensorInfo* v = g.find_tensor("v");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->ne, (std::vector<int64_t>{5}));
  EXPECT_EQ(std::memcmp(v->data, f32.data(), f32.size()), 0);
  const GgufTensorInfo* h = g.find_tensor("h");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->type, DType::F16);
  EXPECT_EQ(h->nbytes, 12u);
  for (const auto& t : g.tensors()) {
    EXPECT_EQ(t.offset % 32, 0u) << t.name;
    EXPECT_EQ((t.data - g.file()->data()) % 32, 0) << t.name;
  }
}

// ---- hostile files ----

// A small valid file: every truncation of it must be an Error.
Builder small_valid(uint32_t version) {
  Builder b(version);
  b.string("general.architecture", "llama");
  b.scalar<uint32_t>("llama.block_count", GgufType::U32, 1);
  b.scalar<uint8_t>("flag", GgufType::BOOL, 1);
  b.array("tokens", GgufType::STRING, 2).str("a").str("bc");
  b.array("nested", GgufType::ARRAY, 1).type(GgufType::I8).count(2).put<int8_t>(-1).put<int8_t>(1);
  b.tensor({"w", {4, 2}, kF32, f32_bytes({1, 2, 3, 4, 5, 6, 7, 8}), {}, {}});
  b.tensor({"q", {32}, kQ8_0, pattern(34, 7), {}, {}});
  return b;
}

TEST_F(GgufTest, EveryTruncationIsAnError) {
  for (uint32_t version : {1u, 2u, 3u}) {
    SCOPED_TRACE(version);
    const std::string full = small_valid(version).build().file;
    ASSERT_EQ(open_error(full), "");
    for (size_t n = 0; n < full.size(); ++n) {
      const std::string msg = open_error(full.substr(0, n));
      ASSERT_FALSE(msg.empty()) << "a prefix of " << n << " bytes opened";
      EXPECT_EQ(msg.rfind(dir_ + "/t.gguf: ", 0), 0u) << msg;
      EXPECT_NE(msg.find("offset"), std::string::npos) << msg;
    }
  }
}

TEST_F(GgufTest, EmptyFile) {
  expect_error("", {"magic at offset 0: unexpected end of file"});
}

TEST_F(GgufTest, NonexistentFile) {
  try {
    GgufFile::open(dir_ + "/none.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(dir_ + "/none.gguf: cannot open", 0), 0u) << e.what();
  }
}

TEST_F(GgufTest, BadMagic) {
  Builder b = small_valid(3);
  b.magic = 0x58554747;  // "GGUX"
  expect_error(b.build().file, {"not a GGUF file", "magic at offset 0"});
  expect_error(std::string("\x7f"
                           "ELF\x02\x01\x01\0\0\0\0\0",
                           12),
               {"not a GGUF file"});
}

TEST_F(GgufTest, BadVersions) {
  for (uint32_t v : {0u, 4u, 99u}) {
    Builder b = small_valid(3);
    b.version = v;
    expect_error(b.build().file, {"version at offset 4", cat("unsupported GGUF version ", v)});
  }
  // A big-endian v3 file: the magic bytes read the same, the version does not.
  Builder b = small_valid(3);
  b.version = 0x03000000;
  expect_error(b.build().file, {"version at offset 4", "big-endian GGUF v3"});
}

TEST_F(GgufTest, AbsurdCounts) {
  {
    Builder b = small_valid(3);
    b.n_kv_override = uint64_t(1) << 60;
    expect_error(b.build().file, {"metadata_kv_count at offset 16 is 1152921504606846976"});
  }
  {
    Builder b = small_valid(3);
    b.n_tensors_override = ~uint64_t(0);
    expect_error(b.build().file, {"tensor_count at offset 8 is 18446744073709551615"});
  }
  {
    Builder b = small_valid(1);
    b.n_kv_override = 0xffffffffu;
    expect_error(b.build().file, {"metadata_kv_count at offset 12 is 4294967295"});
  }
  {
    Builder b = small_valid(1);
    b.n_tensors_override = 1000000;
    expect_error(b.build().file, {"tensor_count at offset 8 is 1000000"});
  }
  {
    // One more tensor than the file holds: the padding and data are read as a tensor info.
    Builder b = small_valid(3);
    b.n_tensors_override = 3;
    expect_error(b.build().file, {"tensor", "offset"});
  }
}

TEST_F(GgufTest, V1MetadataOfTinyEntriesIsNotAbsurd) {
  // 9-byte v1 entries (u32 key length, 0-byte key... here 1-byte keys and u8 values).
  Builder b(1);
  for (int i = 0; i < 40; ++i) b.scalar<uint8_t>(std::string(1, static_cast<char>('A' + i)), GgufType::U8, 1);
  GgufFile g = GgufFile::open(write(b.build().file));
  EXPECT_EQ(g.metadata().size(), 40u);
}

TEST_F(GgufTest, StringLengthPastEof) {
  {
    Builder b(3);
    b.kv.count(uint64_t(1) << 40).raw(std::string(40, 'k'));
    b.n_kv = 1;
    expect_error(b.build().file, {"metadata key #0 at offset 32: unexpected end of file", "needs 1099511627776 bytes"});
  }
  {
    Builder b(1);
    b.kv.count(0xffffff00u).raw(std::string(40, 'k'));
    b.n_kv = 1;
    expect_error(b.build().file, {"metadata key #0 at offset 20: unexpected end of file"});
  }
  {
    Builder b(3);
    b.entry("name", GgufType::STRING).count(1000000).raw("short");
    Layout L = b.build();
    expect_error(L.file, {cat("metadata 'name' at offset ", b.value_at(L, "name") + 8, ": unexpected end of file")});
  }
  {
    Builder b = small_valid(3);
    Layout L = b.build();
    // Make the second tensor's name length absurd.
    std::string f = L.file;
    const uint64_t huge = uint64_t(1) << 50;
    std::memcpy(f.data() + L.tensor_at[1], &huge, 8);
    expect_error(f, {cat("tensor #1 name at offset ", L.tensor_at[1] + 8, ": unexpected end of file")});
  }
}

TEST_F(GgufTest, AbsurdArrayLength) {
  for (uint32_t version : {1u, 3u}) {
    Builder b(version);
    b.array("arr", GgufType::U32, version == 1 ? 0xfffffff0u : uint64_t(1) << 62).put<uint32_t>(1);
    Layout L = b.build();
    const size_t len_at = b.value_at(L, "arr") + 4;
    expect_error(L.file, {cat("metadata 'arr' at offset ", len_at, ": array length"), "cannot fit"});
  }
  {
    // A string array whose length fits the count check but not the file.
    Builder b(3);
    b.array("strs", GgufType::STRING, 2).str("a").count(100).raw("xy");
    Layout L = b.build();
    expect_error(L.file, {"metadata 'strs'", "unexpected end of file"});
  }
}

TEST_F(GgufTest, UnknownValueType) {
  {
    Builder b(3);
    b.entry("k", static_cast<GgufType>(13)).put<uint64_t>(0);
    Layout L = b.build();
    expect_error(L.file, {cat("metadata 'k' type at offset ", b.value_at(L, "k") - 4, ": unknown value type 13")});
  }
  {
    Builder b(3);
    b.entry("arr", GgufType::ARRAY).put<uint32_t>(99).count(1).put<uint64_t>(0);
    Layout L = b.build();
    expect_error(L.file,
                 {cat("metadata 'arr' element type at offset ", b.value_at(L, "arr"), ": unknown value type 99")});
  }
}

TEST_F(GgufTest, BoolValueTwo) {
  {
    Builder b(3);
    b.scalar<uint8_t>("flag", GgufType::BOOL, 2);
    Layout L = b.build();
    expect_error(L.file, {cat("metadata 'flag' at offset ", b.value_at(L, "flag"), ": bool value 2 is not 0 or 1")});
  }
  {
    Builder b(2);
    b.array("flags", GgufType::BOOL, 3).put<uint8_t>(1).put<uint8_t>(0).put<uint8_t>(2);
    Layout L = b.build();
    expect_error(L.file, {cat("metadata 'flags' at offset ", b.value_at(L, "flags") + 4 + 8 + 2, ": bool value 2")});
  }
}

TEST_F(GgufTest, ArraysNestedTooDeep) {
  Builder b(3);
  Bytes& k = b.array("deep", GgufType::ARRAY, 1);
  for (int d = 0; d < 8; ++d) k.type(GgufType::ARRAY).count(1);
  k.type(GgufType::U8).count(1).put<uint8_t>(1);
  expect_error(b.build().file, {"metadata 'deep'", "nested deeper than"});
}

TEST_F(GgufTest, DuplicateKeyAndTensor) {
  {
    Builder b(3);
    b.scalar<uint32_t>("k", GgufType::U32, 1);
    b.scalar<uint32_t>("k", GgufType::U32, 2);
    Layout L = b.build();
    expect_error(L.file, {cat("metadata key 'k' at offset ", L.header_bytes + 8 + 1 + 4 + 4, " appears twice")});
  }
  {
    Builder b = small_valid(3);
    b.tensors[1].name = "w";
    Layout L = b.build();
    expect_error(L.file, {cat("tensor 'w' at offset ", L.tensor_at[1], " appears twice")});
  }
}

TEST_F(GgufTest, NDims0And5) {
  for (uint32_t n : {0u, 5u}) {
    Builder b = small_valid(3);
    b.tensors[0].n_dims = n;
    Layout L = b.build();
    expect_error(L.file, {cat("tensor 'w' n_dims at offset ", b.n_dims_at(L, 0), " is ", n, " (must be in 1..4)")});
  }
}

TEST_F(GgufTest, DimensionZero) {
  for (uint32_t version : {1u, 3u}) {
    Builder b = small_valid(version);
    b.tensors[0].ne = {4, 0};
    Layout L = b.build();
    expect_error(L.file, {cat("tensor 'w' shape at offset ", b.dim_at(L, 0, 1), ": dimension 1 is 0")});
  }
}

TEST_F(GgufTest, ShapeOverflow) {
  Builder b = small_valid(3);
  b.tensors[0].ne = {uint64_t(1) << 30, uint64_t(1) << 30};  // 2^60 elements
  Layout L = b.build();
  expect_error(L.file, {cat("tensor 'w' shape at offset ", b.dim_at(L, 0, 1), ": shape overflows")});
  Builder c = small_valid(3);
  c.tensors[0].ne = {4, uint64_t(1) << 45};
  Layout M = c.build();
  expect_error(M.file, {"tensor 'w'", "dimension 1 is 35184372088832 (must be in 1..2^40)"});
}

TEST_F(GgufTest, UnknownTensorType) {
  Builder b = small_valid(3);
  b.tensors[0].ggml_type = 99;
  Layout L = b.build();
  expect_error(L.file, {cat("tensor 'w' type at offset ", b.type_at(L, 0), ": unknown or unsupported tensor type 99")});
}

TEST_F(GgufTest, TensorDataPastEof) {
  {
    Builder b = small_valid(3);
    b.tensors[1].offset = 4096;
    Layout L = b.build();
    expect_error(L.file, {"tensor 'q': data at offset", "+4096 with 34 bytes runs past the end of the file"});
  }
  {
    Builder b = small_valid(3);
    b.tensors[1].offset = ~uint64_t(0) - 31;  // aligned, and would wrap a careless sum
    expect_error(b.build().file, {"tensor 'q': data at offset", "runs past the end of the file"});
  }
  {
    // Shape bigger than the data left (a truncated data section).
    Builder b = small_valid(3);
    b.tensors[0].ne = {4, 200};
    expect_error(b.build().file, {"tensor 'w': data at offset", "with 3200 bytes runs past the end of the file"});
  }
}

TEST_F(GgufTest, OverlappingTensorData) {
  Builder b = small_valid(3);
  b.tensors[1].offset = 0;  // 'q' on top of 'w'
  Layout L = b.build();
  expect_error(L.file, {cat("tensor 'q': data at offset ", L.data_start, "+0 overlaps tensor 'w' (32 bytes at offset ",
                            L.data_start, "+0)")});
}

TEST_F(GgufTest, TensorOffsetNotAligned) {
  Builder b = small_valid(3);
  b.tensors[1].offset = 36;
  expect_error(b.build().file, {"tensor 'q': data offset 36 is not a multiple of the alignment 32"});
}

TEST_F(GgufTest, RowsNotAMultipleOfTheBlockSize) {
  Builder b = small_valid(3);
  b.tensors[1].ne = {40};
  expect_error(b.build().file, {"tensor 'q': rows of 40 elements are not a multiple of the q8_0 block size 32"});
  const std::string bad = test::shared("models/stories260K-gguf/bad-v2-q8_0-unaligned-rows.gguf");
  try {
    GgufFile::open(bad);
    FAIL() << "opened " << bad;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(bad + ": tensor 'blk.0.ffn_down.weight': rows of 172 elements", 0), 0u) << msg;
    EXPECT_NE(msg.find("q8_0 block size 32"), std::string::npos) << msg;
  }
}

// Random single-byte corruptions of a valid file: an Error or a file that opens, never a crash.
TEST_F(GgufTest, ByteFlipsNeverCrash) {
  const std::string full = small_valid(3).build().file;
  uint32_t s = 12345;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string f = full;
    s = s * 1664525u + 1013904223u;
    const size_t at = (s >> 8) % f.size();
    s = s * 1664525u + 1013904223u;
    f[at] = static_cast<char>(s >> 24);
    const std::string msg = open_error(f);
    if (!msg.empty()) {
      EXPECT_EQ(msg.rfind(dir_ + "/t.gguf: ", 0), 0u) << msg;
    }
  }
}

}  // namespace
}  // namespace loupe
