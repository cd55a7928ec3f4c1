// `loupe debug` at a terminal (a pseudo-terminal, as a person has): Enter repeats the last step,
// and Ctrl-C stops a long `generate` between ops with the state kept, back at the prompt.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include "test_support.h"

namespace loupe {
namespace {

class Terminal {
 public:
  explicit Terminal(const std::vector<std::string>& args) {
    pid_ = forkpty(&fd_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Terminal() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;
  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  void type(const std::string& line) {
    const std::string s = line + "\r";
    ASSERT_EQ(write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  // Output until `want` appears (or the time runs out); everything read so far is kept.
  bool wait_for(const std::string& want, double seconds = 20) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (out_.find(want, seen_) != std::string::npos) {
        seen_ = out_.find(want, seen_) + want.size();
        return true;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) > 0) {
        char buf[4096];
        const ssize_t n = read(fd_, buf, sizeof buf);
        if (n <= 0) return false;
        out_.append(buf, static_cast<size_t>(n));
      }
    }
    return false;
  }
  const std::string& output() const { return out_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string out_;
  size_t seen_ = 0;
};

TEST(DebuggerTerminal, EnterRepeatsAndCtrlCInterrupts) {
  Terminal t({test::loupe_binary(), "debug", test::shared("models/stories260K/stories260K.bin"), "-p",
              "Once upon a time", "-t", "1", "--ctx", "20000"});
  if (!t.started()) GTEST_SKIP() << "no pseudo-terminals in this environment (forkpty failed)";
  ASSERT_TRUE(t.wait_for("(loupe) ")) << t.output();
  t.type("break resid_pre2");
  t.type("run");
  ASSERT_TRUE(t.wait_for("after op 43")) << t.output();
  t.type("step");
  ASSERT_TRUE(t.wait_for("after op 44")) << t.output();
  t.type("");  // Enter: the step again
  ASSERT_TRUE(t.wait_for("after op 45")) << t.output();
  t.type("delete");
  // BOS and EOS banned: generation runs on toward the 20000-position context; only Ctrl-C ends it soon.
  t.type("edit set logits[:, 1] -inf");
  t.type("edit set logits[:, 2] -inf");
  t.type("generate 100000");
  ASSERT_TRUE(t.wait_for("generate 100000")) << t.output();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  kill(t.pid(), SIGINT);
  ASSERT_TRUE(t.wait_for("interrupted (Ctrl-C)")) << t.output();
  ASSERT_TRUE(t.wait_for("generated ")) << t.output();
  // Still alive, at the prompt, with the run in hand.
  t.type("info tokens");
  ASSERT_TRUE(t.wait_for("(generated)")) << t.output();
  t.type("quit");
}

}  // namespace
}  // namespace loupe
