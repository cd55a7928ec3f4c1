// llama2.c checkpoints: the legacy fp32 file (7 x int32 header), export v1 ("ak42", fp32) and
// export v2 ("ak42", int8 with one float scale per group of the flattened tensor).
#include <climits>
#include <cstring>

#include "core/byte_reader.h"
#include "core/error.h"
#include "model/bind.h"
#include "tokenizer/tokenizer.h"

namespace loupe::detail {
namespace {

constexpr uint32_t kMagic = 0x616b3432;  // "ak42"
constexpr size_t kExportHeaderBytes = 256;

struct Header {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

// `legacy`: the file had neither the GGUF nor the llama2.c export magic, so a bad header most
// likely means it is no model at all; the message says so.
void check_header(const std::string& path, const Header& h, bool legacy) {
  auto in_range = [&](int64_t v, const char* field, int64_t max) {
    if (v > 0 && v <= max) return;
    if (legacy)
      fail(path,
           ": not a recognised model file (no GGUF or llama2.c export magic; read as a legacy llama2.c "
           "checkpoint, header field ",
           field, " is ", v, ", must be in 1..", max, ")");
    fail(path, ": header field ", field, " is ", v, " (must be in 1..", max, ")");
  };
  in_range(h.dim, "dim", 1 << 16);
  in_range(h.hidden_dim, "hidden_dim", 1 << 18);
  in_range(h.n_layers, "n_layers", 1024);
  in_range(h.n_heads, "n_heads", 1024);
  in_range(h.n_kv_heads, "n_kv_heads", 1024);
  in_range(h.vocab_size, "vocab_size", 1 << 22);
  in_range(h.seq_len, "seq_len", 1 << 22);
  if (h.dim % h.n_heads != 0) fail(path, ": header: dim ", h.dim, " is not a multiple of n_heads ", h.n_heads);
}

ModelConfig config_from(const Header& h) {
  ModelConfig c;
  c.arch = Arch::Llama;
  c.arch_label = "llama";
  c.format = "llama2c";
  c.d_model = h.dim;
  c.n_layers = h.n_layers;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.d_head = h.dim / h.n_heads;
  c.d_mlp = h.hidden_dim;
  c.d_vocab = h.vocab_size;
  c.n_ctx = h.seq_len;
  c.norm_eps = 1e-5f;
  c.rope = RopeStyle::Adjacent;
  return c;
}

// Lays out consecutive tensors of a file in the table under GGUF names.
class Cursor {
 public:
  Cursor(TensorTable& t, ByteReader& r) : table_(t), r_(r) {}

  void f32(const std::string& name, std::vector<int64_t> shape) {
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    RawTensor t;
    t.name = name;
    t.type = DType::F32;
    t.shape = std::move(shape);
    size_t at = r_.offset();
    t.nbytes = n * 4;
    t.data = reinterpret_cast<const uint8_t*>(r_.bytes(t.nbytes, cat("tensor '", name, "'")).data());
    if (reinterpret_cast<uintptr_t>(t.data) % 4 != 0)
      fail(r_.source(), ": tensor '", name, "' at offset ", at, " is not 4-byte aligned");
    table_.add(std::move(t));
  }

  void skip(size_t bytes, const std::string& what) { r_.bytes(bytes, what); }

 private:
  TensorTable& table_;
  ByteReader& r_;
};

std::string blk(int l, const char* rest) {
  return cat("blk.", l, ".", rest);
}

}  // namespace

std::unique_ptr<Model> load_llama2c(const std::string& path) {
  auto m = std::make_unique<Model>();
  auto file = MappedFile::open(path);
  m->files.push_back(file);
  m->path = path;
  ByteReader r(file->data(), file->size(), path);
  TensorTable table(path);
  Cursor cur(table, r);

  uint32_t magic = r.read<uint32_t>("magic");
  if (magic == kMagic) {
    int32_t version = r.read<int32_t>("version");
    Header h{};
    h.dim = r.read<int32_t>("dim");
    h.hidden_dim = r.read<int32_t>("hidden_dim");
    h.n_layers = r.read<int32_t>("n_layers");
    h.n_heads = r.read<int32_t>("n_heads");
    h.n_kv_heads = r.read<int32_t>("n_kv_heads");
    h.vocab_size = r.read<int32_t>("vocab_size");
    h.seq_len = r.read<int32_t>("max_seq_len");
    uint8_t shared = r.read<uint8_t>("shared_classifier");
    int32_t group = 0;
    if (version == 2) group = r.read<int32_t>("group_size");
    if (version != 1 && version != 2) fail(path, ": llama2.c export version ", version, " is not supported (1 or 2)");
    check_header(path, h, false);
    if (shared > 1) fail(path, ": header field shared_classifier is ", int(shared), " (must be 0 or 1)");
    m->config = config_from(h);
    ModelConfig& c = m->config;
    c.fill_layers();
    c.validate(path);
    const int64_t dkv = c.d_kv();
    if (file->size() < kExportHeaderBytes)
      fail(path, ": llama2.c export header is ", kExportHeaderBytes, " bytes but the file has only ", file->size(),
           " (truncated)");
    r.seek(kExportHeaderBytes, "weights");
    const int L = h.n_layers;
    for (int l = 0; l < L; ++l) cur.f32(blk(l, "attn_norm.weight"), {h.dim});
    for (int l = 0; l < L; ++l) cur.f32(blk(l, "ffn_norm.weight"), {h.dim});
    cur.f32("output_norm.weight", {h.dim});
    struct Mat {
      std::string name;
      int64_t rows, cols;
    };
    std::vector<Mat> mats = {{"token_embd.weight", h.vocab_size, h.dim}};
    auto per_layer = [&](const char* n, int64_t rows, int64_t cols) {
      for (int l = 0; l < L; ++l) mats.push_back({blk(l, n), rows, cols});
    };
    per_layer("attn_q.weight", c.d_q(), h.dim);
    per_layer("attn_k.weight", dkv, h.dim);
    per_layer("attn_v.weight", dkv, h.dim);
    per_layer("attn_output.weight", h.dim, c.d_q());
    per_layer("ffn_gate.weight", h.hidden_dim, h.dim);
    per_layer("ffn_down.weight", h.dim, h.hidden_dim);
    per_layer("ffn_up.weight", h.hidden_dim, h.dim);
    if (!shared) mats.push_back({"output.weight", h.vocab_size, h.dim});
    if (version == 1) {
      for (const auto& mat : mats) cur.f32(mat.name, {mat.rows, mat.cols});
      if (r.remaining() != 0) fail(path, ": ", r.remaining(), " unexpected bytes after the last tensor");
      c.file_type = "f32";
      bind_weights(*m, table, BindOptions{});
    } else {
      if (group <= 0 || group > (1 << 20)) fail(path, ": header field group_size is ", group);
      c.file_type = cat("int8, group ", group);
      for (const auto& mat : mats) {
        const int64_t n = mat.rows * mat.cols;
        if (n % group != 0)
          fail(path, ": tensor '", mat.name, "' has ", n, " elements, not a multiple of the group size ", group,
               "; llama2.c's int8 export cannot represent it");
        RawTensor t;
        t.name = mat.name;
        t.shape = {mat.rows, mat.cols};
        t.data = reinterpret_cast<const uint8_t*>(
            r.bytes(static_cast<uint64_t>(n), cat("tensor '", mat.name, "' int8 values")).data());
        size_t at = r.offset();
        std::string_view scales = r.bytes(static_cast<uint64_t>(n / group) * 4, cat("tensor '", mat.name, "' scales"));
        if (reinterpret_cast<uintptr_t>(scales.data()) % 4 != 0)
          fail(path, ": tensor '", mat.name, "' scales at offset ", at, " are not 4-byte aligned");
        t.group_scales = reinterpret_cast<const float*>(scales.data());
        t.group_size = group;
        t.nbytes = static_cast<size_t>(n) + scales.size();
        table.add(std::move(t));
      }
      if (r.remaining() != 0) fail(path, ": ", r.remaining(), " unexpected bytes after the last tensor");
      bind_weights(*m, table, BindOptions{});
    }
  } else {
    r.seek(0, "header");
    Header h{};
    h.dim = r.read<int32_t>("header field dim");
    h.hidden_dim = r.read<int32_t>("header field hidden_dim");
    h.n_layers = r.read<int32_t>("header field n_layers");
    h.n_heads = r.read<int32_t>("header field n_heads");
    h.n_kv_heads = r.read<int32_t>("header field n_kv_heads");
    h.vocab_size = r.read<int32_t>("header field vocab_size");
    h.seq_len = r.read<int32_t>("header field seq_len");
    const bool shared = h.vocab_size > 0;
    // A negative vocab_size means an untied classifier; INT32_MIN has no positive counterpart.
    if (h.vocab_size == INT32_MIN)
      fail(path, ": not a recognised model file (read as a legacy llama2.c checkpoint, header field vocab_size is ",
           h.vocab_size, ", its magnitude must be in 1..", 1 << 22, ")");
    if (h.vocab_size < 0) h.vocab_size = -h.vocab_size;
    check_header(path, h, true);
    m->config = config_from(h);
    ModelConfig& c = m->config;
    c.fill_layers();
    c.validate(path);
    const int64_t dkv = c.d_kv();
    const int L = h.n_layers;
    const int64_t expect =
        28 + 4 * (int64_t(h.vocab_size) * h.dim + int64_t(L) * h.dim * 2 + int64_t(L) * h.dim * (c.d_q() + 2 * dkv) +
                  int64_t(L) * c.d_q() * h.dim + int64_t(L) * h.hidden_dim * h.dim * 3 + h.dim +
                  int64_t(h.seq_len) * c.d_head + (shared ? 0 : int64_t(h.vocab_size) * h.dim));
    if (static_cast<int64_t>(file->size()) != expect)
      fail(path, ": llama2.c checkpoint of ", file->size(), " bytes, but its header (dim ", h.dim, ", hidden_dim ",
           h.hidden_dim, ", n_layers ", L, ", vocab_size ", h.vocab_size, ", seq_len ", h.seq_len, ") needs ", expect,
           " bytes: truncated, or not a llama2.c checkpoint");
    cur.f32("token_embd.weight", {h.vocab_size, h.dim});
    for (int l = 0; l < L; ++l) cur.f32(blk(l, "attn_norm.weight"), {h.dim});
    for (int l = 0; l < L; ++l) cur.f32(blk(l, "attn_q.weight"), {c.d_q(), h.dim});
    for (int l = 0; l < L; ++l) cur.f32(blk(l, "attn_k.weight"), {dkv, h.dim});
    for (int l = 0; l < L; ++l) cur.f32(blk(l, "attn_v.weight"), {dkv, h.dim});
    for (int l = 0; l < L; ++l) cur.f32(blk(l, "attn_output.weight"), {h.dim, c.d_q()});
    for (int l = 0; l < L; ++l) cur.f32(blk(l, "ffn_norm.weight"), {h.dim});
    for (int l = 0; l < L; ++l) cur.f32(blk(l, "ffn_gate.weight"), {h.hidden_dim, h.dim});
    for (int l = 0; l < L; ++l) cur.f32(blk(l, "ffn_down.weight"), {h.dim, h.hidden_dim});
    for (int l = 0; l < L; ++l) cur.f32(blk(l, "ffn_up.weight"), {h.hidden_dim, h.dim});
    cur.f32("output_norm.weight", {h.dim});
    cur.skip(static_cast<size_t>(h.seq_len) * static_cast<size_t>(c.d_head) * 4, "freq_cis tables");
    if (!shared) cur.f32("output.weight", {h.vocab_size, h.dim});
    c.file_type = "f32";
    bind_weights(*m, table, BindOptions{});
  }
  return m;
}

}  // namespace loupe::detail
