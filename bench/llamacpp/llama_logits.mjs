// Bench helper (never a test): llama.cpp's raw logits for a token sequence, one token per decode,
// as ../shared/reference/numerics made them (CPU, 1 thread, F32 K and V cache, no flash
// attention), written as little-endian float32 [n_tokens, n_vocab].
//
//   node llama_logits.mjs MODEL.gguf 1,2,3,... OUT.f32
//
// Pin the CPU variant with LOUPE_GGML_BINS (a copy of node-llama-cpp's bins folder holding only
// libggml-cpu-haswell.so among the CPU libraries) when comparing with --numerics llama.cpp, whose
// arithmetic is that AVX2 build's.
import {writeFileSync} from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, tokenList, outPath] = process.argv.slice(2);
if (!modelPath || !tokenList || !outPath) {
  console.error("usage: llama_logits.mjs MODEL TOKENS OUT.f32");
  process.exit(2);
}
const tokens = tokenList.split(",").map(Number);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const context = await model.createContext({
  contextSize: Math.max(64, tokens.length + 8), batchSize: 1, threads: 1, flashAttention: false,
  experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32"});
const sequence = context.getSequence();
const rows = [];
let vocab = 0;
for (let p = 0; p < tokens.length; ++p) {
  const [res] = await sequence.controlledEvaluate([[tokens[p], {generateNext: {logits: true}}]]);
  rows.push(res.next.logits);
  for (const token of res.next.logits.keys()) vocab = Math.max(vocab, token + 1);
}
const out = new Float32Array(tokens.length * vocab);
rows.forEach((logits, p) => {
  for (const [token, logit] of logits) out[p * vocab + token] = logit;
});
writeFileSync(outPath, Buffer.from(out.buffer));
console.log(JSON.stringify({tokens: tokens.length, vocab}));
await context.dispose();
await model.dispose();
await llama.dispose();
