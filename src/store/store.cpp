#include "store/store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>

#include "core/error.h"

namespace loupe::store {
namespace {

// ---- hashing --------------------------------------------------------------------------------

// Four 64-bit lanes, each taking every fourth 8-byte word through a multiply-rotate round, folded
// with the length at the end: fast (a few GB/s), not cryptographic (it tells files apart, it
// does not defend against a forger).
class Hasher {
 public:
  void update(const uint8_t* p, size_t n) {
    total_ += n;
    if (fill_ > 0) {
      const size_t take = std::min(n, sizeof(buf_) - fill_);
      std::memcpy(buf_ + fill_, p, take);
      fill_ += take;
      p += take;
      n -= take;
      if (fill_ == sizeof(buf_)) {
        stripe(buf_);
        fill_ = 0;
      }
    }
    for (; n >= sizeof(buf_); p += sizeof(buf_), n -= sizeof(buf_)) stripe(p);
    std::memcpy(buf_, p, n);
    fill_ = n;
  }
  uint64_t digest() const {
    uint64_t h = total_ * kM1;
    for (uint64_t v : lane_) h = mix(h ^ mix(v));
    for (size_t i = 0; i < fill_; ++i) h = (h ^ buf_[i]) * kM2;
    return mix(h);
  }

 private:
  static constexpr uint64_t kM1 = 0x9E3779B185EBCA87ULL;
  static constexpr uint64_t kM2 = 0xC2B2AE3D27D4EB4FULL;
  static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
  static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= kM2;
    x ^= x >> 29;
    x *= kM1;
    return x ^ (x >> 32);
  }
  void stripe(const uint8_t* p) {
    for (int i = 0; i < 4; ++i) {
      uint64_t w = 0;
      std::memcpy(&w, p + 8 * i, 8);
      lane_[i] = rotl(lane_[i] + w * kM2, 31) * kM1;
    }
  }
  uint64_t lane_[4] = {kM1, kM2, kM1 ^ kM2, kM1 + kM2};
  uint8_t buf_[32] = {};
  size_t fill_ = 0;
  uint64_t total_ = 0;
};

uint64_t hash_file(const std::string& path, Hasher& h) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot read it to hash it");
  std::vector<char> buf(size_t{1} << 20);
  uint64_t n = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = static_cast<size_t>(in.gcount());
    h.update(reinterpret_cast<const uint8_t*>(buf.data()), got);
    n += got;
  }
  return n;
}

std::string hex64(uint64_t v) {
  char s[17];
  std::snprintf(s, sizeof s, "%016llx", static_cast<unsigned long long>(v));
  return s;
}

std::string run_capture(const std::string& cmd, int* status) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) {
    *status = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  *status = pclose(f);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// ---- metrics --------------------------------------------------------------------------------

void flatten(const nlohmann::ordered_json& v, const std::string& prefix, std::map<std::string, double>& out) {
  if (v.is_number()) {
    out[prefix] = v.get<double>();
  } else if (v.is_boolean()) {
    out[prefix] = v.get<bool>() ? 1.0 : 0.0;
  } else if (v.is_object()) {
    for (const auto& [k, x] : v.items()) flatten(x, prefix.empty() ? k : prefix + "." + k, out);
  } else if (v.is_array()) {
    // Plain number arrays (histograms, percentile tables, token ids) are left out; arrays of
    // objects (hooks, layers, tests) are kept by index, the first 4096.
    const bool plain = std::all_of(v.begin(), v.end(), [](const auto& x) { return x.is_number() || x.is_null(); });
    if (plain) return;
    const size_t n = std::min<size_t>(v.size(), 4096);
    for (size_t i = 0; i < n; ++i)
      flatten(v[i], prefix.empty() ? std::to_string(i) : prefix + "." + std::to_string(i), out);
  }
}

}  // namespace

bool indexed_figure(const std::string& path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('.', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (!part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return true;
    start = end + 1;
  }
  return false;
}

namespace {

// ---- SQLite ---------------------------------------------------------------------------------

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql, const std::string& path) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) fail(path, ": ", sqlite3_errmsg(db));
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, double v) {
    if (std::isfinite(v))
      sqlite3_bind_double(s_, i, v);
    else
      sqlite3_bind_null(s_, i);
    return *this;
  }
  // True while there is a row.
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(path_, ": ", sqlite3_errmsg(db_));
  }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::string text(int c) const {
    const unsigned char* t = sqlite3_column_text(s_, c);
    return t == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(t));
  }
  int64_t integer(int c) const { return sqlite3_column_int64(s_, c); }
  double real(int c) const {
    return sqlite3_column_type(s_, c) == SQLITE_NULL ? std::nan("") : sqlite3_column_double(s_, c);
  }

 private:
  sqlite3* db_;
  const std::string& path_;
  sqlite3_stmt* s_ = nullptr;
};

constexpr const char* kRunColumns =
    "id, time, command, args, label, models, model_hashes, model_format, git_commit, git_branch, git_dirty, host, "
    "cpu, isa, threads, version, seconds, result";

Run read_run(const Stmt& s) {
  Run r;
  r.id = s.integer(0);
  r.time = s.text(1);
  r.command = s.text(2);
  r.args = nlohmann::ordered_json::parse(s.text(3), nullptr, false);
  r.label = s.text(4);
  const auto models = nlohmann::json::parse(s.text(5), nullptr, false);
  if (models.is_array())
    for (const auto& m : models) r.models.push_back(m.is_string() ? m.get<std::string>() : "");
  const auto hashes = nlohmann::json::parse(s.text(6), nullptr, false);
  if (hashes.is_array())
    for (const auto& h : hashes) r.model_hashes.push_back(h.is_string() ? h.get<std::string>() : "");
  r.model_format = s.text(7);
  r.git_commit = s.text(8);
  r.git_branch = s.text(9);
  r.git_dirty = s.integer(10) != 0;
  r.host = s.text(11);
  r.cpu = s.text(12);
  r.isa = s.text(13);
  r.threads = static_cast<int>(s.integer(14));
  r.version = s.text(15);
  r.seconds = s.real(16);
  r.result = nlohmann::ordered_json::parse(s.text(17), nullptr, false);
  return r;
}

// Whether a step that failed on a lock the busy handler could not wait for (SQLite's "database is
// locked") should start again: up to 200 times, waiting 20-90 ms each.
bool retry_lock(const Error& e, int attempt) {
  if (attempt >= 200 || std::string_view(e.what()).find("database is locked") == std::string_view::npos) return false;
  std::this_thread::sleep_for(std::chrono::milliseconds(20 + 10 * (attempt % 8)));
  return true;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string number_text(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char s[40];
  std::snprintf(s, sizeof s, "%.17g", v);
  return s;
}

std::string label_value(const std::string& s) {
  std::string q;
  for (char c : s) {
    if (c == '\\')
      q += "\\\\";
    else if (c == '"')
      q += "\\\"";
    else if (c == '\n')
      q += "\\n";
    else
      q += c;
  }
  return q;
}

std::string metric_name(const std::string& command, const std::string& path) {
  std::string n = "loupe_" + command + "_" + path;
  for (char& c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) c = '_';
  return n;
}

int64_t epoch_of(const std::string& iso) {
  std::tm tm{};
  if (strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

GitState git_state(const std::string& dir) {
  GitState g;
  int st = 0;
  const std::string at = "git -C " + shell_quote(dir) + " ";
  g.commit = run_capture(at + "rev-parse HEAD 2>/dev/null", &st);
  if (st != 0) return {};
  g.branch = run_capture(at + "symbolic-ref --short -q HEAD 2>/dev/null", &st);
  if (st != 0) g.branch.clear();
  const std::string status = run_capture(at + "status --porcelain --untracked-files=no 2>/dev/null", &st);
  g.dirty = st == 0 && !status.empty();
  return g;
}

std::string content_hash(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  Hasher h;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(path, ec))
      if (e.is_regular_file(ec)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      const std::string rel = fs::relative(f, path, ec).string();
      h.update(reinterpret_cast<const uint8_t*>(rel.data()), rel.size() + 1);
      Hasher fh;
      hash_file(f.string(), fh);
      const uint64_t d = fh.digest();
      h.update(reinterpret_cast<const uint8_t*>(&d), sizeof d);
    }
    return hex64(h.digest());
  }
  hash_file(path, h);
  return hex64(h.digest());
}

std::map<std::string, double> metrics_of(const std::string& command, const nlohmann::ordered_json& result) {
  std::map<std::string, double> out;
  flatten(result, "", out);
  if (command == "bench" && result.is_array()) {
    for (const auto& t : result) {
      if (!t.is_object() || !t.contains("avg_ts")) continue;
      const int64_t np = t.value("n_prompt", int64_t{0}), ng = t.value("n_gen", int64_t{0});
      if (ng > 0)
        out["tg"] = t["avg_ts"].get<double>();
      else if (np > 0)
        out["pp"] = t["avg_ts"].get<double>();
    }
  }
  if (command == "activations" && result.contains("hooks") && result["hooks"].is_array()) {
    double nan = 0, inf = 0;
    for (const auto& h : result["hooks"]) {
      nan += h.value("nan", 0.0);
      inf += h.value("inf", 0.0);
    }
    out["nan"] = nan;
    out["inf"] = inf;
  }
  return out;
}

std::unique_ptr<Store> Store::open(const std::string& path, bool create) {
  if (!create && !std::filesystem::exists(path)) fail(path, ": no such run store (write one with --store)");
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    const std::string why = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    fail(path, ": cannot open the run store: ", why);
  }
  std::unique_ptr<Store> s(new Store(db, path));
  sqlite3_busy_timeout(db, 60000);
  // The schema version and whether the file has tables, read in one snapshot: another process
  // may be creating the store at this moment, and two separate reads could see its tables without
  // its version.
  struct Seen {
    int64_t version = 0, tables = 0;
  };
  const auto look = [&](bool in_transaction) {
    Seen seen;
    if (!in_transaction) s->exec("BEGIN");
    try {
      {
        Stmt v(db, "PRAGMA user_version", path);  // fails for a file that is not a database
        if (v.step()) seen.version = v.integer(0);
      }
      {
        Stmt t(db, "SELECT count(*) FROM sqlite_master", path);
        if (t.step()) seen.tables = t.integer(0);
      }  // finalised: no statement may stay open when the journal mode changes
    } catch (...) {
      if (!in_transaction) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    if (!in_transaction) s->exec("COMMIT");
    return seen;
  };
  const auto judge = [&](const Seen& seen) {
    if (seen.version > kSchemaVersion)
      fail(path, ": written by a newer loupe (run store schema ", seen.version, "; this loupe reads schema ",
           kSchemaVersion, " and older); use that loupe, or another --store file");
    if (seen.version == 0 && seen.tables > 0)
      fail(path, ": a SQLite file that is not a loupe run store (it has tables but no loupe schema)");
  };
  // Creating a store races other processes opening it at the same moment: a step that finds the
  // file locked past the busy handler (a journal-mode change cannot wait inside it) starts again.
  for (int attempt = 0;; ++attempt) {
    try {
      const Seen first = look(false);
      judge(first);
      if (first.version == kSchemaVersion) return s;
      if (!create) fail(path, ": an empty file, not a run store");
      s->exec("PRAGMA journal_mode=WAL");
      s->exec("BEGIN IMMEDIATE");
      try {
        const Seen now = look(true);  // under the write lock: another process may have created it meanwhile
        judge(now);
        if (now.version == 0) {
          s->exec(
              "CREATE TABLE runs(id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, command TEXT NOT NULL, "
              "args TEXT NOT NULL, label TEXT NOT NULL DEFAULT '', model TEXT, model_hash TEXT, models TEXT NOT NULL, "
              "model_hashes TEXT NOT NULL, model_format TEXT, git_commit TEXT, git_branch TEXT, git_dirty INTEGER, "
              "host TEXT, cpu TEXT, isa TEXT, threads INTEGER, version TEXT, seconds REAL, result TEXT NOT NULL);"
              "CREATE INDEX runs_by_command ON runs(command, id);"
              "CREATE TABLE metrics(run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, name TEXT NOT NULL, "
              "value REAL, PRIMARY KEY(run, name)) WITHOUT ROWID;"
              "CREATE TABLE file_hashes(path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, "
              "hash TEXT NOT NULL);"
              "PRAGMA user_version = 1;");
        }
        s->exec("COMMIT");
      } catch (...) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
      }
      return s;
    } catch (const Error& e) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);  // (a no-op when no transaction is open)
      if (!retry_lock(e, attempt)) throw;
    }
  }
}

Store::~Store() {
  sqlite3_close(db_);
}

void Store::exec(const char* sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string why = err != nullptr ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    fail(path_, ": ", why);
  }
}

int64_t Store::add(const Run& run) {
  for (int attempt = 0;; ++attempt) {  // as in open(): a lock the busy handler could not wait for
    try {
      exec("BEGIN IMMEDIATE");
      break;
    } catch (const Error& e) {
      if (!retry_lock(e, attempt)) throw;
    }
  }
  try {
    Stmt ins(db_,
             "INSERT INTO runs(time, command, args, label, model, model_hash, models, model_hashes, model_format, "
             "git_commit, git_branch, git_dirty, host, cpu, isa, threads, version, seconds, result) "
             "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
             path_);
    ins.bind(1, run.time).bind(2, run.command).bind(3, run.args.dump()).bind(4, run.label);
    ins.bind(5, run.models.empty() ? std::string() : run.models[0]);
    ins.bind(6, run.model_hashes.empty() ? std::string() : run.model_hashes[0]);
    ins.bind(7, nlohmann::json(run.models).dump()).bind(8, nlohmann::json(run.model_hashes).dump());
    ins.bind(9, run.model_format).bind(10, run.git_commit).bind(11, run.git_branch);
    ins.bind(12, int64_t{run.git_dirty}).bind(13, run.host).bind(14, run.cpu).bind(15, run.isa);
    ins.bind(16, int64_t{run.threads}).bind(17, run.version).bind(18, run.seconds);
    ins.bind(19, run.result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    ins.step();
    const int64_t id = sqlite3_last_insert_rowid(db_);
    Stmt m(db_, "INSERT INTO metrics(run, name, value) VALUES(?,?,?)", path_);
    for (const auto& [name, value] : metrics_of(run.command, run.result)) {
      m.bind(1, id).bind(2, name).bind(3, value);
      m.step();
      m.reset();
    }
    exec("COMMIT");
    return id;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::vector<Run> Store::list(const std::string& command, int64_t limit) const {
  const std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs" +
                          (command.empty() ? "" : " WHERE command = ?1") + " ORDER BY id DESC" +
                          (limit > 0 ? " LIMIT " + std::to_string(limit) : "");
  Stmt s(db_, sql.c_str(), path_);
  if (!command.empty()) s.bind(1, command);
  std::vector<Run> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

std::optional<Run> Store::get(int64_t id) const {
  const std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?1";
  Stmt s(db_, sql.c_str(), path_);
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_run(s);
}

std::map<std::string, double> Store::metrics(int64_t id) const {
  Stmt s(db_, "SELECT name, value FROM metrics WHERE run = ?1", path_);
  s.bind(1, id);
  std::map<std::string, double> out;
  while (s.step()) out[s.text(0)] = s.real(1);
  return out;
}

std::optional<Run> Store::newest(const std::string& command, const std::string& ref, int64_t except) const {
  const std::string sql =
      std::string("SELECT ") + kRunColumns + " FROM runs WHERE command = ?1 AND id != ?2" +
      (ref.empty() ? "" : " AND (label = ?3 OR git_branch = ?3 OR substr(git_commit, 1, length(?3)) = ?3)") +
      " ORDER BY id DESC LIMIT 1";
  Stmt s(db_, sql.c_str(), path_);
  s.bind(1, command).bind(2, except);
  if (!ref.empty()) s.bind(3, ref);
  if (!s.step()) return std::nullopt;
  return read_run(s);
}

std::string Store::file_hash(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(path, ": cannot read it to hash it");
  const std::string key = std::filesystem::absolute(path).lexically_normal().string();
  const int64_t size = st.st_size;
  const int64_t mtime = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  const bool dir = S_ISDIR(st.st_mode);
  if (!dir) {
    Stmt q(db_, "SELECT hash FROM file_hashes WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3", path_);
    q.bind(1, key).bind(2, size).bind(3, mtime);
    if (q.step()) return q.text(0);
  }
  std::string h = content_hash(path);
  if (!dir) {
    Stmt put(db_, "INSERT OR REPLACE INTO file_hashes(path, size, mtime_ns, hash) VALUES(?,?,?,?)", path_);
    put.bind(1, key).bind(2, size).bind(3, mtime).bind(4, h);
    put.step();
  }
  return h;
}

std::string openmetrics(const Store& store, const std::vector<Run>& runs) {
  // family name -> samples, so each family's samples stay together.
  std::map<std::string, std::vector<std::string>> families;
  std::vector<Run> ordered = runs;
  std::sort(ordered.begin(), ordered.end(), [](const Run& a, const Run& b) { return a.id < b.id; });
  for (const Run& r : ordered) {
    std::string labels = "run=\"" + std::to_string(r.id) + "\"";
    labels += ",model=\"" + label_value(r.models.empty() ? "" : r.models[0]) + "\"";
    if (!r.label.empty()) labels += ",label=\"" + label_value(r.label) + "\"";
    if (!r.git_commit.empty()) labels += ",commit=\"" + label_value(r.git_commit) + "\"";
    const std::string stamp = std::to_string(epoch_of(r.time));
    for (const auto& [path, value] : store.metrics(r.id)) {
      if (indexed_figure(path)) continue;
      families[metric_name(r.command, path)].push_back("{" + labels + "} " + number_text(value) + " " + stamp);
    }
  }
  std::string out;
  for (const auto& [name, samples] : families) {
    out += "# TYPE " + name + " gauge\n";
    for (const std::string& s : samples) out += name + s + "\n";
  }
  return out + "# EOF\n";
}

std::string csv(const Store& store, const std::vector<Run>& runs) {
  std::vector<std::map<std::string, double>> ms;
  std::set<std::string> names;
  for (const Run& r : runs) {
    ms.push_back(store.metrics(r.id));
    for (const auto& [n, v] : ms.back())
      if (!indexed_figure(n)) names.insert(n);
  }
  std::string out = "id,time,command,label,model,model_hash,git_commit,git_dirty,isa,threads,seconds";
  for (const std::string& n : names) out += "," + csv_field(n);
  out += "\n";
  for (size_t i = 0; i < runs.size(); ++i) {
    const Run& r = runs[i];
    out += std::to_string(r.id) + "," + csv_field(r.time) + "," + csv_field(r.command) + "," + csv_field(r.label) +
           "," + csv_field(r.models.empty() ? "" : r.models[0]) + "," +
           csv_field(r.model_hashes.empty() ? "" : r.model_hashes[0]) + "," + csv_field(r.git_commit) + "," +
           (r.git_dirty ? "1" : "0") + "," + csv_field(r.isa) + "," + std::to_string(r.threads) + "," +
           number_text(r.seconds);
    for (const std::string& n : names) {
      const auto it = ms[i].find(n);
      out += ",";
      if (it != ms[i].end()) out += number_text(it->second);
    }
    out += "\n";
  }
  return out;
}

}  // namespace loupe::store
