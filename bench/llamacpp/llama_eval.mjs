// Bench helper (never a test): runs llama.cpp (through node-llama-cpp 3.22.1, CPU only) on a
// GGUF file and prints JSON on stdout.
//
//   node llama_eval.mjs probs MODEL.gguf 1,2,3,...   next-token probabilities after the tokens
//   node llama_eval.mjs speed MODEL.gguf P N THREADS prompt of P tokens, N generated, tokens/s
//
// `probs` prints {"top": [[token, p], ...], "probs": [p0, p1, ...]} (the whole distribution at
// temperature 1), so a caller can compare it with loupe's softmax of the last logits row.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [mode, modelPath, ...rest] = process.argv.slice(2);
if (!mode || !modelPath) {
  console.error("usage: llama_eval.mjs probs MODEL TOKENS | speed MODEL P N THREADS");
  process.exit(2);
}

// llama.cpp's own timings (llama_perf_context_print), caught from its log.
const perfLines = [];
const llama = await getLlama({
  gpu: false, build: "never", logLevel: process.env.LLAMA_LOG ?? LlamaLogLevel.info,
  logger: (level, message) => {
    if (message.includes("llama_perf_context_print")) perfLines.push(message);
    else if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal || process.env.LLAMA_LOG)
      process.stderr.write(`[llama.cpp] ${message}\n`);
  },
});
const model = await llama.loadModel({modelPath, gpuLayers: 0});

if (mode === "probs") {
  const tokens = rest[0].split(",").map(Number);
  const context = await model.createContext({contextSize: Math.max(64, tokens.length + 8),
                                             batchSize: Math.max(64, tokens.length), threads: 1});
  const sequence = context.getSequence();
  const it = sequence.evaluateWithMetadata(tokens, {probabilities: true}, {temperature: 1, topK: 1000000, topP: 1, minP: 0});
  const first = await it.next();
  const entries = [...first.value.probabilities.entries()];
  const probs = new Array(1 + Math.max(...entries.map(([token]) => token))).fill(0);
  for (const [token, p] of entries) probs[token] = p;
  const top = entries.sort((a, b) => b[1] - a[1]).slice(0, 5);
  console.log(JSON.stringify({top, probs: Array.from(probs)}));
  await it.return();
} else if (mode === "speed") {
  const [p, n, threads] = rest.map(Number);
  const context = await model.createContext({contextSize: p + n + 8, batchSize: p, threads,
                                             performanceTracking: true});
  const sequence = context.getSequence();
  const prompt = Array.from({length: p}, (_, i) => 1 + ((i * 7919) % 200));
  let t0 = performance.now();
  const it = sequence.evaluate(prompt, {temperature: 0});
  await it.next();  // the prompt is decoded and the first token sampled
  const tPrompt = (performance.now() - t0) / 1000;
  t0 = performance.now();
  for (let i = 1; i < n; ++i) await it.next();
  const tGen = (performance.now() - t0) / 1000;
  await it.return();
  await context.printTimings();
  // "prompt eval time = X ms / P tokens" and "eval time = Y ms / N runs": llama.cpp's rates
  // without the JavaScript around each token; pp_js / tg_js are the wall-clock rates seen here.
  const rate = (key) => {
    const line = perfLines.find((l) => key.test(l));
    const m = line && line.match(/=\s*([0-9.]+) ms \/\s*([0-9]+)/);
    return m ? (1000 * Number(m[2])) / Number(m[1]) : null;
  };
  console.log(JSON.stringify({pp: rate(/prompt eval time/), tg: rate(/print:\s+eval time/),
                              pp_js: p / tPrompt, tg_js: (n - 1) / tGen}));
} else {
  console.error(`unknown mode '${mode}'`);
  process.exit(2);
}
await model.dispose();
await llama.dispose();
