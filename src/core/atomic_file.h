// Output files that appear whole or not at all: data goes to PATH.partial, which is flushed to
// disk and renamed to PATH on commit() (then the directory is synced). A failed write (disk full,
// the file size limit: SIGXFSZ is ignored so that it fails as a write), an exception before
// commit(), SIGINT, SIGTERM or SIGHUP remove the temporary and leave an existing PATH untouched.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace loupe {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // opens PATH.partial; error names PATH
  ~AtomicFile();                          // removes PATH.partial unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);  // errors are reported by commit()
  void write(std::string_view text) { write(text.data(), text.size()); }
  // Flushes, closes and renames; throws loupe::Error naming PATH on any failure.
  void commit();

 private:
  std::string path_;
  std::string tmp_;
  std::FILE* file_ = nullptr;
  int err_ = 0;    // errno of the first failed write
  int slot_ = -1;  // where the signal handler finds tmp_
  bool committed_ = false;
};

// Writes a whole file atomically (see AtomicFile).
void write_file_atomic(const std::string& path, std::string_view content);

}  // namespace loupe
