// loupe distill: a short CPU fine-tune of a small student on the knowledge-distillation loss
//   alpha tau^2 KL(p_teacher^tau || p_student^tau) + (1 - alpha) CE(student, next token)
//   (+ l2 sum w^2 + l1 sum |w| over the matrices)
// with AdamW (decoupled weight decay), one sequence per step, every weight of the student's
// dense blocks trained in float32 (a GGUF student's weights are copied and dequantised once).
// Every `log_every` steps it measures what `loupe monitor` reports on held-out documents;
// checkpoints are GGUF files written atomically, loadable by loupe and llama.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/data.h"
#include "analysis/monitor.h"
#include "engine/interpreter.h"

namespace loupe::analysis {

// A weight made trainable: float32 values the model now reads, and where they go in the file.
struct Param {
  std::string name;         // the GGUF tensor name
  std::vector<int64_t> ne;  // its shape, ggml order
  float* data = nullptr;    // the whole tensor, as the model reads it
  int64_t n = 0;
  bool matrix = false;  // weight decay and l1 / l2 apply to matrices
  // Where the model reads it: one part, or the row slices of a fused tensor (GPT-2's and
  // Phi-3's qkv, their biases): the pointer the ops read (the gradient's key) and its offset.
  std::vector<std::pair<const float*, int64_t>> parts;
};

// Copies every weight of a GGUF model's blocks, embeddings and final norm into float32 buffers
// the model then reads (its packed copies dropped) and returns them. Throws Error naming what
// cannot be trained: a mixture of experts, attention sinks, not a GGUF file.
std::vector<Param> make_trainable(Model& model);

// Writes the model as a GGUF file: `source`'s metadata and tensors, the trained ones in F32.
void save_trainable(const Model& model, const std::vector<Param>& params, const std::string& source,
                    const std::string& out);

struct DistillOptions {
  RunOptions run;
  SequencerOptions seq;
  double tau = 2.0;
  double alpha = 0.5;  // weight of the KD term; 1 - alpha on the cross-entropy
  int steps = 100;
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;  // AdamW's decoupled decay (matrices)
  double l1 = 0.0, l2 = 0.0;  // penalties added to the loss (matrices)
  int64_t seq_len = 64;       // tokens per step (a window of a document)
  int log_every = 10;
  int64_t eval_docs = 8;  // held-out documents for the log (the first ones; not trained on)
  int save_every = 0;     // checkpoints every N steps (0: only the final one)
  std::string out;        // the final checkpoint; step checkpoints beside it: OUT-stepN.gguf
  std::function<void(const nlohmann::ordered_json& entry)> on_log;
};

struct DistillLog {
  int step = 0;
  double train_loss = 0;  // mean over the steps since the last entry
  CheckpointStats eval;   // monitor's figures on the held-out documents
  std::string checkpoint;
};

std::vector<DistillLog> run_distill(const Model& teacher, Model& student, const std::string& student_path,
                                    const std::string& data_path, const DistillOptions& options);

nlohmann::ordered_json to_json(const DistillLog& entry, double tau);

}  // namespace loupe::analysis
