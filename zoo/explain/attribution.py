"""Per-nucleotide attributions of a model's prediction: saliency (gradient x input), integrated gradients (both
computed by Captum) and in-silico mutagenesis, for every input representation genozoo models take.

Attributions always live on the nucleotides, whatever the model eats. The gradient methods differentiate with
respect to a nucleotide one-hot ``(N, 4, L)`` and rebuild the model's own input from it differentiably:

* ``onehot`` models take it as it is;
* k-mer models (``kmer_seq``, ``kmer_image``): the one-hot of the k-mer starting at ``p`` is the product of the
  one-hot entries of its ``k`` bases (and region stacking shifts those words), which equals
  :func:`zoo.encoding.kmer_onehot` exactly on a real sequence and lets the gradient reach each base;
* token models (``tokens``): the model still receives its token ids, and a forward hook on the embedding layer
  that reads them replaces the embedding of every A/C/G/T position by ``onehot @ W[A,C,G,T]`` (equal to the
  looked-up rows on a real sequence). Gradient x input is then the embedding-level gradient x input of each base.
  Models whose embedding does not read the token tensor directly (the BERT baselines re-tokenize it, doc2vec
  is not differentiable) support in-silico mutagenesis only, and the gradient methods say so.

In-silico mutagenesis needs no gradient and works for any model: every base is mutated to the three others.

The attributed quantity is the log-odds of the target class, ``log p_c - log(1 - p_c)`` (the logit itself for a
binary model); the target is the predicted class unless given. Integrated gradients integrate from the all-zero
one-hot (the encoding of padding, i.e. "no sequence"). The per-position score is the attribution summed over the
four bases for the gradient methods (only the observed base is non-zero), and for mutagenesis the mean drop of
the log-odds over the three possible substitutions (positive: the observed base supports the class).
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from zoo.encoding import ALPHABET, PAD, Encoding, clean, encode_codes, one_hot, to_codes, tokens
from zoo.errors import UserError

__all__ = ["METHODS", "METHOD_TITLES", "Attributions", "attribute", "saliency", "integrated_gradients",
           "in_silico_mutagenesis", "supported_methods", "nucleotide_representation", "GradientUnsupportedError",
           "METHOD_ALIASES"]

METHODS = ("saliency", "integrated_gradients", "ism")
#: What each method is called wherever a person reads it (logo titles, the space's method picker): one source, so
#: the picture names the method the button said.
METHOD_TITLES = {"saliency": "saliency (gradient x input)", "integrated_gradients": "integrated gradients",
                 "ism": "in-silico mutagenesis"}
#: Other names :func:`attribute`, ``genozoo explain --method`` and the space take for the methods.
METHOD_ALIASES = {"ig": "integrated_gradients", "integrated-gradients": "integrated_gradients",
                  "gradient_x_input": "saliency", "grad_x_input": "saliency", "mutagenesis": "ism",
                  "in_silico_mutagenesis": "ism"}


class GradientUnsupportedError(UserError):
    """The model's input cannot be differentiated down to the nucleotides; in-silico mutagenesis still works."""


@dataclass
class Attributions:
    """Attributions of a set of sequences, in each input sequence's own coordinates (1 row per base).

    ``matrices[i]`` is ``(len_i, 4)`` over ``A C G T``: gradient x input (non-zero only at the observed base) or,
    for ``ism``, the change of the log-odds when the base is replaced by each letter (0 at the observed one).
    ``scores[i]`` is ``(len_i,)``, the per-position attribution. Positions the model never saw (cropped away)
    are ``nan``.
    """

    ids: list[str]
    sequences: list[str]
    method: str
    targets: list[int]
    label_names: list[str]
    probabilities: np.ndarray
    matrices: list[np.ndarray]
    scores: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)

    def peak(self, i: int) -> int:
        """0-based position of the largest attribution of sequence ``i``."""
        return int(np.nanargmax(self.scores[i]))

    def to_rows(self) -> list[dict[str, Any]]:
        """A long table: one row per sequence and position (``position`` 1-based)."""
        rows = []
        for i, ident in enumerate(self.ids):
            label = self.label_names[self.targets[i]]
            for p, (base, score, m) in enumerate(zip(self.sequences[i], self.scores[i].tolist(),
                                                     self.matrices[i].tolist())):
                rows.append({"id": ident, "position": p + 1, "base": base, "target": label, "score": score,
                             **dict(zip(ALPHABET, m))})
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: method, labels, and per sequence its id, target, probability, scores and matrix."""
        def clean(a: np.ndarray) -> list:
            return [None if v != v else v for v in a.tolist()] if a.ndim == 1 else [clean(r) for r in a]

        return {"method": self.method, "label_names": list(self.label_names), "alphabet": ALPHABET,
                "sequences": [{"id": ident, "sequence": self.sequences[i],
                               "target": self.label_names[self.targets[i]],
                               "probability": float(self.probabilities[i, self.targets[i]]),
                               "scores": clean(self.scores[i]), "matrix": clean(self.matrices[i])}
                              for i, ident in enumerate(self.ids)]}


# ------------------------------------------------------------------------------ differentiable encodings
def _kmer_words(x: torch.Tensor, k: int) -> torch.Tensor:
    """``(N, 4, L)`` one-hot -> ``(N, 4**k, L-k+1)`` k-mer one-hot as products of base one-hots (first base most
    significant, as :func:`zoo.encoding.kmer_index`)."""
    n, _, L = x.shape
    P = L - k + 1
    w = x[:, :, :P]
    for j in range(1, k):
        w = (w[:, :, None, :] * x[:, None, :, j:j + P]).reshape(n, -1, P)
    return w


def nucleotide_representation(x: torch.Tensor, enc: Encoding) -> torch.Tensor:
    """The model input of ``enc`` computed differentiably from a nucleotide one-hot ``x`` ``(N, 4, L)``
    (token encodings excepted: they go through the embedding hook)."""
    if enc.kind == "onehot":
        return x
    if enc.kind not in ("kmer_seq", "kmer_image"):
        raise ValueError(f"no differentiable path for the {enc.kind!r} encoding")
    words = _kmer_words(x, enc.k)
    P = words.shape[2]
    blocks = [words]
    for j in range(1, enc.region + 1):  # region stacking: block j at p holds the word at p + j (zero past the end)
        blocks.append(torch.nn.functional.pad(words[:, :, j:], (0, min(j, P))))
    out = torch.cat(blocks, dim=1)
    return out.transpose(1, 2).unsqueeze(1) if enc.kind == "kmer_image" else out


class _EmbeddingBridge:
    """Forward hooks that feed a nucleotide one-hot into the embedding layer reading the model's token tensor."""

    def __init__(self, model: nn.Module):
        self.embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
        # Models that may skip the per-position lookup (cnn_deepdbp's token table) must do it while bridged.
        self.lookups = [m for m in model.modules() if getattr(m, "token_lookup", False)]
        self.x: torch.Tensor | None = None
        self.tok: torch.Tensor | None = None
        self.fired = False

    def _hook(self, module: nn.Embedding, args: tuple, output: torch.Tensor):
        if self.tok is None or not args or args[0] is not self.tok:
            return None
        self.fired = True
        # A/C/G/T are tokens 2..5 (zoo.encoding.TOKENS); N and PAD keep their looked-up rows.
        acgt = self.x.transpose(1, 2).to(module.weight.dtype) @ module.weight[2:6]
        return acgt + (self.tok < 2).unsqueeze(-1) * output

    @contextlib.contextmanager
    def active(self):
        handles = [e.register_forward_hook(self._hook) for e in self.embeddings]
        for m in self.lookups:
            m.token_lookup = False
        try:
            yield self
        finally:
            for h in handles:
                h.remove()
            for m in self.lookups:
                m.token_lookup = True


def _log_odds(model, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Log-odds of the target class per row, from logits."""
    logits = logits.float()
    if logits.shape[1] == 1:
        z = logits[:, 0]
        return torch.where(target == 1, z, -z)
    own = logits.gather(1, target[:, None])[:, 0]
    others = logits.masked_fill(torch.nn.functional.one_hot(target, logits.shape[1]).bool(), float("-inf"))
    return own - torch.logsumexp(others, dim=1)


def _scorer(model, enc: Encoding):
    """``f(x_nuc, tok, target) -> (N,)`` log-odds, differentiable in the nucleotide one-hot ``x_nuc``."""
    if enc.kind != "tokens":
        def f(x, tok, target):
            return _log_odds(model, model(nucleotide_representation(x, enc)), target)
        return f, contextlib.nullcontext()
    bridge = _EmbeddingBridge(model)

    def f(x, tok, target):
        bridge.x, bridge.tok, bridge.fired = x, tok, False
        out = _log_odds(model, model(tok), target)
        if not bridge.fired:
            raise GradientUnsupportedError(
                f"{type(model).__name__} does not look its tokens up in an embedding layer directly, so gradient "
                "attributions cannot reach the nucleotides; use method 'ism' (in-silico mutagenesis)")
        return out
    return f, bridge.active()


def supported_methods(model) -> tuple[str, ...]:
    """The attribution methods that work for ``model``, in :data:`METHODS` order (the first is the best default).

    In-silico mutagenesis works for every classifier. The gradient methods need a differentiable path from the
    nucleotides to the output: one-hot and k-mer encodings always have one; a token model has one only when an
    embedding layer looks its token tensor up directly, which is checked by running the model once on a short
    probe sequence with the embedding bridge in place (BERT re-tokenizes, doc2vec infers its vector by Newton
    steps: neither fires the bridge). The probe's answer is kept on the model, so asking again costs nothing.
    """
    cached = getattr(model, "_genozoo_attribution_methods", None)
    if cached is not None:
        return cached
    from zoo.predict import _check_classifier

    _check_classifier(model)
    enc = model.encoding
    gradients = enc.kind in ("onehot", "kmer_seq", "kmer_image")
    if enc.kind == "tokens":
        from zoo.predict import resolve_device

        dev = resolve_device(None, model)
        codes = to_codes(["ACGT" * 4], enc.length, pad_mode=enc.pad_mode, ambiguity=enc.ambiguity)
        f, ctx = _scorer(model, enc)
        x = torch.from_numpy(one_hot(codes, 0.0)).to(dev)
        tok = torch.from_numpy(tokens(codes)).to(dev)
        was_training = model.training
        model.eval()
        try:
            with ctx, torch.no_grad():
                f(x, tok, torch.zeros(1, dtype=torch.int64, device=dev))
            gradients = True
        except GradientUnsupportedError:
            gradients = False
        finally:
            model.train(was_training)
    methods = METHODS if gradients else ("ism",)
    try:
        model._genozoo_attribution_methods = methods
    except AttributeError:  # a module that refuses attributes: probe again next time
        pass
    return methods


def _check_supported(model, method: str) -> None:
    if method not in supported_methods(model):
        raise GradientUnsupportedError(
            f"{type(model).__name__} does not look its tokens up in an embedding layer directly, so "
            f"{METHOD_TITLES[method]} cannot reach the nucleotides; use method 'ism' (in-silico mutagenesis)")


# ---------------------------------------------------------------------------------------------- methods
def _prepare(model, sequences, ids, target, device, batch_size, max_length=None):
    from zoo.io import checked_strings, sequence_list
    from zoo.predict import (UnreliableInput, _check_classifier, _inference, _length_stats, _max_length,
                             resolve_device, whole_number)

    _check_classifier(model)
    # The input predict accepts, refused alike (zoo.io.sequence_list); explanation is not the fast path, so every
    # entry is checked up front.
    names, seqs = sequence_list(sequences, ids, verb="explain")
    seqs = checked_strings(seqs, names)
    batch_size = whole_number(batch_size, "batch_size", "--batch-size", 64)
    # The same refusals as predict: an empty sequence, or one far longer than the model's input; and, for input
    # that encodes, its warning when an answer carries no or little information (an explanation cannot tell more).
    stats = _length_stats(names, seqs, model, _max_length(model, max_length))
    enc = model.encoding
    codes = to_codes(seqs, enc.length, pad_mode=enc.pad_mode, ambiguity=enc.ambiguity, ids=names)
    if (note := stats.unreliable_message()) is not None:
        warnings.warn(note, UnreliableInput, stacklevel=3)
    dev = resolve_device(device, model)
    with _inference(model, dev), torch.inference_mode():  # eval mode: no dropout in the predicted probabilities
        probs = torch.cat([model.probabilities(model(encode_codes(c, enc).to(dev))).float().cpu()
                           for c in np.array_split(codes, max(1, -(-len(codes) // batch_size)))]).numpy()
    if target is None:
        targets = probs.argmax(1)
    else:
        t = _target_index(model, target)
        targets = np.full(len(seqs), t)
    return seqs, names, codes, dev, probs, targets.astype(np.int64), batch_size


def _target_index(model, target: int | str) -> int:
    names = list(model.label_names)
    if isinstance(target, str) and target in names:
        return names.index(target)
    bad = UserError(f"target class {target!r} is not one of this model's labels ({', '.join(names)})")
    if isinstance(target, bool) or isinstance(target, float) and not target.is_integer():
        raise bad  # True or 1.5 is no class index (int() would make them 1)
    try:
        t = int(target)
    except (TypeError, ValueError):
        raise bad from None
    if not 0 <= t < len(names):
        raise UserError(f"target class {t} is out of range; this model has classes 0..{len(names) - 1} "
                        f"({', '.join(names)})")
    return t


def _gradient_method(model, codes, targets, dev, method: str, batch_size: int, n_steps: int) -> np.ndarray:
    """``(N, L, 4)`` gradient x input or integrated gradients on the nucleotide one-hot (Captum)."""
    from captum.attr import InputXGradient, IntegratedGradients

    enc = model.encoding
    f, ctx = _scorer(model, enc)
    out = []
    # cuDNN refuses RNN backward in eval mode; the native kernels give the same numbers.
    with ctx, torch.backends.cudnn.flags(enabled=False):
        for start in range(0, len(codes), batch_size):
            c = codes[start:start + batch_size]
            x = torch.from_numpy(one_hot(c, enc.n_value if enc.kind == "onehot" else 0.0)).to(dev)
            tok = torch.from_numpy(tokens(c)).to(dev)
            tgt = torch.from_numpy(targets[start:start + batch_size]).to(dev)
            x.requires_grad_(True)
            if method == "saliency":
                attr = InputXGradient(f).attribute(x, additional_forward_args=(tok, tgt))
            else:
                attr = IntegratedGradients(f).attribute(x, baselines=torch.zeros_like(x), n_steps=n_steps,
                                                        additional_forward_args=(tok, tgt),
                                                        internal_batch_size=batch_size)
            out.append(attr.detach().float().cpu().numpy().transpose(0, 2, 1))
    return np.concatenate(out)


@torch.inference_mode()
def _ism(model, codes, targets, dev, batch_size: int) -> np.ndarray:
    """``(N, L, 4)``: log-odds change when each base is replaced by each letter (0 at the observed base and at
    N/PAD positions, which are not mutated)."""
    enc = model.encoding
    n, L = codes.shape
    out = np.zeros((n, L, 4), dtype=np.float32)

    def score(c: np.ndarray, tgt: np.ndarray) -> np.ndarray:
        res = []
        for s in range(0, len(c), batch_size):
            x = encode_codes(c[s:s + batch_size], enc).to(dev)
            t = torch.from_numpy(tgt[s:s + batch_size]).to(dev)
            res.append(_log_odds(model, model(x), t).cpu().numpy())
        return np.concatenate(res)

    for i in range(n):
        ref = codes[i]
        pos = np.flatnonzero(ref < 4)
        alts = (ref[pos, None] + np.arange(1, 4)[None, :]) % 4  # the three other bases at each position
        mutants = np.repeat(ref[None], len(pos) * 3 + 1, axis=0)
        rows = np.arange(1, len(pos) * 3 + 1)
        mutants[rows, np.repeat(pos, 3)] = alts.reshape(-1)
        s = score(mutants, np.full(len(mutants), targets[i]))
        out[i, np.repeat(pos, 3), alts.reshape(-1)] = s[1:] - s[0]
    return out


def _to_input_frame(seqs: Sequence[str], codes: np.ndarray, matrix: np.ndarray, scores: np.ndarray, enc: Encoding):
    """Map ``(N, L, ...)`` model-frame arrays back to each sequence's own coordinates (same offsets as
    :func:`zoo.encoding.to_codes`); positions cropped away become ``nan``."""
    L = codes.shape[1]
    mats, scs = [], []
    for i, s in enumerate(seqs):
        n = len(s)
        offset = (L - n) // 2 if enc.pad_mode == "center" else 0
        q = np.arange(n) + offset
        ok = (q >= 0) & (q < L)
        m = np.full((n, 4), np.nan, dtype=np.float32)
        sc = np.full(n, np.nan, dtype=np.float32)
        m[ok], sc[ok] = matrix[i, q[ok]], scores[i, q[ok]]
        mats.append(m)
        scs.append(sc)
    return clean(seqs, ambiguity=enc.ambiguity), mats, scs


def attribute(model, sequences: str | bytes | Sequence[str] | Mapping[str, str], method: str = "integrated_gradients",
              *, ids: Sequence[str] | None = None, target: int | str | None = None,
              device: str | torch.device | None = None, batch_size: int | None = 64, n_steps: int = 50,
              max_length: int | None = None) -> Attributions:
    """Per-nucleotide attributions of ``model``'s prediction for each sequence.

    ``method``: ``saliency`` (gradient x input), ``integrated_gradients`` (``ig``; ``n_steps`` steps from the
    all-zero one-hot) or ``ism`` (in-silico mutagenesis). ``target``: a class name or index (default: the
    predicted class of each sequence). Sequences are refused as :func:`zoo.predict.predict` refuses them: empty,
    or longer than ``max_length`` (default: 10x the model's input length). ``sequences`` and ``ids`` are what
    :func:`zoo.predict.predict` takes (a string, ASCII bytes, a list, an ``{id: sequence}`` dict, a pandas
    Series whose index gives the ids); ``batch_size=None`` is the default (64).
    """
    name = METHOD_ALIASES.get(method, method)
    if name not in METHODS:
        raise UserError(f"unknown attribution method {method!r}; choose saliency, integrated_gradients (ig) or ism")
    from zoo.predict import whole_number

    n_steps = whole_number(n_steps, "n_steps", "--steps")
    seqs, names, codes, dev, probs, targets, batch_size = _prepare(model, sequences, ids, target, device, batch_size,
                                                                   max_length)
    _check_supported(model, name)  # after _prepare: a model that is no classifier is refused as such first
    from zoo.predict import _inference

    with _inference(model, dev):
        if name == "ism":
            matrix = _ism(model, codes, targets, dev, max(batch_size, 256))
            scores = -matrix.sum(axis=2) / 3.0
        else:
            matrix = _gradient_method(model, codes, targets, dev, name, batch_size, n_steps)
            scores = matrix.sum(axis=2)
    scores[codes == PAD] = np.nan
    cleaned, mats, scs = _to_input_frame(seqs, codes, matrix, scores, model.encoding)
    return Attributions(names, cleaned, name, targets.tolist(), list(model.label_names), probs, mats, scs)


def saliency(model, sequences, **kwargs) -> Attributions:
    """Gradient x input on the nucleotide one-hot (see :func:`attribute`)."""
    return attribute(model, sequences, "saliency", **kwargs)


def integrated_gradients(model, sequences, **kwargs) -> Attributions:
    """Integrated gradients from the all-zero one-hot (see :func:`attribute`)."""
    return attribute(model, sequences, "integrated_gradients", **kwargs)


def in_silico_mutagenesis(model, sequences, **kwargs) -> Attributions:
    """Every base mutated to the three others; works for any model (see :func:`attribute`)."""
    return attribute(model, sequences, "ism", **kwargs)
