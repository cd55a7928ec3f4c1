// Bad input through the CLI: truncated and corrupted copies of the stories260K files in every
// format, hostile safetensors headers and config.json files, GGUF files with a missing tensor or
// a foreign architecture, mismatched tokenizers, bad prompts and token lists, files that are no
// model at all. Each must end with exit code 1 (never a signal, 134 or 139), one line on stderr
// starting "error: " that names the file / field / tensor, and no output file left behind.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/npy.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "model/weights.h"
#include "test_support.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::CommandResult;
using test::run_loupe;
using test::shared;

const std::string kStories = "models/stories260K/stories260K.bin";
const std::string kQ80 = "models/stories260K/stories260K_q80.bin";
const std::string kV1Export = "models/stories260K/stories260K_v1export.bin";
const std::string kGguf = "models/stories260K-gguf/stories260K-f32.gguf";
const std::string kHf = "models/stories260K-hf";

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// The command failed as a bad input should: exit 1, one "error: " line naming every part.
void expect_error(const CommandResult& r, const std::string& what, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.exit_code, 1) << what << "\nstderr: " << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << what << "\nstderr: " << r.err;
  EXPECT_EQ(r.err.find("AddressSanitizer"), std::string::npos) << what << "\n" << r.err;
  EXPECT_EQ(r.err.find("runtime error"), std::string::npos) << what << "\n" << r.err;
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << what << "\n" << r.err;
  EXPECT_TRUE(!r.err.empty() && r.err.find('\n') == r.err.size() - 1) << what << ": not one line\n" << r.err;
  for (const auto& p : parts)
    EXPECT_NE(r.err.find(p), std::string::npos) << what << ": '" << p << "' not in: " << r.err;
}

void expect_cli_error(const std::string& args, const std::vector<std::string>& parts) {
  expect_error(run_loupe(args), "loupe " + args, parts);
}

// In-process: load_model must throw loupe::Error whose message names the path.
void expect_load_error(const std::string& path, const std::string& what) {
  try {
    load_model(path);
    ADD_FAILURE() << what << ": loaded without an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << what << ": " << e.what();
  }
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::temp_dir("bad-input"); }
  void TearDown() override { fs::remove_all(dir_); }

  // Truncated copies under the original file name (so messages can be matched), through the
  // CLI at chosen sizes and in-process at many more.
  void truncations(const std::string& rel, const std::vector<size_t>& cli_sizes, size_t step) {
    const std::string full = test::read_file(shared(rel));
    const std::string path = dir_ + "/" + fs::path(rel).filename().string();
    for (size_t n : cli_sizes) {
      if (n >= full.size()) n = full.size() - 1;
      write_bytes(path, full.substr(0, n));
      expect_cli_error("info " + path, {path + ": "});
    }
    for (size_t n = 0; n < full.size(); n += n < 512 ? 1 : step) {
      write_bytes(path, full.substr(0, n));
      expect_load_error(path, cat(rel, " cut to ", n, " bytes"));
      if (HasFailure()) return;
    }
  }

  // A copy of the stories260K HF folder whose model.safetensors is `st` and config.json `cfg`.
  std::string hf_copy(const std::string& name, const std::string& st, const json* cfg = nullptr) {
    const std::string d = dir_ + "/" + name;
    fs::create_directories(d);
    if (cfg != nullptr) {
      std::ofstream(d + "/config.json") << cfg->dump(2);
    } else {
      fs::copy_file(shared(kHf + "/config.json"), d + "/config.json");
    }
    write_bytes(d + "/model.safetensors", st);
    return d;
  }

  std::string dir_;
};

std::vector<size_t> cut_points(size_t size) {
  return {0, 1, 3, 4, 7, 8, 12, 24, 27, 28, 40, 100, 255, 256, 257, 1000, 4096, size / 3, size / 2, size - 4, size - 1};
}

TEST_F(BadInput, TruncatedLlama2cLegacy) {
  const size_t size = fs::file_size(shared(kStories));
  truncations(kStories, cut_points(size), 8191);
  const std::string path = dir_ + "/stories260K.bin";
  write_bytes(path, test::read_file(shared(kStories)).substr(0, size / 2));
  expect_cli_error("info " + path, {path + ": llama2.c checkpoint of " + std::to_string(size / 2) + " bytes",
                                    "needs 1056540 bytes: truncated"});
  write_bytes(path, test::read_file(shared(kStories)).substr(0, 2));
  expect_cli_error("info " + path, {path + ": file of 2 bytes is too short to be a model"});
}

// A copy of `rel` with the int32 at `offset` replaced.
std::string patched_i32(const std::string& rel, size_t offset, int32_t v) {
  std::string f = test::read_file(shared(rel));
  std::memcpy(f.data() + offset, &v, 4);
  return f;
}

TEST_F(BadInput, Llama2cHeaders) {
  const std::string path = dir_ + "/stories260K.bin";
  write_bytes(path, patched_i32(kStories, 0, -64));  // dim
  expect_cli_error("info " + path, {path + ": not a recognised model file", "header field dim is -64"});
  write_bytes(path, patched_i32(kStories, 16, 3));  // n_kv_heads
  expect_cli_error("info " + path, {path + ": n_heads 8 is not a multiple of n_kv_heads 3"});
  write_bytes(path, patched_i32(kStories, 20, INT32_MIN));  // vocab_size: no positive counterpart
  expect_cli_error("info " + path, {path + ": not a recognised model file", "vocab_size is -2147483648"});
  write_bytes(path, patched_i32(kStories, 20, 513));  // vocab_size
  expect_cli_error("info " + path, {path + ": llama2.c checkpoint of 1056540 bytes", "vocab_size 513"});
  const std::string q = dir_ + "/stories260K_q80.bin";
  write_bytes(q, patched_i32(kQ80, 4, 3));  // export version
  expect_cli_error("info " + q, {q + ": llama2.c export version 3 is not supported"});
  write_bytes(q, patched_i32(kQ80, 37, 0));  // group_size
  expect_cli_error("info " + q, {q + ": header field group_size is 0"});
  std::string f = test::read_file(shared(kQ80));
  f[36] = 2;  // shared_classifier
  write_bytes(q, f);
  expect_cli_error("info " + q, {q + ": header field shared_classifier is 2"});
}

TEST_F(BadInput, TruncatedLlama2cInt8Export) {
  truncations(kQ80, cut_points(fs::file_size(shared(kQ80))), 1021);
  const std::string path = dir_ + "/stories260K_q80.bin";
  write_bytes(path, test::read_file(shared(kQ80)).substr(0, 100));
  expect_cli_error("info " + path, {path + ": llama2.c export header is 256 bytes but the file has only 100"});
  write_bytes(path, test::read_file(shared(kQ80)).substr(0, 200000));
  expect_cli_error("info " + path, {path + ": tensor '", "unexpected end of file"});
}

TEST_F(BadInput, TruncatedLlama2cV1Export) {
  truncations(kV1Export, cut_points(fs::file_size(shared(kV1Export))), 8191);
  const std::string path = dir_ + "/stories260K_v1export.bin";
  write_bytes(path, test::read_file(shared(kV1Export)).substr(0, 20));
  expect_cli_error("info " + path, {path + ": n_heads at offset 20: unexpected end of file"});
}

TEST_F(BadInput, TruncatedGguf) {
  truncations(kGguf, cut_points(fs::file_size(shared(kGguf))), 8191);
  const std::string path = dir_ + "/stories260K-f32.gguf";
  write_bytes(path, test::read_file(shared(kGguf)).substr(0, 1000000));
  expect_cli_error("info " + path, {path + ": tensor '", "runs past the end of the file (1000000 bytes)"});
}

TEST_F(BadInput, TruncatedSafetensors) {
  const std::string full = test::read_file(shared(kHf + "/model.safetensors"));
  uint64_t hlen = 0;
  std::memcpy(&hlen, full.data(), 8);
  const std::vector<size_t> cuts = {
      0, 4, 7, 8, 9, 100, 8 + hlen - 1, 8 + hlen, 8 + hlen + 1000, full.size() / 2, full.size() - 1};
  for (size_t n : cuts) {
    const std::string d = hf_copy(cat("cut", n), full.substr(0, n));
    expect_cli_error("info " + d, {d + "/model.safetensors: "});
    expect_load_error(d, cat("safetensors cut to ", n));
  }
  const std::string d = hf_copy("cut-last", full.substr(0, full.size() - 1));
  expect_cli_error("info " + d, {"tensor 'model.norm.weight': data_offsets [", "run past the end of the data"});
}

// The shared file's header and data, and a writer for edited headers (padded to 8 bytes).
struct Safetensors {
  json header;
  std::string data;
  static Safetensors load(const std::string& path) {
    const std::string full = test::read_file(path);
    uint64_t n = 0;
    std::memcpy(&n, full.data(), 8);
    return {json::parse(full.substr(8, n)), full.substr(8 + n)};
  }
  std::string bytes() const {
    std::string h = header.dump();
    h.append((8 - h.size() % 8) % 8, ' ');
    const uint64_t n = h.size();
    return std::string(reinterpret_cast<const char*>(&n), 8) + h + data;
  }
};

TEST_F(BadInput, SafetensorsHeaders) {
  const Safetensors base = Safetensors::load(shared(kHf + "/model.safetensors"));
  ASSERT_TRUE(base.header.contains("model.norm.weight"));
  {
    Safetensors s = base;
    s.header["model.norm.weight"]["data_offsets"] = {s.data.size() - 4, s.data.size() + 252};
    const std::string d = hf_copy("past-end", s.bytes());
    expect_cli_error("info " + d, {d + "/model.safetensors: tensor 'model.norm.weight': data_offsets [",
                                   "run past the end of the data (" + std::to_string(s.data.size()) + " bytes)"});
  }
  {
    Safetensors s = base;
    const uint64_t b = s.header["model.norm.weight"]["data_offsets"][0].get<uint64_t>();
    s.header["model.norm.weight"]["data_offsets"] = {b, b + 252};
    const std::string d = hf_copy("byte-count", s.bytes());
    expect_cli_error("info " + d, {d + "/model.safetensors: tensor 'model.norm.weight': data_offsets span 252 bytes",
                                   "shape [64] needs 256"});
  }
  {
    Safetensors s = base;
    s.header["model.norm.weight"]["dtype"] = "F8_E4M3";
    const std::string d = hf_copy("dtype", s.bytes());
    expect_cli_error("info " + d,
                     {d + "/model.safetensors: tensor 'model.norm.weight': dtype 'F8_E4M3' is not supported"});
  }
  {
    Safetensors s = base;
    s.header["model.norm.weight"]["shape"] = {-64};
    const std::string d = hf_copy("neg-shape", s.bytes());
    expect_cli_error("info " + d, {"tensor 'model.norm.weight': bad dimension in shape"});
  }
  {
    Safetensors s = base;
    s.header.erase("model.layers.3.mlp.down_proj.weight");
    const std::string d = hf_copy("missing", s.bytes());
    expect_cli_error("info " + d,
                     {d + ": tensor 'model.layers.3.mlp.down_proj.weight' (blk.3.ffn_down.weight) is missing"});
  }
  {
    // Two tensors of one size given the same bytes.
    Safetensors s = base;
    s.header["model.norm.weight"]["data_offsets"] = s.header["model.layers.0.input_layernorm.weight"]["data_offsets"];
    const std::string d = hf_copy("overlap", s.bytes());
    expect_cli_error("info " + d, {d + "/model.safetensors: tensors '", "model.layers.0.input_layernorm.weight",
                                   "model.norm.weight", "overlap"});
  }
  {
    const std::string d = hf_copy("not-json", std::string("\x10\0\0\0\0\0\0\0{\"a\": [1, 2,   ", 24) + base.data);
    expect_cli_error("info " + d, {d + "/model.safetensors: header is not valid JSON"});
  }
  {
    std::string st = base.bytes();
    const uint64_t huge = uint64_t(1) << 62;
    std::memcpy(st.data(), &huge, 8);
    const std::string d = hf_copy("header-length", st);
    expect_cli_error("info " + d, {d + "/model.safetensors: header length 4611686018427387904 runs past the end"});
  }
}

TEST_F(BadInput, ConfigJson) {
  const std::string st = test::read_file(shared(kHf + "/model.safetensors"));
  const json cfg = json::parse(test::read_file(shared(kHf + "/config.json")));
  {
    json c = cfg;
    c.erase("hidden_size");
    const std::string d = hf_copy("no-hidden", st, &c);
    expect_cli_error("info " + d, {d + "/config.json: field 'hidden_size' is missing"});
  }
  {
    json c = cfg;
    c["num_hidden_layers"] = "five";
    const std::string d = hf_copy("string-layers", st, &c);
    expect_cli_error("info " + d, {d + "/config.json: field 'num_hidden_layers' is not an integer (string)"});
  }
  {
    json c = cfg;
    c["model_type"] = "mamba";
    const std::string d = hf_copy("mamba", st, &c);
    expect_cli_error("info " + d, {d + "/config.json: unsupported model_type 'mamba'", "llama", "qwen2", "gpt2"});
  }
  {
    // Every value through the checked accessors: the file and the key, never a JSON library message.
    const std::vector<std::pair<std::string, json>> wrong = {{"model_type", 42},
                                                             {"attention_bias", "no"},
                                                             {"tie_word_embeddings", "yes"},
                                                             {"rms_norm_eps", "small"},
                                                             {"rope_scaling", 3}};
    for (const auto& [key, value] : wrong) {
      json c = cfg;
      c[key] = value;
      const std::string d = hf_copy("wrong-" + key, st, &c);
      const CommandResult r = run_loupe("info " + d);
      expect_error(r, key, {d + "/config.json: field '" + key + "'"});
      EXPECT_EQ(r.err.find("json.exception"), std::string::npos) << r.err;
    }
  }
  {
    // Untied, but no lm_head.weight: refused rather than tied silently.
    json c = cfg;
    c["tie_word_embeddings"] = false;
    const std::string d = hf_copy("untied", st, &c);
    expect_cli_error("info " + d, {d + "/config.json: field 'tie_word_embeddings' is false", "lm_head.weight"});
  }
  {
    json c = cfg;
    c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 0}};
    const std::string d = hf_copy("llama3-factor", st, &c);
    expect_cli_error("info " + d, {d + "/config.json", "factor 0 must be positive"});
  }
  {
    const std::string d = dir_ + "/broken-json";
    fs::create_directories(d);
    std::ofstream(d + "/config.json") << "{\"model_type\": \"llama\",";
    write_bytes(d + "/model.safetensors", st);
    expect_cli_error("info " + d, {d + "/config.json: invalid JSON"});
  }
}

// The stories260K GGUF rewritten through GgufWriter, with `edit` applied to the writer.
void rewrite_gguf(const std::string& out, const std::function<void(GgufWriter&)>& edit,
                  const std::string& drop_tensor = "") {
  GgufFile g = GgufFile::open(shared(kGguf));
  GgufWriter w;
  for (const auto& [k, v] : g.metadata()) w.set(k, v);
  for (const auto& t : g.tensors())
    if (t.name != drop_tensor) w.add_tensor(t.name, t.type, t.ne, std::vector<uint8_t>(t.data, t.data + t.nbytes));
  edit(w);
  w.write(out);
}

TEST_F(BadInput, GgufMissingTensor) {
  {
    // Byte surgery: rename one tensor in place.
    std::string f = test::read_file(shared(kGguf));
    const size_t at = f.find("blk.2.ffn_up.weight");
    ASSERT_NE(at, std::string::npos);
    f[at + std::strlen("blk.2.ffn_up.weigh")] = 'x';
    const std::string path = dir_ + "/renamed.gguf";
    write_bytes(path, f);
    expect_cli_error("info " + path, {path + ": tensor 'blk.2.ffn_up.weight' is missing"});
  }
  {
    const std::string path = dir_ + "/dropped.gguf";
    rewrite_gguf(
        path, [](GgufWriter&) {}, "blk.4.attn_k.weight");
    expect_cli_error("info " + path, {path + ": tensor 'blk.4.attn_k.weight' is missing"});
  }
  {
    // The same file unedited loads: the rewrite itself is sound.
    const std::string path = dir_ + "/same.gguf";
    rewrite_gguf(path, [](GgufWriter&) {});
    EXPECT_EQ(run_loupe("info " + path).exit_code, 0);
  }
}

TEST_F(BadInput, GgufForeignArchitectureAndBadMetadata) {
  {
    const std::string path = dir_ + "/falcon.gguf";
    rewrite_gguf(path, [](GgufWriter& w) { w.set_string("general.architecture", "falcon"); });
    expect_cli_error("info " + path,
                     {path + ": unsupported architecture 'falcon' (general.architecture)", "llama", "qwen2", "gpt2"});
  }
  {
    const std::string path = dir_ + "/bos.gguf";
    rewrite_gguf(path, [](GgufWriter& w) { w.set_u32("tokenizer.ggml.bos_token_id", 100000); });
    expect_cli_error("info " + path, {path + ": ", "tokenizer.ggml.bos_token_id", "100000"});
  }
  {
    const std::string path = dir_ + "/layers.gguf";
    rewrite_gguf(path, [](GgufWriter& w) { w.set_string("llama.block_count", "5"); });
    expect_cli_error("info " + path, {path + ": metadata 'llama.block_count' is not an integer (string)"});
  }
  {
    const std::string path = dir_ + "/rope-factor.gguf";
    rewrite_gguf(path, [](GgufWriter& w) {
      w.set_string("llama.rope.scaling.type", "linear");
      w.set_f32("llama.rope.scaling.factor", 0.0f);
    });
    expect_cli_error("generate " + path + " -n 2", {path + ": metadata 'llama.rope.scaling.factor' is 0"});
  }
  {
    const std::string path = dir_ + "/unk.gguf";
    rewrite_gguf(path, [](GgufWriter& w) { w.set_u32("tokenizer.ggml.unknown_token_id", 512); });
    expect_cli_error("info " + path, {path + ": tokenizer.ggml.unknown_token_id is 512, past the vocabulary of 512"});
  }
  for (const float base : {INFINITY, 0.0f, -10000.0f}) {
    const std::string path = dir_ + "/freq-base.gguf";
    rewrite_gguf(path, [base](GgufWriter& w) { w.set_f32("llama.rope.freq_base", base); });
    expect_cli_error("info " + path, {path + ": ", "llama.rope.freq_base"});
  }
  {
    // Tensors for 5 layers under a block_count of 4.
    const std::string path = dir_ + "/depth.gguf";
    rewrite_gguf(path, [](GgufWriter& w) { w.set_u32("llama.block_count", 4); });
    expect_cli_error("info " + path, {path + ": tensor 'blk.4.", "belongs to layer 4 but llama.block_count is 4"});
  }
  {
    const std::string path = dir_ + "/heads.gguf";
    rewrite_gguf(path, [](GgufWriter& w) { w.set_u32("llama.attention.head_count_kv", 3); });
    expect_cli_error("info " + path, {path + ": n_heads 8 is not a multiple of n_kv_heads 3"});
  }
}

TEST_F(BadInput, GgufRowsNotAMultipleOfTheBlockSize) {
  const std::string path = shared("models/stories260K-gguf/bad-v2-q8_0-unaligned-rows.gguf");
  expect_cli_error("info " + path,
                   {path + ": tensor 'blk.0.ffn_down.weight'", "rows of 172 elements", "q8_0 block size 32"});
  expect_cli_error("generate " + path + " -n 4", {"ffn_down", "block size 32"});
}

TEST_F(BadInput, TokenizerOfAnotherModel) {
  const std::string tok = shared("models/babyllama-tok105/tok105.bin");
  expect_cli_error("generate " + shared(kStories) + " --tokenizer " + tok + " -n 4",
                   {tok + ": tokenizer has 105 tokens", "vocabulary of 512"});
  expect_cli_error("generate " + shared(kStories) + " --tokenizer " + dir_ + "/none.bin -n 4", {dir_ + "/none.bin: "});
}

TEST_F(BadInput, Prompts) {
  const std::string m = shared(kStories);
  expect_cli_error("generate " + m + " -n 4 -p \"$(printf 'ab\\377\\376')\"", {"prompt: invalid UTF-8 at byte 2"});
  expect_cli_error("generate " + m + " -n 4 -p \"$(printf 'Once upon \\342\\202')\"",
                   {"prompt: invalid UTF-8 at byte 10"});
  expect_cli_error("generate " + m +
                       " -n 4 --ctx 8 -p 'Once upon a time there was a little girl named Lily who "
                       "loved to play outside'",
                   {"prompt: ", "do not fit the context of 8 positions"});
  expect_cli_error("logits " + m + " --tokens 1,2,99999 -o " + dir_ + "/l.npy",
                   {"--tokens: token id 99999 is out of range (vocabulary of 512)"});
  expect_cli_error("logits " + m + " --tokens 1,-2 -o " + dir_ + "/l.npy", {"--tokens: token id -2 is out of range"});
  expect_cli_error("logits " + m + " --tokens 1,2x -o " + dir_ + "/l.npy", {"--tokens: '2x' at character 2"});
  expect_cli_error("logits " + m + " --ctx 2 --tokens 1,2,3 -o " + dir_ + "/l.npy",
                   {"--tokens: 3 tokens do not fit the context of 2 positions"});
  EXPECT_FALSE(fs::exists(dir_ + "/l.npy"));
  // -f FILE: the file's text, byte for byte as -p would take it; its errors name the file.
  const std::string pf = dir_ + "/prompt.txt";
  write_bytes(pf, "Once upon a time");
  ASSERT_EQ(run_loupe("logits " + m + " -f " + pf + " -o " + dir_ + "/f.npy").exit_code, 0);
  ASSERT_EQ(run_loupe("logits " + m + " -p 'Once upon a time' -o " + dir_ + "/p.npy").exit_code, 0);
  EXPECT_EQ(test::read_file(dir_ + "/f.npy"), test::read_file(dir_ + "/p.npy"));
  expect_cli_error("logits " + m + " -f " + pf + " -p hi -o " + dir_ + "/l.npy", {"--prompt-file alone"});
  expect_cli_error("generate " + m + " -n 2 --prompt-file " + dir_ + "/none.txt",
                   {dir_ + "/none.txt: cannot open the prompt file"});
  write_bytes(pf, "ab\xff");
  expect_cli_error("generate " + m + " -n 2 -f " + pf, {pf + ": invalid UTF-8 at byte 2"});
  write_bytes(pf, "");
  expect_cli_error("generate " + m + " -n 2 -f " + pf, {pf + ": the prompt file is empty"});
  expect_cli_error("generate " + m + " -n 2 -f " + dir_, {dir_ + ": is a directory, not a prompt file"});
  EXPECT_FALSE(fs::exists(dir_ + "/l.npy"));
}

TEST_F(BadInput, NotModels) {
  expect_cli_error("info " + dir_ + "/nonexistent.gguf", {dir_ + "/nonexistent.gguf: no such file or directory"});
  expect_cli_error("generate " + dir_ + "/nonexistent.bin -n 1",
                   {dir_ + "/nonexistent.bin: no such file or directory"});
  fs::create_directories(dir_ + "/empty-dir");
  expect_cli_error("info " + dir_ + "/empty-dir", {dir_ + "/empty-dir: no config.json"});
  write_bytes(dir_ + "/empty.bin", "");
  expect_cli_error("info " + dir_ + "/empty.bin", {dir_ + "/empty.bin: file of 0 bytes is too short to be a model"});
  std::string noise(5000, '\0');
  uint32_t s = 7;
  for (char& c : noise) {
    s = s * 1664525u + 1013904223u;
    c = static_cast<char>(s >> 24);
  }
  for (const char* name : {"random.bin", "random.gguf"}) {
    const std::string path = dir_ + "/" + name;
    write_bytes(path, noise);
    expect_cli_error("info " + path, {path + ": not a recognised model file"});
    expect_cli_error("generate " + path + " -n 1", {path + ": not a recognised model file"});
  }
  // GGUF magic followed by noise.
  write_bytes(dir_ + "/noise.gguf", "GGUF" + noise);
  expect_cli_error("info " + dir_ + "/noise.gguf", {dir_ + "/noise.gguf: version at offset 4"});
  // A text file posing as a model.
  write_bytes(dir_ + "/readme.bin", "This is not a model, just some text that is long enough.\n");
  expect_cli_error("info " + dir_ + "/readme.bin", {dir_ + "/readme.bin: not a recognised model file"});
}

// loupe under a file size limit of `kib` KiB (loupe itself ignores SIGXFSZ, so the write fails).
CommandResult run_limited(const std::string& args, int kib, const std::string& dir) {
  const std::string err = dir + "/stderr.txt";
  const std::string cmd = "sh -c \"ulimit -f " + std::to_string(kib) + "; exec " + test::loupe_binary() + " " + args +
                          "\" >/dev/null 2>" + err;
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.err = test::read_file(err);
  fs::remove(err);
  return r;
}

// Every file loupe writes appears whole or not at all: a write that fails half way (the file
// size limit) leaves an existing output untouched and no temporary beside it; SIGTERM in the
// middle of a run leaves the output absent or complete and no temporary either.
TEST_F(BadInput, OutputsAreWholeOrAbsent) {
  const std::string m = shared(kStories);
  const std::string data = dir_ + "/data.txt";
  {
    std::string text;
    for (int i = 0; i < 40; ++i)
      text += "Once upon a time there was a little girl named Lily " + std::to_string(i) + ". She liked to play.\n";
    write_bytes(data, text);
  }
  const std::string out = dir_ + "/out";
  fs::create_directories(out);
  struct Case {
    std::string what, args, file;
  };
  const std::vector<Case> cases = {
      {"explore --html", "explore " + data + " --html " + out + "/report.html", out + "/report.html"},
      {"explore --summary", "explore " + data + " --summary " + out + "/summary.json", out + "/summary.json"},
      {"eval --tokens-out", "eval " + m + " --data " + data + " --tokens-out " + out + "/tokens.tsv",
       out + "/tokens.tsv"},
      {"eval --docs-out", "eval " + m + " --data " + data + " --docs-out " + out + "/docs.jsonl", out + "/docs.jsonl"},
      {"eval --svg", "eval " + m + " --data " + data + " --svg " + out + "/loss.svg", out + "/loss.svg"},
      {"model new --format hf",
       "model new --arch llama --d-model 64 --n-layers 2 --n-heads 4 --d-mlp 128 --n-ctx 64 --vocab-from " +
           shared(kGguf) + " --type f32 --format hf -o " + out + "/hf",
       out + "/hf/model.safetensors"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ASSERT_EQ(run_loupe(c.args).exit_code, 0);
    const std::string good = test::read_file(c.file);
    ASSERT_GT(good.size(), 1024u);
    const CommandResult r = run_limited(c.args, 1, dir_);
    expect_error(r, c.what + " under a 1 KiB file size limit", {": write failed"});
    EXPECT_EQ(test::read_file(c.file), good) << "the good output was replaced";
    for (const auto& e : fs::recursive_directory_iterator(out))
      EXPECT_EQ(e.path().string().find(".partial"), std::string::npos) << e.path();
  }
  // SIGTERM at some point of a run: whatever the moment, no temporary remains, and the output
  // is either absent or the whole file.
  const std::string tokens = out + "/tokens.tsv";
  const std::string whole = test::read_file(tokens);
  for (const char* after : {"0.05", "0.2", "0.5"}) {
    fs::remove(tokens);
    const std::string cmd = "timeout -s TERM " + std::string(after) + " " + test::loupe_binary() + " eval " + m +
                            " --data " + data + " --tokens-out " + tokens + " >/dev/null 2>&1";
    [[maybe_unused]] const int status = std::system(cmd.c_str());
    if (fs::exists(tokens)) {
      EXPECT_EQ(test::read_file(tokens), whole) << "after " << after;
    }
    EXPECT_FALSE(fs::exists(tokens + ".partial")) << "after " << after;
  }
}

// trace refuses a directory that holds anything unless --force (which empties it), and writes
// index.json last: a failed run never leaves an index describing tensors that are not there.
TEST_F(BadInput, TraceNeverLeavesAStaleIndex) {
  const std::string m = shared(kStories);
  const std::string out = dir_ + "/trace";
  ASSERT_EQ(run_loupe("trace " + m + " -p 'Once upon a time' --hook 'blocks.*.hook_resid_post' -o " + out).exit_code,
            0);
  ASSERT_TRUE(fs::exists(out + "/index.json"));
  const std::string old_index = test::read_file(out + "/index.json");
  // Into a directory that holds anything: refused, nothing touched.
  expect_cli_error("trace " + m + " -p 'Once upon a time there was' --hook '*' -o " + out,
                   {"-o " + out + ": directory is not empty; --force empties it first"});
  EXPECT_EQ(test::read_file(out + "/index.json"), old_index);
  expect_cli_error("trace " + m + " -p 'Once' --hook '*' -o " + out + "/index.json",
                   {out + "/index.json: exists and is not a directory"});
  // --force empties it; a run that then fails half way leaves no index.
  const CommandResult r =
      run_limited("trace " + m + " -p 'Once upon a time there was' --hook '*' --force -o " + out, 4, dir_);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_FALSE(fs::exists(out + "/index.json"));
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".partial"), std::string::npos) << e.path();
}

TEST_F(BadInput, LogitsLeavesNoPartialOutput) {
  const std::string m = shared(kStories);
  const std::string out = dir_ + "/logits.npy";
  // Bad input: nothing is written.
  expect_cli_error("logits " + m + " --tokens 1,2,99999 -o " + out, {"out of range"});
  expect_cli_error("logits " + m + " -p \"$(printf '\\377')\" -o " + out, {"invalid UTF-8"});
  expect_cli_error("logits " + dir_ + "/missing.bin --tokens 1 -o " + out, {"no such file"});
  EXPECT_FALSE(fs::exists(out));
  // An existing output survives a failed run untouched.
  write_bytes(out, "previous");
  expect_cli_error("logits " + m + " --tokens 1,2,99999 -o " + out, {"out of range"});
  EXPECT_EQ(test::read_file(out), "previous");
  fs::remove(out);
  // A write that fails half way (a 4 KiB file size limit, SIGXFSZ ignored so write() fails with
  // EFBIG) leaves neither the output nor a temporary file.
  std::string tokens = "1";
  for (int i = 2; i < 30; ++i) {
    tokens += ',';
    tokens += std::to_string(i);
  }
  const std::string err = dir_ + "/stderr.txt";
  const std::string cmd = "sh -c \"trap '' XFSZ; ulimit -f 8; exec " + test::loupe_binary() + " logits " + m +
                          " --tokens " + tokens + " -o " + out + "\" >/dev/null 2>" + err;
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.err = test::read_file(err);
  fs::remove(err);
  expect_error(r, "logits under a file size limit", {out + ": write failed"});
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(fs::is_empty(dir_)) << "a partial file was left in " << dir_;
  // And without the limit the same command works.
  CommandResult ok = run_loupe("logits " + m + " --tokens " + tokens + " -o " + out);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(read_npy(out).shape, (std::vector<int64_t>{29, 512}));
}

}  // namespace
}  // namespace loupe
