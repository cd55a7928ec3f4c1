// The run store: every evaluation, comparison, benchmark and analysis a command was asked to keep
// (`--store FILE.db`), in one SQLite file, comparable later (`loupe runs`), checked by rules
// (`loupe check`) and exported for monitoring (OpenMetrics) or spreadsheets (CSV).
//
// Schema 1 (docs/ci.md has it in full): `runs` (one row per run: command, arguments, the model
// files' content hashes and format, git commit / branch / dirty state of the working directory,
// host, CPU, ISA, threads, time, seconds, and the command's JSON result), `metrics` (every
// number of the result by its dotted path, plus each command's headline figures: the columns
// rules and comparisons read) and `file_hashes` (content hashes by path, size and mtime, so a
// model is hashed once). PRAGMA user_version holds the schema; a store written by a newer schema
// is refused. Writes are transactions; concurrent writers wait for each other (WAL, busy
// timeout), nothing is lost.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace loupe::store {

constexpr int kSchemaVersion = 1;

struct Run {
  int64_t id = 0;
  std::string time;                                               // UTC, ISO 8601 ("2026-12-06T20:30:13Z")
  std::string command;                                            // "eval", "diff", "bench", ...
  nlohmann::ordered_json args = nlohmann::ordered_json::array();  // the command line after "loupe"
  std::string label;                                              // --label, or ""
  std::vector<std::string> models;                                // model paths as given
  std::vector<std::string> model_hashes;                          // content hashes, same order
  std::string model_format;                                       // of the first model
  std::string git_commit, git_branch;                             // "" outside a repository
  bool git_dirty = false;
  std::string host, cpu, isa;
  int threads = 0;
  std::string version;  // loupe's
  double seconds = 0;
  nlohmann::ordered_json result;
};

// The git state of a directory: commit, branch ("" when detached or outside a repository) and
// whether tracked files differ from the commit.
struct GitState {
  std::string commit, branch;
  bool dirty = false;
};
GitState git_state(const std::string& dir);

// A 64-bit content hash of a file (or of a folder's files, in name order), as 16 hex digits.
std::string content_hash(const std::string& path);

// Every number of a result by its dotted path ("kld.mean", "hooks.3.nan"; arrays of plain numbers
// are left out, arrays of objects by index), plus the command's headline figures: bench "pp" and
// "tg" (tokens/s of its prompt and generation tests), activations "nan" / "inf" (totals).
std::map<std::string, double> metrics_of(const std::string& command, const nlohmann::ordered_json& result);

// Whether a figure comes from an array (a path with an all-digit part: "layers.3.nmse").
bool indexed_figure(const std::string& path);

class Store {
 public:
  // Opens (create: creating if missing) a store. Throws Error naming the file when it is not a
  // SQLite database, was written by a newer schema, or cannot be opened.
  static std::unique_ptr<Store> open(const std::string& path, bool create);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }

  // Adds a run and its metrics in one transaction; returns its id.
  int64_t add(const Run& run);
  // Runs, newest first (command "" = every command; limit 0 = all).
  std::vector<Run> list(const std::string& command, int64_t limit) const;
  std::optional<Run> get(int64_t id) const;
  std::map<std::string, double> metrics(int64_t id) const;
  // The newest run of a command; with `ref`, the newest whose label or git branch is ref or
  // whose commit starts with it, leaving out run `except`.
  std::optional<Run> newest(const std::string& command, const std::string& ref = "", int64_t except = 0) const;
  // The content hash of a file, cached by path, size and modification time.
  std::string file_hash(const std::string& path);

 private:
  Store(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  void exec(const char* sql) const;
  sqlite3* db_;
  std::string path_;
};

// Prometheus / OpenMetrics text: one gauge family per command and metric path
// (loupe_<command>_<path>, characters outside [a-zA-Z0-9_] as '_'), one sample per run labelled
// with run, model, label and commit, stamped with the run's time; metrics taken from arrays are
// left out. Ends with "# EOF".
std::string openmetrics(const Store& store, const std::vector<Run>& runs);
// CSV: one row per run (id, time, command, label, model, model_hash, git_commit, git_dirty, isa,
// threads, seconds) and a column per metric path any of them has (arrays' metrics left out).
std::string csv(const Store& store, const std::vector<Run>& runs);

}  // namespace loupe::store
