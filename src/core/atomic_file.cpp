// AtomicFile: write to PATH.partial, fsync, rename on commit, fsync the directory.
#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "core/error.h"

namespace loupe {
namespace {

// The temporaries being written, for the signal handler: fixed slots, so that the handler only
// reads memory and calls unlink (both async-signal-safe). A slot is published (state 2) only
// once its path is written.
constexpr int kSlots = 64;
constexpr size_t kPathBytes = 4096;
struct Slot {
  std::atomic<int> state{0};  // 0 free, 1 being filled, 2 live
  char path[kPathBytes];
};
Slot g_slots[kSlots];

extern "C" void remove_partials_and_reraise(int sig) {
  for (Slot& s : g_slots)
    if (s.state.load(std::memory_order_acquire) == 2) ::unlink(s.path);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// Once per process: SIGINT, SIGTERM and SIGHUP remove the live temporaries before the process
// ends as it would have (where nobody else handles them: a handler already installed, such as
// the debugger's Ctrl-C, is kept); SIGXFSZ is ignored, so a write past the file size limit fails
// with EFBIG, which commit() reports, instead of killing the process with the temporary left.
void install_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::signal(SIGXFSZ, SIG_IGN);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction old {};
      if (sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) continue;
      struct sigaction sa {};
      sa.sa_handler = remove_partials_and_reraise;
      sigemptyset(&sa.sa_mask);
      sigaction(sig, &sa, nullptr);
    }
  });
}

int claim_slot(const std::string& tmp) {
  if (tmp.size() >= kPathBytes) return -1;  // written as usual, only not removed on a signal
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (g_slots[i].state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
      std::memcpy(g_slots[i].path, tmp.c_str(), tmp.size() + 1);
      g_slots[i].state.store(2, std::memory_order_release);
      return i;
    }
  }
  return -1;
}

void release_slot(int i) {
  if (i >= 0) g_slots[i].state.store(0, std::memory_order_release);
}

// Makes the rename durable: the directory entry is flushed too (best effort: some file systems
// refuse fsync on directories).
void sync_directory(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".partial") {
  install_handlers();
  // A .partial left by a run that was killed outright (SIGKILL, power loss) is replaced here.
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (file_ == nullptr) fail(path_, ": cannot open for writing: ", std::strerror(errno));
  slot_ = claim_slot(tmp_);
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) std::remove(tmp_.c_str());
  release_slot(slot_);
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
  if (err_ == 0 && ::fsync(fileno(file_)) != 0 && errno != EINVAL) err_ = errno != 0 ? errno : EIO;
  if (std::fclose(file_) != 0 && err_ == 0) err_ = errno != 0 ? errno : EIO;
  file_ = nullptr;
  if (err_ != 0) fail(path_, ": write failed: ", std::strerror(err_));
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  if (ec) fail(path_, ": cannot rename ", tmp_, ": ", ec.message());
  committed_ = true;
  release_slot(slot_);
  slot_ = -1;
  sync_directory(path_);
}

void write_file_atomic(const std::string& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

}  // namespace loupe
