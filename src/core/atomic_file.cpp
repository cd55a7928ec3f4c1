// AtomicFile: write to PATH.partial, rename on commit.
#include "core/atomic_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace loupe {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".partial") {
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (file_ == nullptr) fail(path_, ": cannot open for writing: ", std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) std::remove(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t bytes) {
  if (err_ != 0 || bytes == 0) return;
  errno = 0;
  if (std::fwrite(data, 1, bytes, file_) != bytes) err_ = errno != 0 ? errno : EIO;
}

void AtomicFile::commit() {
  LOUPE_ASSERT(!committed_ && file_ != nullptr, path_, ": committed twice");
  errno = 0;
  if (err_ == 0 && std::fflush(file_) != 0) err_ = errno != 0 ? errno : EIO;
  if (std::fclose(file_) != 0 && err_ == 0) err_ = errno != 0 ? errno : EIO;
  file_ = nullptr;
  if (err_ != 0) fail(path_, ": write failed: ", std::strerror(err_));
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  if (ec) fail(path_, ": cannot rename ", tmp_, ": ", ec.message());
  committed_ = true;
}

void write_file_atomic(const std::string& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

}  // namespace loupe
