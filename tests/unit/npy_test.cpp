// .npy files: write_npy_f32 / write_npy_i32 produce exactly what NumPy's format 1.0 rules say
// (magic, version, little-endian header length, a Python dict literal padded with spaces so the
// data starts at a multiple of 64, ending in '\n'); read_npy reads them back and the files NumPy
// writes (versions 1.0-3.0), and refuses malformed ones with the file and offset in the message.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/npy.h"
#include "test_support.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;

// A .npy file from its parts: header text (padded here unless `pad` is false) and raw data.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1, bool pad = true) {
  std::string header = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  if (pad) {
    header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
    header.push_back('\n');
  }
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  if (major == 1) {
    const uint16_t n = static_cast<uint16_t>(header.size());
    out.append(reinterpret_cast<const char*>(&n), 2);
  } else {
    const uint32_t n = static_cast<uint32_t>(header.size());
    out.append(reinterpret_cast<const char*>(&n), 4);
  }
  return out + header + data;
}

template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

class NpyTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::temp_dir("npy"); }
  void TearDown() override { fs::remove_all(dir_); }

  std::string put(const std::string& bytes, const std::string& name = "a.npy") {
    const std::string path = dir_ + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  // read_npy must fail with a message starting with the path and containing every part.
  void expect_error(const std::string& bytes, const std::vector<std::string>& parts) {
    const std::string path = put(bytes, "bad.npy");
    try {
      read_npy(path);
      ADD_FAILURE() << "read without an error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
      for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    }
  }

  std::string dir_;
};

TEST_F(NpyTest, F32RoundTripOneToFourDims) {
  const std::vector<std::vector<int64_t>> shapes = {{5}, {2, 3}, {2, 3, 4}, {1, 2, 3, 4}, {7, 1}, {3, 0}, {}};
  const std::vector<std::string> texts = {"(5,)", "(2, 3)", "(2, 3, 4)", "(1, 2, 3, 4)", "(7, 1)", "(3, 0)", "()"};
  for (size_t s = 0; s < shapes.size(); ++s) {
    SCOPED_TRACE(texts[s]);
    size_t n = 1;
    for (int64_t d : shapes[s]) n *= static_cast<size_t>(d);
    std::vector<float> data(n);
    for (size_t i = 0; i < n; ++i) data[i] = static_cast<float>(i) * 0.5f - 3.0f;
    if (n > 1) data[1] = -0.0f;
    const std::string path = dir_ + "/rt.npy";
    write_npy_f32(path, data.data(), shapes[s]);
    EXPECT_FALSE(fs::exists(path + ".partial"));

    // The bytes, by NumPy's format 1.0 rules.
    const std::string f = test::read_file(path);
    ASSERT_GE(f.size(), 10u);
    EXPECT_EQ(f.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
    const size_t hlen = static_cast<uint8_t>(f[8]) | (static_cast<size_t>(static_cast<uint8_t>(f[9])) << 8);
    EXPECT_EQ((10 + hlen) % 64, 0u);
    ASSERT_EQ(f.size(), 10 + hlen + 4 * n);
    const std::string header = f.substr(10, hlen);
    const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + texts[s] + ", }";
    EXPECT_EQ(header.substr(0, dict.size()), dict);
    EXPECT_EQ(header.back(), '\n');
    EXPECT_EQ(header.find_first_not_of(' ', dict.size()), hlen - 1);  // spaces, then '\n'
    EXPECT_EQ(f.substr(10 + hlen), raw(data));

    NpyArray a = read_npy(path);
    EXPECT_EQ(a.shape, shapes[s]);
    ASSERT_EQ(a.data.size(), n);
    if (n > 0) {
      EXPECT_EQ(std::memcmp(a.data.data(), data.data(), n * 4), 0);
    }
  }
}

TEST_F(NpyTest, ExactBytesOfASmallArray) {
  // What numpy.save writes for np.arange(6, dtype='<f4').reshape(2, 3).
  std::vector<float> v = {0, 1, 2, 3, 4, 5};
  const std::string path = dir_ + "/x.npy";
  write_npy_f32(path, v.data(), {2, 3});
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string want("\x93NUMPY\x01\x00\x76\x00", 10);  // header length 118: data at 128
  want += dict;
  want.append(118 - 1 - dict.size(), ' ');
  want += "\n";
  want += raw(v);
  EXPECT_EQ(test::read_file(path), want);
}

TEST_F(NpyTest, I32RoundTrip) {
  std::vector<int32_t> v = {-7, 0, 1 << 20, 42};
  const std::string path = dir_ + "/i.npy";
  write_npy_i32(path, v.data(), {2, 2});
  const std::string f = test::read_file(path);
  EXPECT_NE(f.find("'descr': '<i4'"), std::string::npos);
  NpyArray a = read_npy(path);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a.data, (std::vector<float>{-7, 0, 1 << 20, 42}));
}

TEST_F(NpyTest, ReadsWhatNumpyWrites) {
  // f8 and i8, version 2.0 and 3.0 headers, double quotes, other key orders, no trailing comma.
  {
    NpyArray a = read_npy(put(npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                                        raw(std::vector<double>{0.25, -1e10, 3}))));
    EXPECT_EQ(a.shape, (std::vector<int64_t>{3}));
    EXPECT_EQ(a.data, (std::vector<float>{0.25f, -1e10f, 3.0f}));
  }
  {
    NpyArray a = read_npy(put(npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }",
                                        raw(std::vector<int64_t>{-5, int64_t(1) << 40}), 2)));
    EXPECT_EQ(a.shape, (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(a.data, (std::vector<float>{-5.0f, 1099511627776.0f}));
  }
  {
    NpyArray a = read_npy(put(npy_bytes("{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f4\"}",
                                        raw(std::vector<float>{1, 2}), 3)));
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2}));
    EXPECT_EQ(a.data, (std::vector<float>{1, 2}));
  }
  {
    // Older NumPy padded to 16 bytes only.
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
    dict.append((16 - (10 + dict.size() + 1) % 16) % 16, ' ');
    dict += "\n";
    NpyArray a = read_npy(put(npy_bytes(dict, raw(std::vector<float>{9}), 1, false)));
    EXPECT_EQ(a.data, (std::vector<float>{9}));
  }
}

TEST_F(NpyTest, MalformedFiles) {
  const std::string ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string two = raw(std::vector<float>{1, 2});
  expect_error("", {"magic at offset 0: unexpected end of file"});
  expect_error("\x93NUMP", {"magic at offset 0: unexpected end of file"});
  expect_error(std::string("PK\x03\x04") + std::string(60, '\0'), {"not a .npy file"});
  {
    std::string f = npy_bytes(ok_dict, two);
    f[6] = 0;
    expect_error(f, {"version at offset 6", "unsupported .npy format version 0.0"});
    f[6] = 4;
    expect_error(f, {"unsupported .npy format version 4.0"});
  }
  {
    std::string f = npy_bytes(ok_dict, two);
    f[8] = '\xff';
    f[9] = '\xff';  // header length 65535, past the end
    expect_error(f, {"header at offset 10: unexpected end of file"});
    expect_error(f.substr(0, 9), {"header length at offset 8: unexpected end of file"});
  }
  expect_error(npy_bytes("[1, 2]", two), {"header at offset 10: expected '{'"});
  expect_error(npy_bytes("{'fortran_order': False, 'shape': (2,), }", two), {"header has no 'descr'"});
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, }", two), {"header has no 'shape'"});
  expect_error(npy_bytes("{'descr': '<f4', 'shape': (2,), }", two), {"header has no 'fortran_order'"});
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", two),
               {"fortran_order arrays are not supported"});
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", two),
               {"'fortran_order' must be True or False"});
  expect_error(npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", two),
               {"unsupported dtype '>f4'"});
  expect_error(npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (8,), }", two),
               {"unsupported dtype '|u1'"});
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", two),
               {"header at offset 61: 'shape' must be a tuple of non-negative integers"});
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", two),
               {"'shape' must be a tuple of non-negative integers"});
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", two),
               {"expected ',' or ')' in 'shape'"});
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2199023255552,), }", two),
               {"absurd dimension"});
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824, 1073741824), }", two),
               {"more than 2^40 elements"});
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1, }", two),
               {"unexpected key 'extra'"});
  expect_error(npy_bytes("{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", two), {"header at offset"});
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk", two),
               {"unexpected text after the dictionary"});
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", two), {"header at offset"});
  // Data shorter or longer than the shape says.
  expect_error(npy_bytes(ok_dict, two.substr(0, 7)),
               {"array data at offset 128: unexpected end of file", "needs 8 bytes, 7 left"});
  expect_error(npy_bytes(ok_dict, two + "xyz"), {"3 bytes after the array data", "needs 8 bytes from offset 128"});
}

TEST_F(NpyTest, EveryTruncationIsAnError) {
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  const std::string path = dir_ + "/full.npy";
  write_npy_f32(path, v.data(), {3, 2});
  const std::string full = test::read_file(path);
  for (size_t n = 0; n < full.size(); ++n) {
    const std::string p = put(full.substr(0, n), "cut.npy");
    EXPECT_THROW(read_npy(p), Error) << n << " bytes";
  }
}

TEST_F(NpyTest, WriteErrorsNameThePathAndLeaveNothing) {
  const std::string path = dir_ + "/no/such/dir/x.npy";
  std::vector<float> v(4);
  try {
    write_npy_f32(path, v.data(), {4});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path + ": cannot open for writing", 0), 0u) << e.what();
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(NpyTest, FailedWriteLeavesNoPartialFile) {
  // A child with a 4 KiB file size limit (SIGXFSZ ignored, so write() fails with EFBIG)
  // writes 40 KB: the write must fail with an Error and leave neither the file nor its temp.
  const std::string path = dir_ + "/big.npy";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim {
      4096, 4096
    };
    setrlimit(RLIMIT_FSIZE, &lim);
    std::vector<float> v(10000, 1.0f);
    int code = 10;
    try {
      write_npy_f32(path, v.data(), {100, 100});
    } catch (const Error& e) {
      const std::string msg = e.what();
      code = msg.rfind(path + ": write failed", 0) == 0 ? 0 : 11;
    }
    if (code == 0 && (fs::exists(path) || fs::exists(path + ".partial"))) code = 12;
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: no error, 11: wrong message, 12: a file was left";
}

}  // namespace
}  // namespace loupe
