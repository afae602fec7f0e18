"""Pictures and files of attributions: a sequence logo per sequence (logomaker on matplotlib's Agg backend) and
the numbers as CSV (one row per base) or JSON, every file written atomically.

In the logo each position shows its observed base, as tall as the position's attribution score: above the axis
when the base supports the target class, below when it argues against it (the common display of gradient x input
and mutagenesis in genomics). Cropped positions (the model never saw them) are drawn empty.
"""
from __future__ import annotations

import csv
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np

from zoo.encoding import ALPHABET
from zoo.errors import UserError
from zoo.explain.attribution import METHOD_TITLES, Attributions
from zoo.outputs import atomic_write_bytes

__all__ = ["logo_format", "numbers_format", "logo_matrix", "draw_logos", "write_numbers"]


def logo_format(path: str | os.PathLike) -> str:
    """The picture format a logo path asks for (png, svg or pdf; png for a name without a suffix)."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    if fmt not in ("png", "svg", "pdf"):
        raise UserError(f"cannot draw a logo as {Path(path).name!r}; name the output .png, .svg or .pdf")
    return fmt


def numbers_format(path: str | os.PathLike) -> str:
    """The table format an attributions path asks for (json, csv or tsv)."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".json", ".csv", ".tsv"):
        raise UserError(f"cannot write attributions as {Path(path).name!r}; name the file .csv, .tsv or .json")
    return suffix[1:]


def logo_matrix(attr: Attributions, i: int):
    """``(len, 4)`` DataFrame over ``A C G T``: the observed base carries the position's score, others 0."""
    import pandas as pd

    seq = attr.sequences[i]
    scores = np.nan_to_num(attr.scores[i], nan=0.0)
    mat = np.zeros((len(seq), 4), dtype=np.float64)
    base_idx = np.array([ALPHABET.find(b) for b in seq])
    known = base_idx >= 0  # N carries no letter
    mat[np.flatnonzero(known), base_idx[known]] = scores[known]
    return pd.DataFrame(mat, columns=list(ALPHABET))


def draw_logos(attr: Attributions, path: str | os.PathLike, *, max_sequences: int = 10,
               marks: dict[int, tuple[int, int]] | None = None) -> Path:
    """Draw one logo per sequence (the first ``max_sequences``) stacked in one PNG/SVG/PDF at ``path``.

    ``marks`` optionally shades a 0-based ``[start, end)`` span per sequence index (e.g. a planted motif)."""
    import matplotlib

    matplotlib.use("Agg")
    import logomaker
    import matplotlib.pyplot as plt

    path = Path(path)
    fmt = logo_format(path)
    n = min(len(attr), max_sequences)
    longest = max(len(attr.sequences[i]) for i in range(n))
    width = float(np.clip(longest * 0.14, 8, 60))
    fig, axes = plt.subplots(n, 1, figsize=(width, 2.2 * n), squeeze=False)
    try:
        for i in range(n):
            ax = axes[i, 0]
            matrix = logo_matrix(attr, i)
            flat = not np.any(matrix.to_numpy())  # every attribution 0 (e.g. an all-N sequence): no y range
            with warnings.catch_warnings():
                if flat:  # matplotlib's "identical low and high ylims" about that: the axis is set just below
                    warnings.simplefilter("ignore", UserWarning)
                logomaker.Logo(matrix, ax=ax, color_scheme="classic", flip_below=False)
            if flat:
                ax.set_ylim(-1, 1)
                ax.text(0.5, 0.5, "every attribution is 0", transform=ax.transAxes, ha="center", va="center",
                        fontsize=9, color="grey")
            ax.axhline(0, color="grey", lw=0.5)
            if marks and i in marks:
                ax.axvspan(marks[i][0] - 0.5, marks[i][1] - 0.5, color="gold", alpha=0.25, lw=0)
            label = attr.label_names[attr.targets[i]]
            ax.set_title(f"{attr.ids[i]}: {METHOD_TITLES.get(attr.method, attr.method)} for "
                         f"'{label}' (p = {attr.probabilities[i, attr.targets[i]]:.3f})", fontsize=9, loc="left")
            ax.set_ylabel("attribution", fontsize=8)
            ax.set_xlabel("position (0-based)", fontsize=8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=110)
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def write_numbers(attr: Attributions, path: str | os.PathLike) -> Path:
    """The attributions as ``.json`` (per sequence: scores and matrix) or ``.csv`` (one row per base:
    ``id, position, base, target, score, A, C, G, T``; positions 1-based)."""
    path = Path(path)
    suffix = "." + numbers_format(path)
    if suffix == ".json":
        data = json.dumps(attr.to_dict(), indent=1).encode()
    elif suffix in (".csv", ".tsv"):
        buf = io.StringIO()
        rows = attr.to_rows()
        writer = csv.DictWriter(buf, fieldnames=["id", "position", "base", "target", "score", *ALPHABET],
                                delimiter="\t" if suffix == ".tsv" else ",", lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
        data = buf.getvalue().encode()
    atomic_write_bytes(path, data)
    return path
