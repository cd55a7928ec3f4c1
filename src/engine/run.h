// The rules every command that runs a model shares, in one place: the context a run gets, how
// a prompt is cut into passes, and when generation stops. generate / logits / trace (driver),
// the debugger's session, diff, eval, activations and profile all follow them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "model/config.h"

namespace loupe {

// The context (KV positions) of a run: `requested` when it is > 0, else the trained context
// capped at 4096 positions. Throws for a GPT-2 model asked past its learned positions (it has no
// embedding for them) and for a context over 2^20 positions. A context past the trained one
// elsewhere is extrapolation: the command line warns about it (ModelFlags::load).
int64_t effective_context(const ModelConfig& config, int64_t requested);

// Passes of at most max_batch positions covering n tokens: {first, count} each, in order.
struct PassRange {
  int64_t first = 0;
  int64_t count = 0;
};
std::vector<PassRange> pass_ranges(int64_t n_tokens, int64_t max_batch);

// Why generation stopped.
enum class StopReason { Length, Eos, Bos, ContextFull };
std::string_view stop_reason_text(StopReason r);  // "n reached", "EOS sampled", ...

// Whether sampling `next` ends generation: EOS, or BOS for llama-family models (as run.c does).
std::optional<StopReason> stops_generation(const ModelConfig& config, int32_t next);

}  // namespace loupe
