// Corpus input: formats, compression, directories, malformed records with line numbers.
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/input.h"
#include "test_support.h"

namespace loupe {
namespace {

using data::Format;
using data::Reader;
using data::Record;

void write(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string gzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string zstd(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

std::vector<Record> read_all(Reader& r) {
  std::vector<Record> out;
  while (r.next_batch(out, 1 << 20)) {
  }
  return out;
}

TEST(DataInput, LinesBlankAndCrLf) {
  const std::string dir = test::temp_dir("data_in");
  write(dir + "/a.txt", "first\r\nsecond\n\nfourth");
  Reader lines({dir + "/a.txt"}, Format::Lines, "text");
  const auto docs = read_all(lines);
  ASSERT_EQ(docs.size(), 4u);
  EXPECT_EQ(docs[0].text, "first");
  EXPECT_EQ(docs[2].text, "");
  EXPECT_EQ(docs[3].text, "fourth");
  EXPECT_EQ(docs[3].line, 4);

  write(dir + "/b.txt", "\n\npara one\nstill one\n  \t\npara two\n\n\n");
  Reader blank({dir + "/b.txt"}, Format::Blank, "text");
  const auto paras = read_all(blank);
  ASSERT_EQ(paras.size(), 2u);
  EXPECT_EQ(paras[0].text, "para one\nstill one");
  EXPECT_EQ(paras[0].line, 3);
  EXPECT_EQ(paras[1].text, "para two");
  EXPECT_EQ(paras[1].line, 6);
  std::filesystem::remove_all(dir);
}

// Records past the reader's limit are skipped while they are read (never held whole), each with
// a problem naming its line and size, in every format; the records around them are intact.
TEST(DataInput, RecordsPastTheLimitAreSkippedAndReported) {
  const std::string dir = test::temp_dir("data_long");
  const std::string big(5000, 'x'), third(600, 'y');
  struct Case {
    Format format;
    std::string file, text;
    std::vector<std::string> want;
    int64_t bad_line;
    uint64_t bad_bytes;
  };
  const std::vector<Case> cases = {
      {Format::Lines, "a.txt", "short\n" + big + "\nafter\n", {"short", "after"}, 2, 5000},
      {Format::Lines, "b.txt", "short\n" + big, {"short"}, 2, 5000},  // at the end, no newline
      {Format::Jsonl,
       "c.jsonl",
       "{\"text\": \"a\"}\n\"" + big + "\"\n{\"text\": \"b\"}\n",
       {"{\"text\": \"a\"}", "{\"text\": \"b\"}"},
       2,
       5002},
      {Format::Blank,
       "d.txt",
       "one\n\n" + third + "\n" + third + "\n" + third + "\n\nthree\n",
       {"one", "three"},
       3,
       1802},
      {Format::Blank, "e.txt", "one\n\n" + big + "\nmore\n\nthree", {"one", "three"}, 3, 5005},
      {Format::Csv, "f.csv", "text\nfirst\n\"" + third + "\n" + third + "\"\nlast\n", {"first", "last"}, 3, 1203},
      {Format::Csv, "g.csv", "text\nfirst\n" + big + "\nlast\n", {"first", "last"}, 3, 5000},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    write(dir + "/" + c.file, c.text);
    Reader r({dir + "/" + c.file}, c.format, "text");
    r.set_max_record_bytes(1000);
    std::vector<std::string> got;
    for (const Record& rec : read_all(r)) got.push_back(rec.text);
    EXPECT_EQ(got, c.want);
    const auto problems = r.take_problems();
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].line, c.bad_line);
    EXPECT_NE(problems[0].message.find("a record of " + std::to_string(c.bad_bytes) + " bytes is longer than the 1000"),
              std::string::npos)
        << problems[0].message;
  }
  // An unterminated quote reads to the end of the file, line by line: skipped, not quadratic.
  std::string open_quote = "text\nfirst\n\"never closed\n";
  for (int i = 0; i < 20000; ++i) open_quote += "line of the runaway field\n";
  write(dir + "/h.csv", open_quote);
  Reader r({dir + "/h.csv"}, Format::Csv, "text");
  r.set_max_record_bytes(1000);
  const auto docs = read_all(r);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, "first");
  EXPECT_EQ(r.take_problems().size(), 1u);
  std::filesystem::remove_all(dir);
}

TEST(DataInput, GzipAndZstdAreReadByContent) {
  const std::string dir = test::temp_dir("data_gz");
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "line " + std::to_string(i) + "\n";
  write(dir + "/a.txt.gz", gzip(text.substr(0, 100)) + gzip(text.substr(100)));  // two gzip members
  write(dir + "/b.txt.zst", zstd(text));
  for (const char* name : {"/a.txt.gz", "/b.txt.zst"}) {
    Reader r({dir + name}, Format::Auto, "text");
    const auto docs = read_all(r);
    ASSERT_EQ(docs.size(), 5000u) << name;
    EXPECT_EQ(docs[4321].text, "line 4321");
    EXPECT_GT(r.raw_bytes(), 0u);
  }
  // Truncated compressed data is an error naming the file, not a crash.
  const std::string gz = gzip(text);
  write(dir + "/cut.gz", gz.substr(0, gz.size() / 2));
  Reader cut({dir + "/cut.gz"}, Format::Lines, "text");
  try {
    read_all(cut);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cut.gz: truncated gzip"), std::string::npos) << e.what();
  }
  const std::string zs = zstd(text);
  write(dir + "/cut.zst", zs.substr(0, zs.size() - 5));
  Reader cutz({dir + "/cut.zst"}, Format::Lines, "text");
  EXPECT_THROW(read_all(cutz), Error);
  std::filesystem::remove_all(dir);
}

TEST(DataInput, DirectoriesAreSortedAndSkipHidden) {
  const std::string dir = test::temp_dir("data_dir");
  std::filesystem::create_directories(dir + "/sub");
  std::filesystem::create_directories(dir + "/.git");
  write(dir + "/b.txt", "b\n");
  write(dir + "/a.txt", "a\n");
  write(dir + "/sub/c.txt", "c\n");
  write(dir + "/.hidden", "h\n");
  write(dir + "/.git/x", "x\n");
  const auto files = data::expand_inputs({dir});
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(std::filesystem::path(files[0]).filename(), "a.txt");
  EXPECT_EQ(std::filesystem::path(files[2]).filename(), "c.txt");
  EXPECT_THROW(data::expand_inputs({dir + "/missing"}), Error);
  std::filesystem::remove_all(dir);
}

TEST(DataInput, JsonlExtraction) {
  std::string text, problem;
  EXPECT_TRUE(data::extract_jsonl(R"({"text": "a \"b\"\n", "n": 1})", "text", text, problem));
  EXPECT_EQ(text, "a \"b\"\n");
  EXPECT_TRUE(data::extract_jsonl(R"({"meta": {"body": "deep"}})", "meta.body", text, problem));
  EXPECT_EQ(text, "deep");
  EXPECT_FALSE(data::extract_jsonl(R"({"other": "x"})", "text", text, problem));
  EXPECT_EQ(problem, "missing field 'text'");
  EXPECT_FALSE(data::extract_jsonl(R"({"text": 5})", "text", text, problem));
  EXPECT_EQ(problem, "field 'text' is not a string (number)");
  EXPECT_FALSE(data::extract_jsonl(R"({"text": "unterminated)", "text", text, problem));
  EXPECT_EQ(problem.rfind("invalid JSON", 0), 0u) << problem;
  EXPECT_FALSE(data::extract_jsonl("[1, 2]", "text", text, problem));
  EXPECT_NE(problem.find("not a JSON object"), std::string::npos);
}

TEST(DataInput, CsvColumnsQuotesAndProblems) {
  std::vector<std::string> f;
  std::string problem;
  ASSERT_TRUE(data::split_csv(R"(1,"a, ""quoted"" cell",x)", f, problem));
  EXPECT_EQ(f, (std::vector<std::string>{"1", "a, \"quoted\" cell", "x"}));
  ASSERT_TRUE(data::split_csv("a,,", f, problem));
  EXPECT_EQ(f.size(), 3u);
  EXPECT_FALSE(data::split_csv(R"("a"b,c)", f, problem));

  const std::string dir = test::temp_dir("data_csv");
  write(dir + "/t.csv", "id,text\n1,hello\n2,\"two\nlines\"\n3\n4,\"bad\"x\n5,last\n");
  Reader r({dir + "/t.csv"}, Format::Auto, "text");
  const auto docs = read_all(r);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[1].text, "two\nlines");
  EXPECT_EQ(docs[1].line, 3);
  EXPECT_EQ(docs[2].text, "last");
  EXPECT_EQ(docs[2].line, 7);
  const auto problems = r.take_problems();
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].line, 5);
  EXPECT_NE(problems[0].message.find("no column 'text'"), std::string::npos);
  EXPECT_EQ(problems[1].line, 6);

  write(dir + "/nocol.csv", "id,body\n1,x\n");
  Reader nocol({dir + "/nocol.csv"}, Format::Csv, "text");
  EXPECT_TRUE(read_all(nocol).empty());
  EXPECT_EQ(nocol.take_problems().at(0).line, 1);
  std::filesystem::remove_all(dir);
}

TEST(DataInput, BadArguments) {
  EXPECT_THROW(data::parse_format("xml"), Error);
  EXPECT_THROW(Reader({"/nonexistent/file.txt"}, Format::Lines, "text"), Error);
}

}  // namespace
}  // namespace loupe
