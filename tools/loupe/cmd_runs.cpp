// loupe runs list|show|compare|export: the run store (store/store.h); loupe check: CI gates over
// it (store/rules.h), exiting 0 (every rule passed), 1 (a rule failed) or 2 (a rule could not be
// evaluated).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "store/rules.h"
#include "store/store.h"

namespace loupe::cli {
namespace {

std::string store_path(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("LOUPE_STORE"); env != nullptr && *env != '\0') return env;
  fail("--store: which run store? (give --store FILE.db or set LOUPE_STORE)");
}

void add_store_option(CLI::App* cmd, std::string& path) {
  cmd->add_option("--store", path, "the run store (default: $LOUPE_STORE)");
}

// The figures `runs list` shows per command.
std::vector<std::string> headline(const std::string& command) {
  if (command == "diff") return {"kld.mean", "ppl.ratio", "same_top_p"};
  if (command == "eval") return {"ppl", "mean_loss"};
  if (command == "bench") return {"pp", "tg"};
  if (command == "activations") return {"nan", "inf"};
  if (command == "profile") return {"total.seconds"};
  return {};
}

std::string short_model(const store::Run& r) {
  return r.models.empty() ? "" : std::filesystem::path(r.models[0]).filename().string();
}

std::string commit_text(const store::Run& r) {
  return r.git_commit.empty() ? "-" : r.git_commit.substr(0, 10) + (r.git_dirty ? "*" : "");
}

nlohmann::ordered_json run_json(const store::Store& s, const store::Run& r, bool with_metrics) {
  nlohmann::ordered_json j;
  j["id"] = r.id;
  j["time"] = r.time;
  j["command"] = r.command;
  j["args"] = r.args;
  j["label"] = r.label;
  j["models"] = r.models;
  j["model_hashes"] = r.model_hashes;
  j["model_format"] = r.model_format;
  j["git"] = {{"commit", r.git_commit}, {"branch", r.git_branch}, {"dirty", r.git_dirty}};
  j["host"] = r.host;
  j["cpu"] = r.cpu;
  j["isa"] = r.isa;
  j["threads"] = r.threads;
  j["version"] = r.version;
  j["seconds"] = r.seconds;
  if (with_metrics) {
    j["metrics"] = s.metrics(r.id);
    j["result"] = r.result;
  }
  return j;
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

// Splits a command line as a shell would for plain words: spaces separate, single and double
// quotes group, a backslash escapes the next character.
std::vector<std::string> split_words(const std::string& s, const std::string& what) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quote != 0) {
      if (c == quote)
        quote = 0;
      else if (c == '\\' && quote == '"' && i + 1 < s.size())
        cur += s[++i];
      else
        cur += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < s.size()) {
      cur += s[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (quote != 0) fail(what, ": an unterminated quote in '", s, "'");
  if (in_word) out.push_back(cur);
  return out;
}

// Runs `loupe ARGS --store STORE` (this binary), its report dropped (the store keeps it) and its
// messages on stderr; returns the exit status.
int run_loupe(const std::vector<std::string>& args, const std::string& store) {
  std::vector<std::string> argv{"loupe"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--store");
  argv.push_back(store);
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) fail("check: cannot start a command: ", std::strerror(errno));
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, STDOUT_FILENO);
    execv("/proc/self/exe", cargv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

void add_runs(CLI::App& app, Action& action) {
  auto* runs = app.add_subcommand("runs", "the run store: list, show, compare and export kept runs (docs/ci.md)");
  runs->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto command = std::make_shared<std::string>();
  auto limit = std::make_shared<int64_t>(0);

  auto* list = runs->add_subcommand("list", "kept runs, newest first, with their headline figures");
  add_store_option(list, *path);
  list->add_option("--command", *command, "only this command's runs");
  list->add_option("-n,--limit", *limit, "at most this many")->check(CLI::NonNegativeNumber);
  list->add_flag("--json", *json, "print JSON");
  list->callback([=, &action] {
    action = [=] {
      auto s = store::Store::open(store_path(*path), false);
      const auto rs = s->list(*command, *limit);
      if (*json) {
        nlohmann::ordered_json a = nlohmann::ordered_json::array();
        for (const auto& r : rs) a.push_back(run_json(*s, r, false));
        std::printf("%s\n", a.dump(1).c_str());
        return;
      }
      std::printf("%5s  %-20s  %-12s  %-8s  %-28s  %-11s  %8s  %s\n", "id", "time", "command", "label", "model",
                  "commit", "seconds", "figures");
      for (const auto& r : rs) {
        std::string figs;
        const auto m = s->metrics(r.id);
        for (const std::string& h : headline(r.command)) {
          const auto it = m.find(h);
          if (it != m.end()) figs += (figs.empty() ? "" : "  ") + h + " " + num(it->second);
        }
        std::printf("%5lld  %-20s  %-12s  %-8s  %-28s  %-11s  %8.2f  %s\n", static_cast<long long>(r.id),
                    r.time.c_str(), r.command.c_str(), r.label.c_str(), short_model(r).c_str(), commit_text(r).c_str(),
                    r.seconds, figs.c_str());
      }
      if (rs.empty()) std::printf("(no runs)\n");
    };
  });

  auto id = std::make_shared<int64_t>(0);
  auto* show = runs->add_subcommand("show", "one run: how it was made, its figures and its JSON result");
  add_store_option(show, *path);
  show->add_option("ID", *id, "run id")->required();
  show->add_flag("--json", *json, "print JSON (with the result)");
  show->callback([=, &action] {
    action = [=] {
      auto s = store::Store::open(store_path(*path), false);
      const auto r = s->get(*id);
      if (!r) fail("runs show: no run ", *id, " in ", s->path());
      if (*json) {
        std::printf("%s\n",
                    run_json(*s, *r, true).dump(1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return;
      }
      std::string args;
      for (const auto& a : r->args) args += (args.empty() ? "" : " ") + a.get<std::string>();
      std::printf("run %lld: loupe %s\n", static_cast<long long>(r->id), args.c_str());
      std::printf("time     %s (%.2f s)\n", r->time.c_str(), r->seconds);
      for (size_t i = 0; i < r->models.size(); ++i)
        std::printf("model    %s  (%s, hash %s)\n", r->models[i].c_str(), r->model_format.c_str(),
                    i < r->model_hashes.size() ? r->model_hashes[i].c_str() : "");
      std::printf("git      %s%s%s\n", r->git_commit.empty() ? "(not a repository)" : r->git_commit.c_str(),
                  r->git_dirty ? " (dirty)" : "", r->git_branch.empty() ? "" : (" on " + r->git_branch).c_str());
      std::printf("machine  %s, %s, %s, %d threads\n", r->host.c_str(), r->cpu.c_str(), r->isa.c_str(), r->threads);
      if (!r->label.empty()) std::printf("label    %s\n", r->label.c_str());
      for (const auto& [k, v] : s->metrics(r->id))
        if (!store::indexed_figure(k)) std::printf("  %-40s %s\n", k.c_str(), num(v).c_str());
    };
  });

  auto a_id = std::make_shared<int64_t>(0);
  auto b_id = std::make_shared<int64_t>(0);
  auto all = std::make_shared<bool>(false);
  auto* compare = runs->add_subcommand("compare", "two runs of the same command side by side, with differences");
  add_store_option(compare, *path);
  compare->add_option("A", *a_id, "run id")->required();
  compare->add_option("B", *b_id, "run id")->required();
  compare->add_flag("--all", *all, "also the figures of arrays (per hook, per layer, ...)");
  compare->add_flag("--json", *json, "print JSON");
  compare->callback([=, &action] {
    action = [=] {
      auto s = store::Store::open(store_path(*path), false);
      const auto a = s->get(*a_id), b = s->get(*b_id);
      if (!a) fail("runs compare: no run ", *a_id, " in ", s->path());
      if (!b) fail("runs compare: no run ", *b_id, " in ", s->path());
      if (a->command != b->command)
        fail("runs compare: run ", a->id, " is '", a->command, "' and run ", b->id, " is '", b->command,
             "'; compare runs of one command");
      const auto ma = s->metrics(a->id), mb = s->metrics(b->id);
      std::map<std::string, std::pair<std::optional<double>, std::optional<double>>> rows;
      for (const auto& [k, v] : ma) rows[k].first = v;
      for (const auto& [k, v] : mb) rows[k].second = v;
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      if (!*json)
        std::printf("%-44s %14s %14s %14s %9s\n", "figure", ("run " + std::to_string(a->id)).c_str(),
                    ("run " + std::to_string(b->id)).c_str(), "difference", "change");
      for (const auto& [k, p] : rows) {
        if (!*all && store::indexed_figure(k)) continue;
        const auto& [va, vb] = p;
        nlohmann::ordered_json row{{"figure", k}, {"a", nullptr}, {"b", nullptr}, {"difference", nullptr}};
        if (va) row["a"] = *va;
        if (vb) row["b"] = *vb;
        std::string diff = "-", change = "";
        if (va && vb) {
          row["difference"] = *vb - *va;
          diff = num(*vb - *va);
          if (*va != 0) {
            char c[32];
            std::snprintf(c, sizeof c, "%+.2f%%", 100.0 * (*vb - *va) / std::fabs(*va));
            change = c;
          }
        }
        if (*json)
          out.push_back(row);
        else
          std::printf("%-44s %14s %14s %14s %9s\n", k.c_str(), va ? num(*va).c_str() : "-", vb ? num(*vb).c_str() : "-",
                      diff.c_str(), change.c_str());
      }
      if (*json) std::printf("%s\n", out.dump(1).c_str());
    };
  });

  auto csv_out = std::make_shared<bool>(false);
  auto om = std::make_shared<bool>(false);
  auto* exp = runs->add_subcommand("export", "kept runs as CSV or OpenMetrics (Prometheus) text");
  add_store_option(exp, *path);
  auto* g = exp->add_flag("--csv", *csv_out, "one row per run, a column per figure");
  exp->add_flag("--openmetrics", *om, "OpenMetrics text: a gauge per command and figure, a sample per run")
      ->excludes(g);
  exp->add_option("--command", *command, "only this command's runs");
  exp->add_option("-n,--limit", *limit, "the newest this many")->check(CLI::NonNegativeNumber);
  exp->callback([=, &action] {
    action = [=] {
      if (!*csv_out && !*om) fail("runs export: --csv or --openmetrics?");
      auto s = store::Store::open(store_path(*path), false);
      const auto rs = s->list(*command, *limit);
      std::fputs((*csv_out ? store::csv(*s, rs) : store::openmetrics(*s, rs)).c_str(), stdout);
    };
  });
}

void add_check(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "check", "CI gates: evaluate RULES.toml against the newest kept runs; exit 0 pass, 1 a rule failed, 2 error");
  auto rules_path = std::make_shared<std::string>();
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("RULES", *rules_path, "rules file: [[rule]] tables with name, expr and optional command")->required();
  add_store_option(cmd, *path);
  cmd->add_flag("--json", *json, "print the verdicts as JSON");
  cmd->callback([=, &action] {
    action = [=] {
      std::vector<store::Rule> rules;
      std::string where;
      std::string temp;  // a store of this check's own when none is named and rules run commands
      try {
        rules = store::read_rules(*rules_path);
        where = *path;
        if (where.empty())
          if (const char* env = std::getenv("LOUPE_STORE"); env != nullptr) where = env;
        if (where.empty()) {
          const bool runs_commands =
              std::any_of(rules.begin(), rules.end(), [](const store::Rule& r) { return !r.command.empty(); });
          if (!runs_commands) fail("--store: which run store? (give --store FILE.db or set LOUPE_STORE)");
          char tmpl[] = "/tmp/loupe-check-XXXXXX";
          if (mkdtemp(tmpl) == nullptr) fail("check: cannot make a temporary directory: ", std::strerror(errno));
          temp = tmpl;
          where = temp + "/runs.db";
        }
      } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        throw ExitWith{2};
      }
      std::vector<store::RuleResult> results;
      for (const store::Rule& rule : rules) {
        if (!rule.command.empty()) {
          std::fprintf(stderr, "check: %s: loupe %s\n", rule.name.c_str(), rule.command.c_str());
          int rc = 0;
          try {
            rc = run_loupe(split_words(rule.command, "rule " + rule.name), where);
          } catch (const Error& e) {
            results.push_back({rule, store::Verdict::Error, e.what(), {}});
            continue;
          }
          if (rc != 0) {
            results.push_back({rule, store::Verdict::Error, "its command exited with " + std::to_string(rc), {}});
            continue;
          }
        }
        try {
          auto s = store::Store::open(where, false);
          results.push_back(store::evaluate_rule(rule, *s));
        } catch (const Error& e) {
          results.push_back({rule, store::Verdict::Error, e.what(), {}});
        }
      }
      if (!temp.empty()) std::filesystem::remove_all(temp);
      int code = 0;
      for (const auto& r : results)
        code = std::max(code, r.verdict == store::Verdict::Pass ? 0 : r.verdict == store::Verdict::Fail ? 1 : 2);
      const char* names[] = {"pass", "FAIL", "ERROR"};
      if (*json) {
        nlohmann::ordered_json a = nlohmann::ordered_json::array();
        for (const auto& r : results) {
          nlohmann::ordered_json f = nlohmann::ordered_json::array();
          for (const auto& x : r.figures) f.push_back({{"name", x.name}, {"value", x.value}, {"run", x.run}});
          a.push_back({{"name", r.rule.name},
                       {"expr", r.rule.expr},
                       {"verdict", std::string(names[static_cast<int>(r.verdict)])},
                       {"message", r.message},
                       {"figures", f}});
        }
        std::printf("%s\n", nlohmann::ordered_json({{"rules", a}, {"exit", code}}).dump(1).c_str());
      } else {
        std::printf("%-24s %-6s %-40s %s\n", "rule", "", "expression", "figures");
        int passed = 0;
        for (const auto& r : results) {
          std::string figs;
          for (const auto& x : r.figures)
            figs += (figs.empty() ? "" : ", ") + x.name + " = " + num(x.value) + " (run " + std::to_string(x.run) + ")";
          if (r.verdict == store::Verdict::Error) figs = r.message;
          std::printf("%-24s %-6s %-40s %s\n", r.rule.name.c_str(), names[static_cast<int>(r.verdict)],
                      r.rule.expr.c_str(), figs.c_str());
          passed += r.verdict == store::Verdict::Pass;
        }
        std::printf("%d of %zu rules passed\n", passed, results.size());
      }
      throw ExitWith{code};
    };
  });
}

}  // namespace loupe::cli
