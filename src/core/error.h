// Errors: expected failures (bad file, bad argument) are loupe::Error values carrying a precise,
// lower-case message that names the file / field / offset. They are thrown by library code and
// caught at the command boundary (tools/, the REPL), which prints them and exits non-zero.
// Programmer errors are LOUPE_ASSERT, which stays on in release builds.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace loupe {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Concatenates its arguments with operator<< (g++ 12 has no std::format).
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(cat(args...));
}

[[noreturn]] void assert_failed(const char* cond, const char* file, int line, const std::string& msg);

}  // namespace loupe

#define LOUPE_ASSERT(cond, ...)                                                                \
  do {                                                                                         \
    if (!(cond)) ::loupe::assert_failed(#cond, __FILE__, __LINE__, ::loupe::cat(__VA_ARGS__)); \
  } while (0)
