"""What the genozoo space does, without the user interface: the model catalogue, input parsing and limits,
prediction, model comparison, example sequences and attributions.

The catalogue lists the published weights of the registry (``zoo.list_models(pretrained=True)``) grouped by
task (the ``tag`` of ``arch.tag``), and any extra model folders (``config.json`` with an ``arch`` key +
``model.safetensors``) found under a hub directory, so a freshly trained model can be shown before it is
published. Models load lazily, once, onto the chosen device. Everything a user can get wrong raises
:class:`zoo.errors.UserError` with one sentence; the app turns it into a message in the page.
"""
from __future__ import annotations

import gzip
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

import zoo
from zoo.errors import UserError

__all__ = ["Limits", "Entry", "Catalogue", "parse_sequences", "resolve_device", "default_hub_dir"]


@dataclass(frozen=True)
class Limits:
    """Per-request bounds, so one request cannot take the machine: sequences, length, upload size."""

    max_sequences: int = 100
    max_length: int = 5_000
    max_upload_bytes: int = 2_000_000


def default_hub_dir() -> Path:
    """``GENOZOO_HUB_DIR`` when set, else the ``hub/`` folder genozoo carries (installed or in a checkout)."""
    from zoo.hub import hub_dir

    return hub_dir()


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when a GPU is visible, else the CPU; an explicit device must exist."""
    if device in ("", "auto", None):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UserError(f"device {device!r} is not a torch device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} was asked for but no CUDA GPU is visible; use --device cpu or auto")
    return dev


# ----------------------------------------------------------------------------------------------- input
def _check_upload(path: Path, limits: Limits) -> None:
    size = path.stat().st_size
    if size > limits.max_upload_bytes:
        raise UserError(f"the uploaded file {path.name!r} is {size:,} bytes, more than the space accepts "
                        f"({limits.max_upload_bytes:,}); predict large files with `genozoo predict` instead")
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if gzipped:
        # Count the unpacked bytes before parsing, so a small gzip bomb cannot fill the memory.
        budget, total = limits.max_upload_bytes * 20, 0
        with gzip.open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
                if total > budget:
                    raise UserError(f"the uploaded file {path.name!r} unpacks to more than {budget:,} bytes; "
                                    f"predict large files with `genozoo predict` instead")


def _too_many(n: int, limits: Limits) -> UserError:
    return UserError(f"more than {limits.max_sequences} sequences given ({n} or more), the space takes at most "
                     f"{limits.max_sequences} per request; split the input or use `genozoo predict` for large files")


def _parse_text(text: str, ids: list[str], seqs: list[str], limits: Limits) -> None:
    lines = [ln.strip() for ln in text.replace("\r", "").split("\n")]
    if any(ln.startswith(">") for ln in lines):
        if not lines[0].startswith(">"):
            raise UserError("the pasted FASTA must start with a '>' header line; put '>name' above the first "
                            "sequence or give one sequence per line without headers")
        for ln in lines:
            if ln.startswith(">"):
                header = ln[1:].strip()
                ids.append(header.split()[0] if header else f"seq{len(ids) + 1}")
                seqs.append("")
            else:
                seqs[-1] += "".join(ln.split())
            if len(seqs) > limits.max_sequences:
                raise _too_many(len(seqs), limits)
    else:
        for ln in lines:
            if ln:
                ids.append(f"seq{len(ids) + 1}")
                seqs.append("".join(ln.split()))
                if len(seqs) > limits.max_sequences:
                    raise _too_many(len(seqs), limits)


def parse_sequences(text: str | None = None, upload: str | Path | None = None,
                    limits: Limits = Limits()) -> tuple[list[str], list[str]]:
    """Sequence ids and sequences from pasted text and/or an uploaded file.

    Pasted text is FASTA (``>id`` headers, sequence over one or more lines) or one sequence per line (ids
    ``seq1``, ``seq2``, ...). An upload is any format :mod:`zoo.data.formats` reads (FASTA, CSV/TSV with a
    ``sequence`` column, plain or gzipped). Characters are checked when encoding, which names the position.
    """
    ids: list[str] = []
    seqs: list[str] = []
    if text and text.strip():
        _parse_text(text.strip(), ids, seqs, limits)
    if upload:
        from zoo.data.formats import iter_records

        path = Path(upload)
        _check_upload(path, limits)
        for ident, seq, _label in iter_records(path):
            ids.append(ident or f"seq{len(ids) + 1}")
            seqs.append(seq)
            if len(seqs) > limits.max_sequences:
                raise _too_many(len(seqs), limits)
    if not seqs:
        raise UserError("no sequences given; paste DNA sequences (FASTA or one per line) or upload a FASTA file")
    for i, (sid, s) in enumerate(zip(ids, seqs)):
        if not s:
            raise UserError(f"sequence {sid!r} (number {i + 1}) is empty; remove its header or add its sequence")
        if len(s) > limits.max_length:
            raise UserError(f"sequence {sid!r} (number {i + 1}) is {len(s):,} bp long, the space takes at most "
                            f"{limits.max_length:,} bp; cut it to the model's length")
    return ids, seqs


# ------------------------------------------------------------------------------------------- catalogue
@dataclass
class Entry:
    """One model the space can run: a published record (``cfg``) and/or a local folder (``path``)."""

    name: str
    task: str
    cfg: Any = None
    path: Path | None = None
    config: dict = field(default_factory=dict)

    @property
    def seq_len(self) -> int | None:
        return self.cfg.seq_len if self.cfg is not None else self.config.get("seq_len")

    @property
    def label_names(self) -> list[str]:
        if self.cfg is not None:
            return list(self.cfg.label_names)
        n = int(self.config.get("num_classes", 2))
        return list(self.config.get("label_names") or [str(i) for i in range(n)])

    def metric(self) -> str:
        """The headline test metric, ``accuracy 0.951 ± 0.004``, or ``""`` when the record has none."""
        metrics = (self.cfg.metrics if self.cfg is not None else self.config.get("metrics")) or {}
        for key in ("accuracy", "auroc", "auc", "mcc", *metrics):
            m = metrics.get(key)
            if isinstance(m, dict) and "mean" in m:
                from zoo.summary import format_mean_sd

                n = len(self.cfg.seeds) if self.cfg is not None and self.cfg.seeds else None
                return f"{key} {format_mean_sd(m['mean'], m.get('sd'), n)}"
            if isinstance(m, (int, float)):
                return f"{key} {m:.3f}"
        return ""

    def summary(self) -> str:
        """Markdown card summary: what it is, what it was trained on, how good it is."""
        lines = [f"**{self.name}** · task `{self.task}` · {self.seq_len or 'any'} bp · "
                 f"classes {', '.join(self.label_names)}"]
        if self.cfg is not None:
            c = self.cfg
            family = zoo.model_family(c.arch)
            params = f"{c.num_params:,} parameters" if c.num_params else ""
            lines.append(f"Architecture `{c.arch}` ({family}{', ' + params if params else ''}); "
                         f"trained on {c.dataset or 'unstated data'}{' (' + c.split + ')' if c.split else ''}.")
            lines.append(f"Test {self.metric() or 'metric not recorded'}"
                         + (f" (seeds {', '.join(map(str, c.seeds))})" if c.seeds else ""))
            paper = c.paper_metrics.get("accuracy") if c.paper_metrics else None
            if paper is not None:
                lines.append(f"Study's figure for this architecture: accuracy {paper}")
            if c.notes:
                lines.append(c.notes)
        else:
            lines.append(f"Unpublished model folder `{self.path}` (architecture `{self.config.get('arch')}`"
                         f"{', trained on ' + self.config['dataset'] if self.config.get('dataset') else ''}); "
                         f"{'test ' + self.metric() if self.metric() else 'no test metric recorded'}.")
        return "\n\n".join(lines)


class Catalogue:
    """The models the space offers, loaded lazily and cached on one device."""

    def __init__(self, hub_dir: str | Path | None = None, device: str = "auto", limits: Limits = Limits()):
        self.hub_dir = Path(hub_dir) if hub_dir else default_hub_dir()
        self.device = resolve_device(device)
        self.limits = limits
        self.entries: dict[str, Entry] = {}
        self._models: dict[str, torch.nn.Module] = {}
        self._lock = threading.Lock()
        self._explain_lock = threading.Lock()
        for name in zoo.list_models(pretrained=True):
            cfg = zoo.pretrained_cfg(name)
            self.entries[name] = Entry(name, cfg.tag, cfg=cfg)
        for cfg_file in sorted(self.hub_dir.glob("*/*/config.json")) + sorted(self.hub_dir.glob("*/config.json")):
            folder = cfg_file.parent
            try:
                config = json.loads(cfg_file.read_text())
            except (OSError, json.JSONDecodeError):
                continue  # not a model folder the space can use; the hub's own checks report it
            name = folder.name
            if name in self.entries:
                self.entries[name].path = folder
                self.entries[name].config = config
            elif isinstance(config, dict) and config.get("arch") and (folder / "model.safetensors").exists():
                task = config.get("task") or (config.get("name") or name).rsplit(".", 1)[-1]
                self.entries[name] = Entry(name, task, path=folder, config=config)
        if not self.entries:
            raise UserError(f"no published models and no model folders under {self.hub_dir}; publish a model "
                            f"(genozoo push / the hub/ folder) or point GENOZOO_HUB_DIR at a folder of models")

    # ------------------------------------------------------------------------------------------ lookup
    def tasks(self) -> list[str]:
        return sorted({e.task for e in self.entries.values()})

    def models_for(self, task: str) -> list[str]:
        """The task's models, the best published test accuracy first (the default choice), then by name."""
        def key(name: str) -> tuple[float, str]:
            cfg = self.entries[name].cfg
            acc = cfg.metrics.get("accuracy", {}).get("mean") if cfg is not None else None
            return (-(acc if acc is not None else -1.0), name)

        return sorted((n for n, e in self.entries.items() if e.task == task), key=key)

    def entry(self, name: str) -> Entry:
        if name not in self.entries:
            raise UserError(f"model {name!r} is not offered by this space; pick one of the list")
        return self.entries[name]

    def model(self, name: str) -> torch.nn.Module:
        """The loaded model (eval mode, on :attr:`device`); loaded once, then shared by all requests."""
        with self._lock:
            if name not in self._models:
                self._models[name] = self._load(self.entry(name)).to(self.device).eval()
            return self._models[name]

    def _load(self, entry: Entry) -> torch.nn.Module:
        if entry.cfg is not None:  # published: the registry finds the weights (bundle, cache or Hub)
            return zoo.create_model(entry.name, pretrained=True)
        from zoo.hub import load_model

        return load_model(entry.path)

    # ------------------------------------------------------------------------------------- inference
    def predict(self, name: str, sequences: Sequence[str], ids: Sequence[str] | None = None):
        """:class:`zoo.predict.Predictions` (class probabilities with label names, and how many sequences were
        padded or cropped by the model's declared policy) for one request."""
        from zoo.predict import LengthStats, Predictions, predict_records

        model = self.model(name)
        ids = [f"seq{i + 1}" for i in range(len(sequences))] if ids is None else list(ids)
        # predict_records rather than predict: the same computation without a process-wide warning per request.
        parts = list(predict_records(model, zip(ids, sequences), batch_size=len(ids) or 1, device=None))
        stats = LengthStats(model.encoding.length, model.encoding.pad_mode)
        for part in parts:
            stats.add(part.lengths)
        return Predictions(ids, np.concatenate([p.probabilities for p in parts]), list(model.label_names), stats)

    def explain(self, name: str, sequence: str, seq_id: str, method: str = "saliency"):
        """The attribution logo (a PIL image) of one sequence for its predicted class, by ``method``
        (``saliency``, ``integrated_gradients`` or ``ism``); a planted motif named in the id
        (``..._CTCF@12-30``, the example sequences) is shaded."""
        import re
        import tempfile

        from PIL import Image

        from zoo.explain import attribute
        from zoo.explain.logos import draw_logos

        model = self.model(name)
        with self._explain_lock:  # gradients through a shared model: one explanation at a time
            attr = attribute(model, [sequence], method, ids=[seq_id], device=None)
        m = re.search(r"@(\d+)-(\d+)", seq_id)
        marks = {0: (int(m.group(1)) - 1, int(m.group(2)))} if m else None
        with tempfile.TemporaryDirectory(prefix="genozoo-logo-") as tmp:
            path = draw_logos(attr, Path(tmp) / "logo.png", marks=marks)
            image = Image.open(path)
            image.load()
        return image

    def compare(self, task: str, sequences: Sequence[str], ids: Sequence[str]) -> tuple[list[str], list[list]]:
        """Every model of ``task`` on the same sequences: one row per (sequence, model) with the class
        probabilities, the predicted label and the model's test metric."""
        names = self.models_for(task)
        if not names:
            raise UserError(f"no models for task {task!r}; pick one of {', '.join(self.tasks())}")
        labels = self.entries[names[0]].label_names
        headers = ["id", "model", *[f"p({c})" for c in labels], "predicted", "test metric"]
        rows = []
        for name in names:
            probs = self.predict(name, sequences, ids).probabilities
            entry = self.entries[name]
            for sid, p in zip(ids, probs):
                rows.append([sid, name, *[round(float(v), 4) for v in p], entry.label_names[int(p.argmax())],
                             entry.metric()])
        rows.sort(key=lambda r: (list(ids).index(r[0]), r[1]))
        return headers, rows

    def examples(self, task: str, n: int = 4) -> tuple[list[str], list[str]]:
        """Example sequences for a task: the reference inputs stored with a published model when present,
        else synthetic planted-motif sequences of the task's length (seeded, generated on the spot)."""
        names = self.models_for(task)
        for name in names:
            entry = self.entries[name]
            ref = _reference_inputs(entry.path) if entry.path else None
            if ref:
                return [f"reference-{i + 1}" for i in range(len(ref[:n]))], ref[:n]
        length = next((self.entries[nm].seq_len for nm in names if self.entries[nm].seq_len), 101)
        from zoo.data import sample_planted

        motif = "CTCF" if length >= 19 else "GATA1"
        s = sample_planted(n, length, (motif,), positive_fraction=0.5, seed=7)
        seqs = s.sequences()
        ids = [f"synthetic-{i + 1}" + (f"_{motif}@{s.start[i] + 1}-{s.end[i]}" if s.motif[i] >= 0 else "_none")
               for i in range(n)]
        return ids, seqs


def _reference_inputs(folder: Path) -> list[str] | None:
    """The fixed input sequences stored beside a published model's weights (``reference*.json``), if any."""
    for f in sorted(folder.glob("reference*.json")):
        try:
            data = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        seqs = data.get("sequences") or data.get("inputs") if isinstance(data, dict) else None
        if isinstance(seqs, list) and seqs and all(isinstance(s, dict) and "sequence" in s for s in seqs):
            seqs = [s["sequence"] for s in seqs]  # zoo.publish writes {"id", "sequence"} records
        if isinstance(seqs, list) and seqs and all(isinstance(s, str) for s in seqs):
            return seqs
    return None
