#include "engine/run.h"

#include <algorithm>

#include "core/error.h"

namespace loupe {

int64_t effective_context(const ModelConfig& c, int64_t requested) {
  const int64_t n = requested > 0 ? requested : std::min<int64_t>(c.n_ctx, 4096);
  if (c.arch == Arch::Gpt2 && n > c.n_ctx)
    fail("context of ", n, " positions exceeds the ", c.n_ctx, " learned positions of this model");
  if (n > (int64_t(1) << 20)) fail("context of ", n, " positions is too large");
  return n;
}

std::vector<PassRange> pass_ranges(int64_t n_tokens, int64_t max_batch) {
  LOUPE_ASSERT(max_batch >= 1, "max_batch ", max_batch);
  std::vector<PassRange> out;
  for (int64_t first = 0; first < n_tokens; first += max_batch)
    out.push_back({first, std::min(max_batch, n_tokens - first)});
  return out;
}

std::string_view stop_reason_text(StopReason r) {
  switch (r) {
    case StopReason::Length: return "n reached";
    case StopReason::Eos: return "EOS sampled";
    case StopReason::Bos: return "BOS sampled";
    case StopReason::ContextFull: return "context full";
  }
  return "?";
}

std::optional<StopReason> stops_generation(const ModelConfig& c, int32_t next) {
  if (next == c.eos_id) return StopReason::Eos;
  if (c.arch == Arch::Llama && next == c.bos_id) return StopReason::Bos;
  return std::nullopt;
}

}  // namespace loupe
