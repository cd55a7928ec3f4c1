#include "test_support.h"

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
