#include "test_support.h"
#include <algorithm>
#include <cmath>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace loupe::test {

std::vector<Isa> vector_tiers() {
  std::vector<Isa> tiers;
  for (Isa i : kAllIsas)
    if (i != Isa::Scalar && cpu_supports(i)) tiers.push_back(i);
  return tiers;
}

std::string shared_dir() {
  const char* env = std::getenv("LOUPE_SHARED_DIR");
  if (env != nullptr && *env != '\0') return env;
  return LOUPE_DEFAULT_SHARED_DIR;
}

std::string shared(const std::string& rel) {
  return shared_dir() + "/" + rel;
}

std::string loupe_binary() {
  return LOUPE_BINARY;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<float> read_f32(const std::string& path) {
  std::string bytes = read_file(path);
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

LogitsGap logits_gap(const std::vector<float>& a, const std::vector<float>& b, int64_t V) {
  LogitsGap g;
  for (size_t r = 0; r < a.size() / static_cast<size_t>(V); ++r) {
    const float* x = a.data() + r * static_cast<size_t>(V);
    const float* y = b.data() + r * static_cast<size_t>(V);
    for (int64_t j = 0; j < V; ++j) g.max_abs = std::max(g.max_abs, static_cast<double>(std::fabs(x[j] - y[j])));
    if (std::max_element(x, x + V) - x != std::max_element(y, y + V) - y) ++g.argmax_mismatches;
  }
  return g;
}

std::string temp_dir(const std::string& tag) {
  std::string templ = (std::filesystem::temp_directory_path() / ("loupe-" + tag + "-XXXXXX")).string();
  if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return templ;
}

CommandResult run_loupe(const std::string& args) {
  std::string dir = temp_dir("cmd");
  std::string out_path = dir + "/out";
  std::string err_path = dir + "/err";
  std::string cmd = loupe_binary() + " " + args + " >" + out_path + " 2>" + err_path;
  int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  std::filesystem::remove_all(dir);
  return r;
}

}  // namespace loupe::test
