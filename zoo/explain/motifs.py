"""First-layer convolution filters as position weight matrices: found from activations, written in MEME format,
and matched against known motifs (a dict of matrices, or JASPAR through ``pyjaspar`` when it is installed).

Activation-based PWMs (as in Basset / DeepBind analyses): run sequences through the model, record the first
convolution's output, and for each filter collect the nucleotide windows whose activation exceeds ``threshold``
times that filter's largest activation; the base frequencies of the aligned windows are the PWM. This works for
every input representation because the window is taken in nucleotides: a convolution over positions of a
one-hot or token embedding sees ``kernel`` bases; over k-mer positions (k-mer models, region ``r``) it sees
``kernel + k - 1 + r`` bases. On a 2-D convolution (the k-mer image CNNs, DeepDBP) the first axis is the position
and the largest activation across the second is used. Models without a convolution (LSTM-only, BERT) have no
filters to export and say so.

Matching is a small Tomtom-like score: the best mean Pearson correlation of aligned columns over all offsets with
at least ``min_overlap`` columns, on both strands.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from zoo.encoding import ALPHABET, encode_codes, to_codes
from zoo.errors import UserError

__all__ = ["FilterMotif", "MotifMatch", "first_conv", "filter_pwms", "write_meme", "read_meme", "match_motifs",
           "jaspar_motifs", "information_content"]


@dataclass
class MotifMatch:
    name: str
    score: float      # mean column Pearson correlation in [-1, 1]
    offset: int       # position of the filter's first column relative to the motif's first column
    strand: str       # "+" or "-" (the reverse complement of the known motif matched)


@dataclass
class FilterMotif:
    """One filter's PWM ``(width, 4)`` over ``A C G T`` (rows sum to 1) from ``nsites`` aligned windows."""

    name: str
    pwm: np.ndarray
    nsites: int
    max_activation: float
    matches: list[MotifMatch] = field(default_factory=list)

    @property
    def consensus(self) -> str:
        return "".join(ALPHABET[i] for i in self.pwm.argmax(axis=1))


def information_content(pwm: np.ndarray) -> np.ndarray:
    """Bits per column against a uniform background."""
    p = np.clip(pwm, 1e-9, 1)
    return 2 + (p * np.log2(p)).sum(axis=1)


def first_conv(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """The first convolution the model runs on ``x`` (found by watching a forward pass)."""
    order: list[nn.Module] = []
    handles = [m.register_forward_hook(lambda mod, a, o: order.append(mod))
               for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if not order:
        raise UserError(f"{type(model).__name__} has no convolution layer, so it has no filters to export as "
                        "motifs; use attributions (genozoo explain) instead")
    return order[0]


def _window(conv: nn.Module, kind: str, k: int, region: int) -> tuple[int, int, int]:
    """``(stride, left_pad, width)`` of one output position of ``conv``, in nucleotides."""
    ks = conv.kernel_size[0]
    dil = conv.dilation[0]
    stride = conv.stride[0]
    width = (ks - 1) * dil + 1
    pad = conv.padding[0] if isinstance(conv.padding, tuple) else (width - 1) // 2 if conv.padding == "same" else 0
    if kind in ("kmer_seq", "kmer_image"):
        width += k - 1 + region  # one k-mer position spans k bases, and region stacking r more
    return stride, pad, width


def filter_pwms(model, sequences: Sequence[str], *, threshold: float = 0.5, batch_size: int = 256,
                pseudocount: float = 0.1, device: str | torch.device | None = None) -> list[FilterMotif]:
    """A PWM per first-layer filter from the windows of ``sequences`` that activate it most (see the module
    docstring). Filters that never activate above zero get ``nsites = 0`` and a uniform matrix."""
    from zoo.predict import _inference, resolve_device

    seqs = list(sequences)
    if not seqs:
        raise UserError("filter motifs need sequences to find the windows that activate each filter; give some")
    enc = model.encoding
    codes = to_codes(seqs, enc.length, pad_mode=enc.pad_mode, ambiguity=enc.ambiguity)
    dev = resolve_device(device, model)
    with _inference(model, dev):
        conv = first_conv(model, encode_codes(codes[:2], enc).to(dev))
        stride, pad, width = _window(conv, enc.kind, enc.k, enc.region)
        acts = []
        seen: list[torch.Tensor] = []
        handle = conv.register_forward_hook(lambda mod, a, o: seen.append(o))
        try:
            with torch.inference_mode():
                for s in range(0, len(codes), batch_size):
                    batch = encode_codes(codes[s:s + batch_size], enc).to(dev)
                    seen.clear()
                    model(batch)
                    # The first call on the batch's first rows: the sequences as given. Strand-symmetric models
                    # also run the reverse complements, in a second call (GenoNet) or as a second half of the
                    # batch (ConvFormer); those are not these sequences' windows.
                    out = seen[0][:len(batch)].float()
                    if out.dim() == 4:
                        out = out.amax(dim=3)  # (N, F, positions, other axis) -> best over the other axis
                    acts.append(out.cpu().numpy())
        finally:
            handle.remove()
    act = np.concatenate(acts)  # (N, F, T)
    n, n_filters, T = act.shape
    L = codes.shape[1]
    starts = np.arange(T) * stride - pad
    valid_t = (starts >= 0) & (starts + width <= L)
    offsets = np.arange(width)
    motifs = []
    for f in range(n_filters):
        a = act[:, f, :]
        top = float(a[:, valid_t].max()) if valid_t.any() else 0.0
        counts = np.zeros((width, 4))
        nsites = 0
        if top > 0:
            rows, cols = np.nonzero((a > threshold * top) & valid_t[None, :])
            windows = codes[rows[:, None], starts[cols][:, None] + offsets[None, :]]  # (sites, width)
            ok = (windows < 4).all(axis=1)  # windows holding N or padding are not counted
            windows = windows[ok]
            nsites = len(windows)
            for b in range(4):
                counts[:, b] = (windows == b).sum(axis=0)
        pwm = (counts + pseudocount) / (nsites + 4 * pseudocount)
        motifs.append(FilterMotif(f"filter{f}", pwm, nsites, top))
    return motifs


def write_meme(motifs: Sequence[FilterMotif], path: str | os.PathLike, *,
               background: Sequence[float] = (0.25, 0.25, 0.25, 0.25), skip_empty: bool = True) -> Path:
    """Write the PWMs as a MEME (version 4) motif file, atomically; filters with no sites are left out."""
    lines = ["MEME version 4", "", f"ALPHABET= {ALPHABET}", "", "strands: + -", "",
             "Background letter frequencies", " ".join(f"{b} {p:.4f}" for b, p in zip(ALPHABET, background)), ""]
    for m in motifs:
        if skip_empty and m.nsites == 0:
            continue
        title = m.name + (" " + m.matches[0].name.replace(" ", "_") if m.matches else "")
        lines += [f"MOTIF {title}", f"letter-probability matrix: alength= 4 w= {len(m.pwm)} nsites= {m.nsites} E= 0"]
        lines += ["  " + "  ".join(f"{v:.6f}" for v in row) for row in m.pwm]
        lines.append("")
    from zoo.outputs import atomic_write_text

    path = Path(path)
    atomic_write_text(path, "\n".join(lines))
    return path


def read_meme(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The letter-probability matrices of a MEME file, by motif name."""
    out: dict[str, np.ndarray] = {}
    name, rows, width = None, [], 0
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line.startswith("MOTIF"):
            name, rows = line.split()[1], []
        elif line.startswith("letter-probability matrix"):
            width = int(line.split("w=")[1].split()[0])
        elif name is not None and width and line and line[0] in "0123456789.":
            rows.append([float(v) for v in line.split()])
            if len(rows) == width:
                out[name], name, width = np.array(rows), None, 0
    return out


def _column_similarity(a: np.ndarray, b: np.ndarray, min_overlap: int) -> tuple[float, int]:
    """Best mean column Pearson correlation of ``a`` against ``b`` over offsets (offset of a's column 0 in b)."""
    best, best_off = -np.inf, 0
    for off in range(-(len(a) - min_overlap), len(b) - min_overlap + 1):
        lo, hi = max(0, off), min(len(b), off + len(a))
        if hi - lo < min_overlap:
            continue
        x, y = a[lo - off:hi - off], b[lo:hi]
        xc, yc = x - x.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
        den = np.sqrt((xc ** 2).sum(1) * (yc ** 2).sum(1))
        r = np.where(den > 0, (xc * yc).sum(1) / np.where(den > 0, den, 1), 0.0)
        score = float(r.mean())
        if score > best:
            best, best_off = score, off
    return best, best_off


def match_motifs(motifs: Sequence[FilterMotif], database: Mapping[str, np.ndarray], *, top: int = 3,
                 min_overlap: int = 5) -> list[FilterMotif]:
    """Attach to each filter its ``top`` best matches in ``database`` (name -> ``(W, 4)`` PWM), best first."""
    if not database:
        raise UserError("the motif database to match against is empty")
    for m in motifs:
        found = []
        for name, pwm in database.items():
            pwm = np.asarray(pwm, dtype=np.float64)
            ov = min(min_overlap, len(pwm), len(m.pwm))
            s_fwd, o_fwd = _column_similarity(m.pwm, pwm, ov)
            s_rev, o_rev = _column_similarity(m.pwm, pwm[::-1, ::-1], ov)
            found.append(MotifMatch(name, s_fwd, o_fwd, "+") if s_fwd >= s_rev else
                         MotifMatch(name, s_rev, o_rev, "-"))
        m.matches = sorted(found, key=lambda x: -x.score)[:top]
    return list(motifs)


def jaspar_motifs(collection: str = "CORE", tax_group: str | None = "vertebrates",
                  release: str | None = None) -> dict[str, np.ndarray]:
    """JASPAR matrices (``"MA0139.1 CTCF"`` -> PWM) from the database that ``pyjaspar`` ships (no network)."""
    try:
        from pyjaspar import jaspardb
    except ImportError:
        raise UserError("JASPAR matching needs the optional package pyjaspar, which is not installed; run "
                        "`pip install pyjaspar` (or `pip install genozoo[explain]`)") from None
    db = jaspardb(release=release) if release else jaspardb()
    found = db.fetch_motifs(collection=collection, tax_group=[tax_group] if tax_group else None)
    out = {}
    for motif in found:
        counts = np.array([motif.counts[b] for b in ALPHABET], dtype=np.float64).T
        out[f"{motif.matrix_id} {motif.name}"] = counts / counts.sum(axis=1, keepdims=True)
    return out
