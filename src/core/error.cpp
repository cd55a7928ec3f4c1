#include "core/error.h"

#include <cstdio>
#include <cstdlib>

namespace loupe {

void assert_failed(const char* cond, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "loupe: internal error: %s:%d: assertion '%s' failed: %s\n", file, line, cond, msg.c_str());
  std::abort();
}

}  // namespace loupe
