// The corpus reader: plain lines, blank-separated, JSONL and CSV (by the first byte), gzip and
// zstd detected from the content; records, JSON field extraction and CSV splitting.
#include <vector>

#include "data/input.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using loupe::data::Format;
  const Format formats[] = {Format::Lines, Format::Blank, Format::Jsonl, Format::Csv};
  const Format format = formats[data[0] % 4];
  const std::string path = loupe::fuzz::scratch_file("corpus.txt", data + 1, size - 1);
  loupe::fuzz::expect_clean([&] {
    loupe::data::Reader reader({path}, format, data[0] & 4 ? "text" : "a.b");
    std::vector<loupe::data::Record> records;
    while (reader.next_batch(records, 1 << 16)) {
      for (const auto& r : records) {
        std::string text, problem;
        if (format == Format::Jsonl) (void)loupe::data::extract_jsonl(r.text, reader.field(), text, problem);
      }
      records.clear();
    }
    (void)reader.take_problems();
  });
  std::vector<std::string> fields;
  std::string problem;
  (void)loupe::data::split_csv(std::string_view(reinterpret_cast<const char*>(data), size), fields, problem);
  return 0;
}
