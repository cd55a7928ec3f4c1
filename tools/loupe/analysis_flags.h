// Flags shared by the analysis commands (eval, diff, activations): the data file and how it
// is cut into sequences, and how results are written.
#pragma once

#include <unistd.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "analysis/data.h"

namespace loupe::cli {

struct DataFlags {
  std::string data;
  std::string field = "text";
  int64_t chunk = 0;
  int64_t max_docs = 0;

  void add(CLI::App* cmd) {
    cmd->add_option("--data", data, "plain text (one document per line) or JSONL file")->required();
    cmd->add_option("--field", field, "JSONL field holding the text (default text)");
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
