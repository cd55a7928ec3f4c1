// Shapes of the loupe serve API's replies (see the fixtures for real examples).

export interface Info {
  model: string;
  reference: string | null;
  arch: string;
  n_layers: number;
  n_heads: number;
  d_model: number;
  d_vocab: number;
  n_ctx: number;
  numerics: string;
  hooks: string[];
  data: string[];
  store: boolean;
}

export interface TopToken {
  id: number;
  text: string;
  p: number;
}

export interface RunToken {
  id: number;
  text: string;
  loss: number | null;
  entropy: number | null;
  rank: number | null;
  top: TopToken[];
}

export interface RunReply {
  tokens: RunToken[];
  next: TopToken[];
  mean_loss: number | null;
}

export interface GenerateReply {
  text: string;
  tokens: { id: number; text: string }[];
  n_prompt: number;
  stop: string;
}

export interface LensTop {
  token: number;
  text: string;
  p: number;
}

export interface LensPosition {
  top: LensTop[];
  kl_to_final: number | null;
  entropy: number | null;
}

export interface LensRow {
  hook: string;
  layer: number;
  positions: LensPosition[];
}

export interface LensReply {
  tokens: number[];
  token_texts: string[];
  target?: unknown;
  rows: LensRow[];
  final?: LensRow | null;
}

export interface HeadScores {
  layer: number;
  head: number;
  entropy: number;
  sink: number;
  prev_token: number;
  induction: number;
}

export interface AttentionReply {
  tokens: number[];
  token_texts: string[];
  n_layers: number;
  n_heads: number;
  heads: HeadScores[];
  chance?: (Omit<HeadScores, 'head'>)[];
  patterns: number[][][][]; // [layer][head][query][key]
}

export interface Histogram {
  lo: number;
  hi: number;
  counts: number[];
}

export interface MassiveDim {
  dim: number;
  max_abs: number;
  ratio: number;
}

export interface HookStats {
  hook?: string;
  name?: string;
  layer: number;
  width?: number;
  positions?: number;
  count?: number;
  mean: number | null;
  std: number | null;
  kurtosis: number | null;
  min: number | null;
  max: number | null;
  nan: number;
  inf: number;
  mean_abs: number | null;
  mean_norm: number | null;
  histogram: Histogram;
  massive: MassiveDim[];
  dead_neurons?: number[];
  always_on_neurons?: number[];
}

export interface ActivationsReply {
  model?: string;
  n_docs?: number;
  n_tokens?: number;
  hooks: HookStats[];
  massive?: unknown;
  dead?: unknown;
  always_on?: unknown;
}

export interface DiffLayer {
  hook: string;
  layer: number;
  op: string;
  nmse: number | null;
  cosine: number | null;
  max_abs_diff: number | null;
  lens_kl: number | null;
  n_values?: number;
  nonfinite_mismatch?: number;
}

export interface DiffPoint {
  hook: string;
  op: string;
  nmse: number;
  max_nmse_before: number;
}

export interface WorstToken {
  doc: number;
  line: number;
  pos: number;
  token: number;
  text: string;
  context: string;
  kld: number;
  p_reference: number;
  p_candidate: number;
  top_reference: number;
  top_candidate: number;
}

export interface DiffReply {
  reference: string;
  candidate: string;
  n_docs: number;
  n_sequences?: number;
  n_tokens: number;
  n_tokens_scored: number;
  ppl: Record<string, number>;
  kld: { mean: number; error?: number; max: number; median: number; min: number; percentiles: Record<string, number> };
  delta_p?: { mean: number; rms?: number; percentiles?: Record<string, number> };
  same_top_p: number;
  same_top_p_error?: number;
  layers: DiffLayer[];
  first_divergence: DiffPoint | null;
  largest_jump: DiffPoint | null;
  worst_tokens: WorstToken[];
}

export interface ProfileRow {
  calls: number;
  ms: number;
  percent: number;
  gflop?: number;
  gbytes?: number;
  gflops?: number;
  gbs?: number;
  bound?: string;
  roofline_percent?: number;
}

export interface ProfileKind extends ProfileRow {
  kind: string;
}

export interface ProfileLayer extends ProfileRow {
  layer: number;
}

export interface ProfileOp extends ProfileRow {
  op: number;
  label: string;
  kind: string;
  layer: number;
  type?: string;
}

export interface ProfilePhase {
  phase: string;
  passes: number;
  tokens: number;
  seconds: number;
  tokens_per_s: number;
  ops_seconds: number;
  total: ProfileRow;
  by_kind: ProfileKind[];
  by_layer?: ProfileLayer[];
  ops?: ProfileOp[];
}

export interface TraceEvent {
  name: string;
  ph: string;
  pid?: number;
  tid?: number;
  cat?: string;
  ts?: number;
  dur?: number;
  args?: Record<string, unknown>;
}

export interface ProfileReply {
  model?: string;
  model_type?: string;
  n_threads?: number;
  peaks?: Record<string, unknown>;
  phases: ProfilePhase[];
  memory?: Record<string, number>;
  trace?: { traceEvents: TraceEvent[] };
}

export interface Percentiles {
  [k: string]: number;
}

export interface DocExample {
  source: string;
  line: number;
  snippet: string;
  characters?: number;
  original_source?: string;
  original_line?: number;
}

export interface ExploreReply {
  sources: string[];
  documents: number;
  characters: number;
  bytes: number;
  words: number;
  lines: number;
  empty_documents: number;
  whitespace_only_documents: number;
  exact_duplicate_documents: number;
  near_duplicate_documents: number;
  control_characters?: number;
  invalid_utf8?: { documents: number; bytes: number };
  length_percentiles: Record<string, Percentiles>;
  longest_documents?: DocExample[];
  shortest_documents?: DocExample[];
  top_ngrams: Record<string, Record<string, [string, number][]>>;
  duplicates?: {
    exact_duplicate_documents: number;
    exact_duplicate_groups: number;
    near_duplicate_documents: number;
    checked_documents?: number;
    unchecked_documents?: number;
    near_method?: string;
    exact_examples: DocExample[];
    near_examples: DocExample[];
  };
  problems?: { count: number; list: unknown[] } | unknown[];
  tokenizer?: Record<string, unknown>;
}

export interface Where {
  state: string;
  pass?: number;
  positions?: number[];
  tokens?: number[];
  op?: number;
  label?: string;
  kind?: string;
  layer?: number;
  hook?: string | null;
  shape?: number[];
  pc?: number;
  n_ops?: number;
  frames?: { frame: string; text: string }[];
}

export interface ListingOp {
  op: number;
  label: string;
  kind: string;
  hook: string | null;
  shape: number[] | null;
  next: boolean;
  breakpoint: boolean;
}

export interface Breakpoint {
  id: number;
  location: string;
  condition: string | null;
  enabled: boolean;
  temporary: boolean;
  hits: number;
  ignore?: number;
  commands?: string[];
}

export interface EditEntry {
  id: number;
  kind?: string;
  text?: string;
}

export interface Watch {
  id: number;
  expr: string;
}

export interface DebugState {
  active: boolean;
  prompt: string;
  where?: Where | null;
  listing?: ListingOp[] | null;
  breakpoints?: Breakpoint[] | null;
  edits?: EditEntry[] | null;
  watches?: Watch[] | null;
  next_token?: TopToken | null;
}

export interface DebugReply {
  text: string;
  json: Record<string, unknown> | null;
  state: DebugState;
}

export interface EffectReply {
  before: TopToken[];
  after: TopToken[];
}

export interface ProgressEvent {
  task: string;
  done: number;
  total: number;
  unit: string;
  elapsed_s: number;
}
