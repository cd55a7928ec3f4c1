// Hostile variants of a model file for the mutation tests: GGUF files with lies in their counts,
// types, offsets and metadata values (found by walking the file's own structure), flipped bits
// in the header, truncations; llama2.c checkpoints with flipped header fields. Each variant is
// run through `info`, `logits` and `generate`, which must either work or end with exit code 1,
// one "error: " line naming the file, and no output file — never a signal, a sanitizer report or
// a hang.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "test_support.h"

namespace loupe::test {

// One change to the original file: a field overwritten (width bytes at offset), one bit
// flipped, or the file cut short. Made into bytes only when run (thousands of copies of a
// megabyte file would cost more than running them).
struct Mutant {
  std::string what;  // how it was made, for failure messages
  size_t offset = 0;
  size_t width = 0;  // 4 or 8: write value; 0: no field
  uint64_t value = 0;
  int flip_bit = -1;               // >= 0: flip this bit of the byte at offset
  size_t cut = std::string::npos;  // keep this many bytes

  std::string apply(const std::string& original) const {
    std::string b = original.substr(0, std::min(cut, original.size()));
    if (width > 0) std::memcpy(b.data() + offset, &value, width);  // little-endian hosts only, as loupe
    if (flip_bit >= 0) b[offset] = static_cast<char>(b[offset] ^ (1 << flip_bit));
    return b;
  }
};

// A field of a GGUF file that a mutation may lie in.
struct GgufField {
  enum Kind { Count, Type, Offset, Scalar32, Float32 } kind;
  size_t offset;  // byte offset in the file
  size_t width;   // 4 or 8
  std::string what;
};

struct GgufLayout {
  std::vector<GgufField> fields;
  size_t header_end = 0;  // end of the tensor infos (the data follows, after alignment)
};

// Walks a well-formed GGUF v2/v3 file (the shared ones) and lists its mutable fields.
inline GgufLayout gguf_layout(const std::string& b) {
  GgufLayout l;
  size_t pos = 0;
  const auto u32 = [&] {
    uint32_t v = 0;
    std::memcpy(&v, b.data() + pos, 4);
    pos += 4;
    return v;
  };
  const auto u64 = [&] {
    uint64_t v = 0;
    std::memcpy(&v, b.data() + pos, 8);
    pos += 8;
    return v;
  };
  const auto field = [&](GgufField::Kind kind, size_t width, const std::string& what) {
    l.fields.push_back({kind, pos, width, what});
  };
  const auto string = [&](const std::string& what) {
    field(GgufField::Count, 8, what + " length");
    pos += u64();
  };
  pos = 8;  // magic, version
  field(GgufField::Count, 8, "n_tensors");
  const uint64_t n_tensors = u64();
  field(GgufField::Count, 8, "n_kv");
  const uint64_t n_kv = u64();
  const auto scalar_size = [](uint32_t type) -> size_t {
    switch (type) {
      case 0:
      case 1:
      case 7: return 1;
      case 2:
      case 3: return 2;
      case 4:
      case 5:
      case 6: return 4;
      case 10:
      case 11:
      case 12: return 8;
      default: return 0;
    }
  };
  for (uint64_t k = 0; k < n_kv; ++k) {
    const size_t key_at = pos;
    string("kv " + std::to_string(k) + " key");
    const std::string key = b.substr(key_at + 8, pos - key_at - 8);
    field(GgufField::Type, 4, key + " type");
    const uint32_t type = u32();
    if (type == 8) {
      string(key);
    } else if (type == 9) {
      field(GgufField::Type, 4, key + " element type");
      const uint32_t et = u32();
      field(GgufField::Count, 8, key + " array length");
      const uint64_t n = u64();
      for (uint64_t i = 0; i < n; ++i) {
        if (et == 8) {
          if (i < 4) {
            string(key + "[" + std::to_string(i) + "]");
          } else {
            pos += 8 + [&] {
              uint64_t v;
              std::memcpy(&v, b.data() + pos, 8);
              return v;
            }();
          }
        } else {
          pos += scalar_size(et);
        }
      }
    } else {
      if (type == 4 || type == 5) field(GgufField::Scalar32, 4, key);
      if (type == 6) field(GgufField::Float32, 4, key);
      pos += scalar_size(type);
    }
  }
  for (uint64_t t = 0; t < n_tensors; ++t) {
    const size_t name_at = pos;
    string("tensor " + std::to_string(t) + " name");
    const std::string name = b.substr(name_at + 8, pos - name_at - 8);
    field(GgufField::Count, 4, name + " n_dims");
    const uint32_t n_dims = u32();
    for (uint32_t d = 0; d < n_dims; ++d) {
      field(GgufField::Count, 8, name + " dim " + std::to_string(d));
      pos += 8;
    }
    field(GgufField::Type, 4, name + " type");
    pos += 4;
    field(GgufField::Offset, 8, name + " offset");
    pos += 8;
  }
  l.header_end = pos;
  return l;
}

inline uint64_t peek(const std::string& b, size_t offset, size_t width) {
  uint64_t v = 0;
  std::memcpy(&v, b.data() + offset, width);
  return v;
}

// Adds n truncations at random lengths, then shuffles the list.
inline void add_cuts_and_shuffle(std::vector<Mutant>& out, size_t size, int n, std::mt19937_64& rng) {
  for (int i = 0; i < n; ++i) {
    Mutant m;
    m.cut = rng() % size;
    m.what = "cut to " + std::to_string(m.cut) + " bytes";
    out.push_back(std::move(m));
  }
  std::shuffle(out.begin(), out.end(), rng);
}

// Every lie the layout allows, plus bit flips in the header and truncations, shuffled by seed.
inline std::vector<Mutant> gguf_mutants(const std::string& original, unsigned seed) {
  const GgufLayout l = gguf_layout(original);
  std::vector<Mutant> out;
  const auto add = [&](const GgufField& f, uint64_t v, const std::string& how) {
    if (v == peek(original, f.offset, f.width)) return;
    Mutant m;
    m.what = f.what + " " + how;
    m.offset = f.offset;
    m.width = f.width;
    m.value = v;
    out.push_back(std::move(m));
  };
  for (const GgufField& f : l.fields) {
    const uint64_t was = peek(original, f.offset, f.width);
    const uint64_t all = f.width == 8 ? std::numeric_limits<uint64_t>::max() : 0xFFFFFFFFull;
    switch (f.kind) {
      case GgufField::Count:
        for (uint64_t v :
             {uint64_t{0}, uint64_t{1}, was + 1, was - 1, all, all >> 1, uint64_t{1} << 31, uint64_t{1} << 40})
          add(f, v & all, "= " + std::to_string(v & all));
        break;
      case GgufField::Type:
        for (uint64_t v :
             {was ^ 1, uint64_t{2}, uint64_t{8}, uint64_t{12}, uint64_t{30}, uint64_t{39}, uint64_t{1000}, all})
          add(f, v & all, "= " + std::to_string(v & all));
        break;
      case GgufField::Offset:
        for (uint64_t v : {was + 1, was + 32, uint64_t{0}, static_cast<uint64_t>(original.size()), all})
          add(f, v, "= " + std::to_string(v));
        break;
      case GgufField::Scalar32:
        for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{0x7FFFFFFF}, uint64_t{0x80000000}, all, was * 2})
          add(f, v & all, "= " + std::to_string(v & all));
        break;
      case GgufField::Float32:
        for (float x :
             {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 0.0f, -1.0f, 1e30f}) {
          uint32_t v = 0;
          std::memcpy(&v, &x, 4);
          add(f, v, "= " + std::to_string(x));
        }
        break;
    }
  }
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 200; ++i) {
    Mutant m;
    m.offset = rng() % l.header_end;
    m.flip_bit = static_cast<int>(rng() % 8);
    m.what = "bit " + std::to_string(m.flip_bit) + " of byte " + std::to_string(m.offset) + " flipped";
    out.push_back(std::move(m));
  }
  add_cuts_and_shuffle(out, original.size(), 40, rng);
  return out;
}

// llama2.c checkpoints: each int32 of the 7-field header (and the v1 export's) set to lies,
// random flips in the header, truncations.
inline std::vector<Mutant> llama2c_mutants(const std::string& original, unsigned seed) {
  std::vector<Mutant> out;
  for (size_t field = 0; field < 7; ++field) {
    const uint64_t was = peek(original, field * 4, 4);
    for (uint64_t v : {uint64_t{0}, uint64_t{1}, was + 1, was * 2, uint64_t{0x7FFFFFFF}, uint64_t{0x80000000},
                       uint64_t{0xFFFFFFFF}, uint64_t{0xFFFFFF00}}) {
      if ((v & 0xFFFFFFFF) == was) continue;
      Mutant m;
      m.what = "header int " + std::to_string(field) + " = " + std::to_string(static_cast<int32_t>(v));
      m.offset = field * 4;
      m.width = 4;
      m.value = v & 0xFFFFFFFF;
      out.push_back(std::move(m));
    }
  }
  std::mt19937_64 rng(seed);
  add_cuts_and_shuffle(out, original.size(), 30, rng);
  return out;
}

struct MutantRun {
  int exit_code = 0;
  std::string err;
};

// Runs loupe with a time limit (a hang shows as exit code 124).
inline MutantRun run_limited(const std::string& args, const std::string& dir, int seconds) {
  const std::string err_path = dir + "/stderr.txt";
  const std::string cmd =
      "timeout -k 5 " + std::to_string(seconds) + " " + loupe_binary() + " " + args + " >/dev/null 2>" + err_path;
  const int status = std::system(cmd.c_str());
  MutantRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.err = read_file(err_path);
  std::filesystem::remove(err_path);
  return r;
}

// Writes the mutant as `path` and runs info, logits and generate on it. Returns false (after
// recording the failure) when any of them misbehaved.
inline bool check_mutant(const std::string& original, const Mutant& m, const std::string& path,
                         const std::string& dir) {
  {
    const std::string bytes = m.apply(original);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  const std::string npy = dir + "/logits.npy";
  std::filesystem::remove(npy);
  const std::vector<std::string> commands = {"info " + path, "logits " + path + " -p 'Once upon a time' -o " + npy,
                                             "generate " + path + " -p 'Once' -n 4 --temp 0"};
  for (const std::string& c : commands) {
    const MutantRun r = run_limited(c, dir, 60);
    const std::string where = m.what + ": loupe " + c + "\nexit " + std::to_string(r.exit_code) + ", stderr: " + r.err;
    bool ok = r.exit_code == 0 || r.exit_code == 1;
    ok = ok && r.err.find("AddressSanitizer") == std::string::npos &&
         r.err.find("runtime error") == std::string::npos && r.err.find("internal error") == std::string::npos;
    if (r.exit_code == 1) {
      // Warnings may come first; the last line is the error, and it names the file.
      std::string last = r.err;
      while (!last.empty() && last.back() == '\n') last.pop_back();
      last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
      ok = ok && last.rfind("error: ", 0) == 0 && last.find(path) != std::string::npos;
      if (c.rfind("logits", 0) == 0) ok = ok && !std::filesystem::exists(npy);
    }
    if (r.exit_code == 0 && c.rfind("logits", 0) == 0) ok = ok && std::filesystem::exists(npy);
    EXPECT_TRUE(ok) << where;
    if (!ok) return false;
    if (r.exit_code == 1) break;  // the same load would fail again the same way
  }
  return true;
}

}  // namespace loupe::test
