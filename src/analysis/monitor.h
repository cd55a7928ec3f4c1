// loupe monitor: a series of student checkpoints (e.g. saved during a distillation run) against
// a teacher on the same tokens. Per checkpoint: the distillation loss tau^2 KL(p_teacher^tau ||
// p_student^tau) at temperature tau, the KL at tau = 1 (diff's mean KLD: the same sums), the
// student's cross-entropy and perplexity, top-1 agreement with the teacher, L1 and L2 norms of
// the weights per layer and in total, the share of dead MLP neurons (mlp.hook_pre never
// positive, as `activations` counts them) and the relative L2 drift of the weights from the
// first checkpoint.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analysis/data.h"
#include "engine/interpreter.h"

namespace loupe::analysis {

struct WeightNorms {
  double l1 = 0, l2 = 0;  // l2: the square root of the sum of squares
};

struct CheckpointStats {
  std::string path;
  int64_t n_scored = 0;
  double kd_loss = 0;  // tau^2 mean KL at temperature tau
  double kl = 0;       // mean KL(teacher || student) at tau = 1
  double cross_entropy = 0;
  double perplexity = 0;
  double top1_agreement = 0;
  WeightNorms total;
  std::vector<WeightNorms> layers;     // per block; embeddings and final norm in total only
  std::optional<double> dead_neurons;  // share; unset when the model has no mlp.hook_pre
  std::optional<double> drift;         // ||W - W_first|| / ||W_first||; unset when shapes differ
};

struct MonitorOptions {
  SequencerOptions seq;
  RunOptions run;
  double tau = 2.0;
};

std::vector<CheckpointStats> run_monitor(const Model& teacher, const std::vector<const Model*>& students,
                                         const std::string& data_path, const MonitorOptions& options);

nlohmann::ordered_json to_json(const std::vector<CheckpointStats>& series, double tau);

// The dequantised weights of a model's blocks and embeddings, one call per matrix or vector,
// in a fixed order (for norms and drift). layer -1: outside the blocks.
void for_each_weight(const Model& model, const std::function<void(int layer, const float* v, int64_t n)>& f);

}  // namespace loupe::analysis
