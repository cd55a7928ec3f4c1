"""loupe for Python: TransformerLens-style access to GGUF, Hugging Face and llama2.c models on the CPU.

    import loupe
    m = loupe.load("model.gguf")
    logits, cache = m.run_with_cache("Once upon a time")
    cache["blocks.3.hook_resid_post"]            # numpy float32 [pos, d_model]

Shapes have no batch dimension: logits are [pos, d_vocab], residual hooks [pos, d_model],
attention maps [heads, query_pos, key_pos]. Every array is loupe's own copy (it outlives the
model). Hook functions get a writable copy of the live tensor; what they leave in it, or the
array they return, is written back before the next op runs. See docs/python.md.
"""

import fnmatch
import re

import numpy as np

from . import _loupe
from ._loupe import Hook, LoupeError

__all__ = [
    "load", "HookedModel", "ActivationCache", "Config", "Debugger", "Hook", "LoupeError",
    "lens", "attention", "attribute", "attribute_gradients", "eval", "activations", "diff", "explore", "word_cloud",
]


class Config:
    """The model's shape, as TransformerLens's cfg: d_model, n_layers, n_heads, n_kv_heads,
    d_head, d_mlp, d_vocab, n_ctx (trained), ctx (this run's), arch, dtype, ..."""

    def __init__(self, values):
        self.__dict__.update(values)

    def to_dict(self):
        return dict(self.__dict__)

    def __repr__(self):
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()) + ")"


def load(path, tokenizer=None, threads=None, ctx=None, q8_act=False, numerics="exact"):
    """Loads a model: a GGUF file, a Hugging Face folder or a llama2.c checkpoint.

    tokenizer: a tokenizer file when the model's is not beside it; threads: default all cores;
    ctx: positions of the KV cache (default the trained context, at most 4096); numerics:
    "exact" (the reference), "llama.cpp" (ggml's CPU arithmetic) or "q8" (q8_act=True)."""
    return HookedModel(_loupe.Model(str(path), tokenizer=None if tokenizer is None else str(tokenizer),
                                    threads=threads, ctx=ctx, numerics=numerics, q8_act=q8_act))


_SHORT = re.compile(r"^(resid_pre|resid_mid|resid_post|attn_out|mlp_out|q|k|v|z|pattern|attn_scores|"
                    r"rot_q|rot_k|pre|post|pre_linear|scale|normalized)$")
_UNDER = {"q": "attn.hook_q", "k": "attn.hook_k", "v": "attn.hook_v", "z": "attn.hook_z",
          "pattern": "attn.hook_pattern", "attn_scores": "attn.hook_attn_scores", "rot_q": "attn.hook_rot_q",
          "rot_k": "attn.hook_rot_k", "pre": "mlp.hook_pre", "post": "mlp.hook_post",
          "pre_linear": "mlp.hook_pre_linear"}


def _act_name(name, layer=None, layer_type=None):
    """TransformerLens's utils.get_act_name: ("resid_post", 3) -> "blocks.3.hook_resid_post"."""
    if layer is None:
        return name
    if name in _UNDER:
        return f"blocks.{layer}.{_UNDER[name]}"
    if name in ("scale", "normalized"):
        return f"blocks.{layer}.{layer_type or 'ln1'}.hook_{name}"
    return f"blocks.{layer}.hook_{name}"


class HookedModel:
    """A loaded model with TransformerLens's methods (see the module's docstring for shapes)."""

    def __init__(self, core):
        self._m = core
        self.cfg = Config(core.config())
        self._names = core.hook_names()
        self._weights = {}

    def __repr__(self):
        c = self.cfg
        return f"<loupe model {c.path} ({c.arch}, {c.dtype}, {c.n_layers} layers, d_model {c.d_model})>"

    # ---- hooks ----
    def hook_names(self):
        """Every hook point, in program order."""
        return list(self._names)

    def _hook_ids(self, names_filter):
        """Hook ids for a filter: None (every hook), a name / glob / short form, a list of those,
        or a function of the name (TransformerLens's names_filter)."""
        if names_filter is None:
            return list(range(len(self._names)))
        if callable(names_filter):
            return [i for i, n in enumerate(self._names) if names_filter(n)]
        if isinstance(names_filter, str):
            names_filter = [names_filter]
        ids = set()
        for pattern in names_filter:
            ids.update(self._m.resolve(str(pattern)))
        return sorted(ids)

    # ---- tokens ----
    def to_tokens(self, text, prepend_bos=True):
        """Token ids of text as an int32 array (BOS first when prepend_bos)."""
        return self._m.encode(text, bool(prepend_bos))

    def to_string(self, tokens):
        """The text of token ids (a 1-d array or list), or a list of texts for a 2-d one."""
        t = np.asarray(tokens)
        if t.ndim == 2:
            return [self._m.decode(row) for row in t]
        return self._m.decode(np.atleast_1d(t))

    def to_str_tokens(self, x, prepend_bos=True):
        """Each token's text: of a string (tokenised first) or of token ids."""
        t = self.to_tokens(x, prepend_bos) if isinstance(x, str) else np.atleast_1d(np.asarray(x))
        return [self._m.token_str(int(i)) for i in t]

    def to_single_token(self, text):
        t = self.to_tokens(text, prepend_bos=False)
        if len(t) != 1:
            raise ValueError(f"{text!r} is {len(t)} tokens, not one")
        return int(t[0])

    def _tokens(self, x, prepend_bos=True):
        if isinstance(x, str):
            return self.to_tokens(x, prepend_bos)
        t = np.asarray(x)
        if t.ndim == 2 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 1:
            raise ValueError(f"tokens: expected one sequence (1-d), got shape {t.shape}")
        return t.astype(np.int64, copy=False)

    # ---- running ----
    def _run(self, x, hooks=(), cache_ids=(), prepend_bos=True):
        t = self._tokens(x, prepend_bos)
        pairs = []
        for name, fn in hooks:
            for i in self._hook_ids(name):
                pairs.append((i, fn))
        # One pass over the whole input, as `loupe trace` runs it, when hooks or a cache see it.
        max_batch = max(len(t), 256) if (pairs or cache_ids) else 256
        return self._m.run(t, pairs, list(cache_ids), max_batch)

    def __call__(self, x, return_type="logits", prepend_bos=True):
        """Logits [pos, d_vocab] float32 of a text or token ids; return_type "loss" gives the mean
        next-token loss, "both" (logits, loss)."""
        logits, _ = self._run(x, prepend_bos=prepend_bos)
        return self._returns(logits, x, return_type, prepend_bos)

    forward = __call__

    def _returns(self, logits, x, return_type, prepend_bos):
        if return_type == "logits":
            return logits
        loss = self._loss_from(logits, self._tokens(x, prepend_bos), per_token=False)
        if return_type == "loss":
            return loss
        if return_type == "both":
            return logits, loss
        if return_type is None:
            return None
        raise ValueError(f"return_type: {return_type!r} (logits, loss, both or None)")

    @staticmethod
    def _loss_from(logits, tokens, per_token):
        if len(tokens) < 2:
            raise ValueError("loss needs at least two tokens")
        lp = logits[:-1].astype(np.float64)
        m = lp.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(lp - m).sum(axis=1))
        nll = lse - lp[np.arange(len(tokens) - 1), tokens[1:]]
        return nll if per_token else float(nll.mean())

    def loss(self, x, per_token=False, prepend_bos=True):
        """Next-token cross-entropy (nats): the mean, or per position [pos - 1] with per_token."""
        t = self._tokens(x, prepend_bos)
        logits, _ = self._m.run(t, [], [], 256)
        return self._loss_from(logits, t, per_token)

    def cache_bytes(self, x, names_filter=None, prepend_bos=True):
        """Bytes run_with_cache will keep for this input (known before running)."""
        n = len(self._tokens(x, prepend_bos))
        return sum(4 * int(np.prod(self._m.hook_shape(i, n))) for i in self._hook_ids(names_filter))

    def run_with_cache(self, x, names_filter=None, fwd_hooks=(), max_bytes=None, prepend_bos=True):
        """(logits, ActivationCache) of one run; the cache holds the chosen hooks' tensors after
        any fwd_hooks edited them. max_bytes refuses a cache that would be larger."""
        ids = self._hook_ids(names_filter)
        if max_bytes is not None:
            need = self.cache_bytes(x, names_filter, prepend_bos)
            if need > max_bytes:
                raise MemoryError(f"run_with_cache: the cache would take {need} bytes, over max_bytes={max_bytes}; "
                                  "narrow names_filter")
        logits, tensors = self._run(x, fwd_hooks, ids, prepend_bos)
        return logits, ActivationCache(tensors, self)

    def run_with_hooks(self, x, fwd_hooks=(), return_type="logits", prepend_bos=True):
        """Runs with hook functions: fwd_hooks is [(name, glob, short form or names filter, fn)];
        fn(activation, hook) edits the array in place or returns a replacement of the same shape.
        An exception in fn propagates (with the hook's name in a note); the model stays usable."""
        logits, _ = self._run(x, fwd_hooks, (), prepend_bos)
        return self._returns(logits, x, return_type, prepend_bos)

    def generate(self, x, max_new_tokens=10, temperature=0.0, top_k=None, top_p=None, seed=None,
                 fwd_hooks=(), prepend_bos=True, return_type="str"):
        """Generates after a prompt (greedy at temperature 0), with fwd_hooks on every pass
        (steering). return_type "str" (prompt and continuation), "tokens" or "dict"."""
        t = self._tokens(x, prepend_bos)
        pairs = [(i, fn) for name, fn in fwd_hooks for i in self._hook_ids(name)]
        r = self._m.generate(t, int(max_new_tokens), float(temperature), top_k, top_p, seed, pairs)
        if return_type == "dict":
            return r
        if return_type == "tokens":
            return r["tokens"]
        return r["text"]

    # ---- weights ----
    def weight(self, name):
        """A weight dequantised to float32, by its GGUF name (blk.0.attn_q.weight, output.weight,
        ...; [rows, cols] as stored: [out, in])."""
        return self._m.weight(name)

    def tensors(self):
        """The file's tensors: name, type, shape."""
        return self._m.tensors()

    def _stack(self, key, build):
        if key not in self._weights:
            a = build()
            a.setflags(write=False)
            self._weights[key] = a
        return self._weights[key]

    def _layers(self, fmt):
        if self.cfg.n_experts and "ffn_" in fmt:
            raise LoupeError("a mixture-of-experts model has no single MLP weight per layer (its experts' weights "
                             "are blk.N.ffn_*_exps in the file)")
        return np.stack([self.weight(fmt.format(l)) for l in range(self.cfg.n_layers)])

    def _heads_in(self, fmt, heads):
        # [L, heads * d_head, d_model] -> [L, heads, d_model, d_head]
        w = self._layers(fmt)
        L, _, d = w.shape
        return w.reshape(L, heads, self.cfg.d_head, d).transpose(0, 1, 3, 2).copy()

    @property
    def W_E(self):
        """[d_vocab, d_model]"""
        return self._stack("W_E", lambda: self.weight("token_embd.weight"))

    @property
    def W_pos(self):
        """[n_ctx, d_model] (GPT-2)"""
        return self._stack("W_pos", lambda: self.weight("position_embd.weight"))

    @property
    def W_U(self):
        """[d_model, d_vocab]"""
        return self._stack("W_U", lambda: self.weight("output.weight").T.copy())

    @property
    def W_Q(self):
        """[n_layers, n_heads, d_model, d_head]"""
        return self._stack("W_Q", lambda: self._heads_in("blk.{}.attn_q.weight", self.cfg.n_heads))

    @property
    def _W_K(self):
        """[n_layers, n_kv_heads, d_model, d_head]"""
        return self._stack("_W_K", lambda: self._heads_in("blk.{}.attn_k.weight", self.cfg.n_kv_heads))

    @property
    def _W_V(self):
        """[n_layers, n_kv_heads, d_model, d_head]"""
        return self._stack("_W_V", lambda: self._heads_in("blk.{}.attn_v.weight", self.cfg.n_kv_heads))

    def _per_head(self, w):
        g = self.cfg.n_heads // self.cfg.n_kv_heads
        return w if g == 1 else np.repeat(w, g, axis=1)

    @property
    def W_K(self):
        """[n_layers, n_heads, d_model, d_head] (grouped-query models: each KV head repeated)"""
        return self._stack("W_K", lambda: self._per_head(self._W_K))

    @property
    def W_V(self):
        """[n_layers, n_heads, d_model, d_head] (grouped-query models: each KV head repeated)"""
        return self._stack("W_V", lambda: self._per_head(self._W_V))

    @property
    def W_O(self):
        """[n_layers, n_heads, d_head, d_model]"""
        def build():
            w = self._layers("blk.{}.attn_output.weight")  # [L, d_model, heads * d_head]
            L, d, _ = w.shape
            return w.reshape(L, d, self.cfg.n_heads, self.cfg.d_head).transpose(0, 2, 3, 1).copy()
        return self._stack("W_O", build)

    @property
    def W_in(self):
        """[n_layers, d_model, d_mlp] (the up projection of a gated MLP)"""
        return self._stack("W_in", lambda: self._layers("blk.{}.ffn_up.weight").transpose(0, 2, 1).copy())

    @property
    def W_gate(self):
        """[n_layers, d_model, d_mlp] (gated MLPs)"""
        return self._stack("W_gate", lambda: self._layers("blk.{}.ffn_gate.weight").transpose(0, 2, 1).copy())

    @property
    def W_out(self):
        """[n_layers, d_mlp, d_model]"""
        return self._stack("W_out", lambda: self._layers("blk.{}.ffn_down.weight").transpose(0, 2, 1).copy())


class ActivationCache:
    """The tensors of a run_with_cache, by hook name: cache["blocks.0.hook_resid_post"],
    cache["resid_post", 0] (TransformerLens's short form) or any loupe short form ("resid_post0")."""

    def __init__(self, tensors, model):
        self._t = dict(tensors)
        self._model = model

    def __len__(self):
        return len(self._t)

    def __iter__(self):
        return iter(self._t)

    def keys(self):
        return self._t.keys()

    def values(self):
        return self._t.values()

    def items(self):
        return self._t.items()

    def __contains__(self, key):
        try:
            self._name(key)
            return True
        except KeyError:
            return False

    def _name(self, key):
        if isinstance(key, tuple):
            key = _act_name(*key)
        if key in self._t:
            return key
        if isinstance(key, str):
            try:
                for i in self._model._m.resolve(key):
                    n = self._model._names[i]
                    if n in self._t:
                        return n
            except LoupeError:
                pass
        raise KeyError(f"{key!r} is not in the cache ({len(self._t)} hooks; run_with_cache's names_filter chose them)")

    def __getitem__(self, key):
        return self._t[self._name(key)]

    def _cfg(self):
        return self._model.cfg

    def accumulated_resid(self, layer=None, incl_mid=False, apply_ln=False, pos_slice=None, return_labels=False):
        """The residual stream before each layer (and the final resid_post): [k, pos, d_model],
        k = layer + 1 components up to resid_pre of `layer` (None: every layer and the final)."""
        n = self._cfg().n_layers
        layer = n if layer is None or layer == -1 else layer
        if not 0 <= layer <= n:
            raise ValueError(f"layer {layer} is out of range (0 .. {n})")
        parts, labels = [], []
        for l in range(min(layer + 1, n)):
            parts.append(self[f"blocks.{l}.hook_resid_pre"])
            labels.append(f"{l}_pre")
            if incl_mid and l < layer:
                parts.append(self[f"blocks.{l}.hook_resid_mid"])
                labels.append(f"{l}_mid")
        if layer == n:
            parts.append(self[f"blocks.{n - 1}.hook_resid_post"])
            labels.append("final_post")
        return self._stacked(parts, labels, apply_ln, pos_slice, return_labels)

    def _stacked(self, parts, labels, apply_ln, pos_slice, return_labels):
        stack = np.stack(parts)
        if apply_ln:
            stack = self.apply_ln_to_stack(stack)
        if pos_slice is not None:
            stack = stack[:, pos_slice]
        return (stack, labels) if return_labels else stack

    def decompose_resid(self, layer=None, mode="all", incl_embeds=True, pos_slice=None, apply_ln=False,
                        return_labels=False):
        """The pieces the residual stream is the sum of: the embedding (and GPT-2's positional
        one), then each layer's attention and MLP outputs, up to resid_pre of `layer` (None: the
        final resid_post). mode "all", "attn" or "mlp" keeps those layer pieces."""
        n = self._cfg().n_layers
        layer = n if layer is None or layer == -1 else layer
        if not 0 <= layer <= n:
            raise ValueError(f"layer {layer} is out of range (0 .. {n})")
        parts, labels = [], []
        if incl_embeds:
            parts.append(self["hook_embed"])
            labels.append("embed")
            if "hook_pos_embed" in self._t:
                parts.append(self["hook_pos_embed"])
                labels.append("pos_embed")
        for l in range(layer):
            if mode in ("all", "attn"):
                parts.append(self[f"blocks.{l}.hook_attn_out"])
                labels.append(f"{l}_attn_out")
            if mode in ("all", "mlp"):
                parts.append(self[f"blocks.{l}.hook_mlp_out"])
                labels.append(f"{l}_mlp_out")
        return self._stacked(parts, labels, apply_ln, pos_slice, return_labels)

    def apply_ln_to_stack(self, stack, pos_slice=None):
        """The final norm applied to each component as the whole residual stream was normalised
        (the cached ln_final.hook_scale divides it, the norm's gain multiplies it; LayerNorm also
        centres each component), so the components' unembeddings add up to the logits."""
        cfg = self._cfg()
        scale = self["ln_final.hook_scale"]  # [rows, 1]
        if pos_slice is not None:
            scale = scale[pos_slice]
        x = np.asarray(stack, dtype=np.float64)
        if scale.shape[0] != x.shape[-2]:
            raise ValueError("apply_ln needs the final norm of every position (the cache has "
                             f"{scale.shape[0]} rows, the stack {x.shape[-2]})")
        if cfg.norm == "layernorm":
            x = x - x.mean(axis=-1, keepdims=True)
        gain = self._model.weight("output_norm.weight").astype(np.float64)
        return x / scale.astype(np.float64) * gain

    def logit_attrs(self, residual_stack, tokens, incorrect_tokens=None, pos_slice=None, has_ln=False):
        """Each component's direct contribution to the logit of `tokens` (one id, or one per
        position), minus that of incorrect_tokens when given: [k, pos]. The final norm is
        applied first unless has_ln says it already was; pos_slice says which positions the
        stack holds (as a slice of the run's)."""
        stack = residual_stack if has_ln else self.apply_ln_to_stack(residual_stack, pos_slice)
        W_U = self._model.W_U.astype(np.float64)
        pos = stack.shape[-2]
        tok = np.broadcast_to(np.asarray(tokens), (pos,))
        out = np.einsum("kpd,dp->kp", stack, W_U[:, tok])
        if incorrect_tokens is not None:
            bad = np.broadcast_to(np.asarray(incorrect_tokens), (pos,))
            out = out - np.einsum("kpd,dp->kp", stack, W_U[:, bad])
        return out


class Debugger:
    """loupe's debugger on a prompt, with the REPL's semantics: every method runs the command of
    the same name and returns its JSON reply (a dict); print() returns the tensor as an array."""

    def __init__(self, model, prompt, cache_mb=None):
        self._d = _loupe.Debugger(model._m, prompt, cache_mb)
        self.model = model

    def execute(self, line):
        """Any REPL command line; returns {"text": ..., "json": {...}}."""
        return self._d.execute(line)

    def _cmd(self, *words):
        return self._d.execute(" ".join(str(w) for w in words if w is not None and w != ""))["json"]

    def break_(self, where, condition=None):
        """break HOOK[SLICE] | layer L | op KIND | pos P | step S [if COND]"""
        return self._cmd("break", where, "if " + condition if condition else None)

    def run(self, prompt=None):
        return self._cmd("run", prompt)

    def step(self, n=None):
        return self._cmd("step", n)

    def next(self, n=None):
        return self._cmd("next", n)

    def continue_(self):
        return self._cmd("continue")

    def finish(self):
        return self._cmd("finish")

    def generate(self, n=None):
        return self._cmd("generate", n)

    def where(self):
        return self._cmd("where")

    def edit(self, spec):
        return self._cmd("edit", spec)

    def delete(self, n=None):
        return self._cmd("delete", n)

    def logits(self):
        """The logits of every position run so far: [pos, d_vocab]."""
        return self._d.logits()

    def print(self, expr):
        """The tensor an expression names at the current stop (positions absolute), as an array."""
        return self._d.tensor(expr)[0]


def _ids(model, x, prepend_bos=True):
    return model._tokens(x, prepend_bos)


def _token(model, t):
    # A string names a token as the commands' --target does (its text, or #id).
    return model._m.parse_token(t) if isinstance(t, str) else int(t)


def lens(model, x, top_k=5, target=None, prepend_bos=True):
    """The logit lens of `loupe lens --json`: every layer's prediction at every position."""
    return _loupe.lens(model._m, _ids(model, x, prepend_bos), top_k,
                       None if target is None else _token(model, target))


def attention(model, x, induction_len=20, seed=1, prepend_bos=True):
    """Per-head attention scores of `loupe attention --json` (sink, previous token, induction, entropy)."""
    return _loupe.attention(model._m, _ids(model, x, prepend_bos), induction_len, seed)


def attribute(model, x, target, pos=-1, occlusion=True, prepend_bos=True):
    """Direct logit attribution of `loupe attribute --json` for the target token (text or id)."""
    return _loupe.attribute(model._m, _ids(model, x, prepend_bos), _token(model, target), pos, occlusion)


def attribute_gradients(model, x, target, method="ig", pos=-1, logprob=False, layer=None, steps=50,
                        integration="gauss-legendre-graded", baseline="auto", corrupted=None, verify=3,
                        prepend_bos=True):
    """Gradient attribution of `loupe attribute --method ... --json`: method "ig" (integrated
    gradients; baseline "auto", "zero", "pad", "bos" or a prompt of as many tokens), "saliency",
    "grad-x-input", or "attribution-patching" (with `corrupted`, a prompt of as many tokens);
    `layer` a hook name (default the token embeddings, as LayerIntegratedGradients)."""
    other = []
    if method == "attribution-patching":
        if corrupted is None:
            raise ValueError("attribution-patching needs corrupted=PROMPT")
        other = _ids(model, corrupted, prepend_bos)
    elif baseline not in ("auto", "zero", "pad", "bos"):
        other, baseline = _ids(model, baseline, prepend_bos), "tokens"
    return _loupe.attribute_gradients(model._m, _ids(model, x, prepend_bos), _token(model, target), method, pos,
                                      logprob, layer or "", steps, integration, baseline, other, verify)


def eval(model, data, field="text", chunk=0, max_docs=0, format="auto", strict=False):  # noqa: A001
    """Per-token loss and perplexity over a corpus, as `loupe eval --json`."""
    return _loupe.eval(model._m, str(data), field, chunk, max_docs, format, strict)


def activations(model, data, hooks=(), field="text", chunk=0, max_docs=0, format="auto", strict=False):
    """Activation statistics over a corpus, as `loupe activations --json`."""
    return _loupe.activations(model._m, str(data), list(hooks), field, chunk, max_docs, format, strict)


def diff(reference, candidate, data, field="text", layers=True, lens=True, chunk=0, max_docs=0,  # noqa: A002
         format="auto", strict=False, n_worst=10):
    """Output and per-hook divergence of two models on a corpus, as `loupe diff --json`."""
    return _loupe.diff(reference._m, candidate._m, str(data), field, layers, lens, chunk, max_docs, format, strict,
                       n_worst)


def explore(inputs, model=None, field="text", format="auto", lowercase=False, top_k=20):
    """The corpus explorer's report (`loupe explore --json`) for files or folders."""
    if isinstance(inputs, str):
        inputs = [inputs]
    return _loupe.explore([str(i) for i in inputs], None if model is None else model._m, field, format, lowercase,
                          top_k)


def word_cloud(words, width=900, height=500, max_words=120, title=""):
    """An SVG word cloud (the text of the <svg> element) of {word: weight} or [(word, weight)]:
    sizes by the square root of the weight, no two words overlapping (explore's layout). For a
    corpus: word_cloud(dict(explore("corpus.txt")["top_ngrams"]["words"]["1"]))."""
    items = list(words.items()) if isinstance(words, dict) else [tuple(w) for w in words]
    return _loupe.word_cloud([(str(w), float(c)) for w, c in items], float(width), float(height), int(max_words),
                             title)
