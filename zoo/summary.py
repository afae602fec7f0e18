"""Model summaries: a Keras-style layer table (output shape, trainable parameters), catalogue rows and the one
way a metric over seeds is written in every table (:func:`format_mean_sd`).

Used by ``genozoo info`` and ``genozoo list``; computed by running one encoded random batch through the model with
forward hooks, so the shapes shown are the real ones.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from zoo.encoding import encode

# torch is imported inside the functions that run a model: `genozoo list --pretrained` formats tables from the
# published records alone, and importing torch took most of its start-up (4-6 s cold).


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: str
    params: int


def random_sequences(n: int, length: int, seed: int = 0) -> list[str]:
    """``n`` uniform random DNA sequences of ``length`` bp (for shapes, smoke tests and benchmarks)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, length), dtype=np.uint8)
    return [bytes(r).decode("ascii") for r in np.frombuffer(b"ACGT", dtype=np.uint8)[codes]]


def _shape(out) -> str:
    import torch

    if isinstance(out, torch.Tensor):
        return "(" + ", ".join(["N", *map(str, out.shape[1:])]) + ")"
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return _shape(out[0])
    if hasattr(out, "logits"):
        return _shape(out.logits)
    return "-"


def layer_table(model: "torch.nn.Module") -> list[LayerRow]:
    """One row per leaf module (and per module with direct parameters), in execution order."""
    import torch
    from torch import nn

    rows: dict[str, LayerRow] = {}
    order: list[str] = []
    hooks = []
    for name, module in model.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
        empty_container = isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)) and not own
        if name and not (empty_container and not list(module.children())) and (not list(module.children()) or own):
            def hook(mod, inp, out, name=name, own=own):
                if name not in rows:
                    order.append(name)
                rows[name] = LayerRow(name, type(mod).__name__, _shape(out), own)
            hooks.append(module.register_forward_hook(hook))
    x = encode(random_sequences(2, model.seq_len), model.encoding)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return [rows[n] for n in order]


def format_mean_sd(mean: float | None, sd: float | None = None, n: int | None = None) -> str:
    """``0.873 ± 0.012`` for a metric over seeds; just ``0.873`` when ``n`` is 1 or ``sd`` is unknown (the sd of
    one run is undefined, and ``± 0.000`` would claim a spread of zero); ``-`` for a missing or nan mean."""
    if mean is None or math.isnan(mean):
        return "-"
    if sd is None or math.isnan(sd) or (n is not None and n < 2):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {sd:.3f}"


def format_table(headers: list[str], rows: list[list], align: str | None = None) -> str:
    """A plain-text table; ``align`` is a string of 'l'/'r' per column."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    align = align or "l" * len(headers)

    def fmt(r):
        return "  ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(r, widths, align)).rstrip()

    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *map(fmt, cells)])


def describe_encoding(enc) -> str:
    if enc.kind in ("kmer_image", "kmer_seq"):
        return f"{enc.kind}(k={enc.k},r={enc.region})"
    return enc.kind


def rank_order(r: dict[str, dict[str, float]]) -> list[str]:
    """Models by mean rank, those ranked on more datasets first (a mean over one easy dataset is not robust)."""
    return sorted(r, key=lambda a: (-len(r[a]), statistics.fmean(r[a].values())))
