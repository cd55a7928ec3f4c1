// Reverse mode over the op program: one forward pass recorded on a tape (every op's output as
// the rest of the pass saw it, hook edits included), then a vector-Jacobian product per op kind,
// last op first, from a seed on the logits back to the token embeddings. Gradients flow to the
// activations; the weights (dequantised row by row, whatever their type) are constants. The
// mathematics is the model's (exact numerics) whatever arithmetic ran the forward pass.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/interpreter.h"

namespace loupe {

class Tape : public OpListener {
 public:
  // budget_bytes bounds what the tape keeps (values and gradients); 0: no bound.
  Tape(Interpreter& interp, int64_t budget_bytes);
  ~Tape() override;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  // Runs one pass over tokens from position 0 (the interpreter's cache is cleared first),
  // recording it. With all_logits the final ops run on every position, else on the last.
  // Observers subscribed to the interpreter run as usual (their edits are recorded).
  void record(std::span<const int32_t> tokens, bool all_logits);
  // Back-propagates seed = d(objective)/d(logits) ([logit_rows(), d_vocab]) through the
  // recorded pass; the gradients of earlier backward calls are replaced.
  void backward(std::span<const float> seed);

  int64_t n_tokens() const { return n_; }
  int64_t logit_rows() const { return final_rows_; }
  // Logits of the recorded pass: [logit_rows(), d_vocab].
  std::span<const float> logits() const;
  // An op's output as recorded (empty when the tape did not keep it) and its gradient (empty
  // when nothing flows there from the seed), with the op's hook shape.
  std::span<const float> value(int op) const;
  std::span<const float> grad(int op) const;
  Shape shape(int op) const { return shapes_[static_cast<size_t>(op)]; }
  // The same by hook id.
  std::span<const float> hook_value(int hook) const;
  std::span<const float> hook_grad(int hook) const;
  Shape hook_shape(int hook) const;
  // The derivative of an edit made to op's output by an observer (elementwise: 0 where a value
  // was replaced, the factor where it was scaled, 1 where a constant was added): the gradient
  // reaching op's output is multiplied by it before it flows into the op. Kept until cleared.
  void set_output_scale(int op, std::vector<float> scale);
  void clear_output_scales();
  // Gradients with respect to the weights as well (before record): matmul weights and biases,
  // norm gains and biases, token and position embeddings, each summed into a buffer keyed by
  // the weight's data pointer (Weight::data, or the float vector's). Matmul weights must be F32
  // rows (a trainable copy); mixture-of-experts weights and attention sinks get none.
  void enable_weight_grads(bool on);
  // The gradient of the weight whose data is at `data` (null when none reached it).
  const std::vector<float>* weight_grad(const void* data) const;
  // Bytes held by the tape now.
  int64_t bytes() const;

  // Seeds: d(logit of token t at logit row r) and d(log-probability of t at row r).
  std::vector<float> seed_logit(int64_t row, int32_t token) const;
  std::vector<float> seed_logprob(int64_t row, int32_t token) const;

  void before_op(int op_index) override;
  void after_op(int op_index) override;

 private:
  void capture(int op);
  void charge(size_t floats);
  std::vector<float>& grad_of(int op);
  int source(int op, Buf b) const;  // the last op before `op` that wrote b
  void vjp(int op, const std::vector<float>& G);

  Interpreter& interp_;
  int64_t budget_;
  std::vector<std::vector<float>> values_;
  std::vector<std::vector<float>> grads_;
  std::vector<Shape> shapes_;
  std::vector<int64_t> rows_;
  std::vector<bool> keep_;  // whether an op's value is needed by a backward product
  std::vector<std::vector<float>> out_scale_;
  bool weight_grads_ = false;
  std::unordered_map<const void*, std::vector<float>> wgrad_;
  std::vector<int32_t> tokens_;
  std::vector<float>& wgrad(const void* key, size_t n);
  int64_t n_ = 0;
  int64_t final_rows_ = 0;
  int64_t held_ = 0;
};

// dx[r, :] += sum_i g[r, i] W[i, :] for r < rows: the transposed product with the dequantised
// weight (the matmul op's vector-Jacobian product).
void matmul_transposed_acc(ThreadPool& pool, const Weight& w, const float* g, int64_t rows, float* dx);

}  // namespace loupe
