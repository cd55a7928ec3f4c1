// Flags shared by the analysis commands: the data file and how it is cut into sequences (eval,
// diff, activations), and each prompt analysis's own settings (lens, attention, activations and
// the one-pass analyze that runs them together).
#pragma once

#include <unistd.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "analysis/activations.h"
#include "analysis/attention.h"
#include "analysis/data.h"
#include "analysis/logit_lens.h"
#include "analysis/text.h"

namespace loupe::cli {

struct DataFlags {
  std::string data;
  std::string field = "text";
  std::string format = "auto";
  bool strict = false;
  int64_t chunk = 0;
  int64_t max_docs = 0;

  void add(CLI::App* cmd) {
    cmd->add_option("--data", data,
                    "the documents: a file (text, one per line; JSONL; CSV; blank-line separated), plain or .gz / "
                    ".zst, a folder of them, or - for standard input")
        ->required();
    cmd->add_option("--field", field, "JSONL field (a.b nests) or CSV column holding the text (default text)");
    cmd->add_option("--format", format, "auto, lines, blank, jsonl or csv (default auto: by extension and content)");
    cmd->add_flag("--strict", strict, "stop at the first bad record (default: report it and skip it)");
    cmd->add_option("--chunk", chunk,
                    "llama-perplexity mode: join the documents, cut into chunks of N tokens, score the second "
                    "half of each (default 0: score every token of each document)")
        ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
    cmd->add_option("--max-docs", max_docs, "stop after N documents (default all)")
        ->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  }
  analysis::SequencerOptions sequencer() const {
    analysis::SequencerOptions o;
    o.chunk = chunk;
    o.max_docs = max_docs;
    o.format = data::parse_format(format);
    o.strict = strict;
    return o;
  }
};

// `help` prefixes each flag's description ("lens: " in analyze).
struct LensFlags {
  std::string target;
  int64_t top = 5;

  void add(CLI::App* cmd, const std::string& help = "") {
    cmd->add_option("--target", target, help + "a token (text of one token, or its id) to follow through the layers");
    cmd->add_option("--top", top, help + "top tokens per cell (default 5)")->check(CLI::Range(1, 100));
  }
  analysis::LensOptions options(const Model& model, const RunOptions& run) const {
    analysis::LensOptions o;
    o.run = run;
    o.top_k = top;
    if (!target.empty()) o.target = analysis::parse_token(model, target, "--target");
    return o;
  }
};

struct AttentionFlags {
  int64_t induction_len = 20;
  uint64_t seed = 1;

  void add(CLI::App* cmd, const std::string& help = "") {
    cmd->add_option("--induction-len", induction_len,
                    help + "length of the random sequence repeated for the induction score (default 20)")
        ->check(CLI::Range(int64_t(2), int64_t(1) << 20));
    cmd->add_option("--seed", seed, help + "seed of the random sequence (default 1)");
  }
  analysis::AttentionOptions options(const RunOptions& run) const {
    analysis::AttentionOptions o;
    o.run = run;
    o.induction_len = induction_len;
    o.seed = seed;
    return o;
  }
};

struct ActivationFlags {
  std::vector<std::string> hooks;
  double factor = 20.0;

  void add(CLI::App* cmd, const std::string& help = "") {
    cmd->add_option("--hook", hooks,
                    help + "hooks to watch (name, glob or short form; repeatable; default: every [pos, ...] hook)");
    cmd->add_option("--massive", factor, help + "a dimension is massive when max |x| > FACTOR x mean |x| (default 20)")
        ->check(CLI::Range(1.0, 1e12));
  }
  analysis::ActivationsOptions options(const RunOptions& run) const {
    analysis::ActivationsOptions o;
    o.run = run;
    o.hooks = hooks;
    o.massive_factor = factor;
    return o;
  }
};

// Progress on stderr when it is a terminal: "\r<docs> documents, <tokens> tokens".
inline void print_progress(int64_t docs, int64_t tokens) {
  if (isatty(fileno(stderr)))
    std::fprintf(stderr, "\r%lld documents, %lld tokens", static_cast<long long>(docs), static_cast<long long>(tokens));
}
inline void end_progress() {
  if (isatty(fileno(stderr))) std::fprintf(stderr, "\r\033[K");
}

}  // namespace loupe::cli
