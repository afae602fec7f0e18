"""What the genozoo space does, without the user interface: the model catalogue, prediction, model comparison,
example sequences and attributions (input parsing and limits: :mod:`space_input`; batching: :mod:`batching`).

The catalogue lists the published weights of the registry (``zoo.list_models(pretrained=True)``) grouped by
task (the ``tag`` of ``arch.tag``), and any extra model folders (``config.json`` with an ``arch`` key +
``model.safetensors``) found under a hub directory, so a freshly trained model can be shown before it is
published. Models load lazily onto the chosen device, the few most recently used stay loaded, and concurrent
predictions share forward passes. Everything a user can get wrong raises :class:`zoo.errors.UserError` with one
sentence; the app turns it into a message in the page.
"""
from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import os
import re
import sys
import tempfile
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

import zoo
from batching import Batcher
from space_input import Limits, padding_note, parse_sequences
from zoo.encoding import EncodingError, to_codes
from zoo.errors import UserError
from zoo.models.base import preferred_memory_format
from zoo.predict import Predictions, UnreliableInput, input_flags, length_stats

__all__ = ["Limits", "Entry", "Catalogue", "DefaultRefused", "ranking_key", "parse_sequences", "padding_note",
           "resolve_device", "default_hub_dir"]


def _bound_malloc() -> None:
    """Keep glibc's allocator from hoarding: two arenas however many threads Gradio runs (each thread's own arena
    otherwise keeps its peak), and ``trim_memory`` hands freed pages back. Not glibc: nothing to do."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def trim_memory() -> None:
    """Return the freed heap to the system after a request that allocated a lot (an explanation, a comparison)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


_bound_malloc()


def freeze_startup_heap() -> None:
    """Keep Python's cycle collector from stalling every request in flight. After start-up the process holds
    about 550,000 objects (torch, Gradio and its web server, pandas, matplotlib, the models' modules) that live
    as long as it does; every full collection walked all of them while holding the GIL: 25-440 ms several times
    a load test on the 2-core machine, during which no request moved. Frozen (:func:`gc.freeze`), they are
    skipped; the objects requests make are collected as before. The space freezes after loading its default
    models (whose first loads import many modules) and again once its web server is up. A model frozen here and
    dropped by the cache later is still freed: models hold no reference cycles (tested), so reference counting
    frees them without the collector."""
    gc.collect()
    gc.freeze()


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


# ------------------------------------------------------------------------------------------- catalogue
class DefaultRefused(UserError):
    """A task's chosen default model (``defaults``, the command's ``--default TASK=MODEL``) the catalogue does not
    offer for that task; ``choice`` is the ``TASK=MODEL`` given, so the command can name its option."""

    def __init__(self, choice: str, message: str):
        super().__init__(message)
        self.choice = choice


def _recorded(folder: Path) -> dict:
    """The metrics a model folder records beside its weights, as config keys (``metrics`` on the test split,
    ``validation``, ``seeds``): ``metrics.json`` as ``genozoo finetune`` writes it (``{"test": {...}, "validation":
    {...}}``), else its ``record.json`` (a :class:`zoo.PretrainedCfg`), whose metrics count as test metrics unless
    its notes say they are on the validation split. Read once, when the catalogue is built."""
    def read(name: str) -> dict:
        try:
            data = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    out: dict = {}
    scores = read("metrics.json")
    for split, key in (("test", "metrics"), ("validation", "validation")):
        values = scores.get(split)
        if isinstance(values, dict):
            kept = {k: {"mean": float(v)} for k, v in values.items()
                    if k != "loss" and isinstance(v, (int, float)) and not isinstance(v, bool)}
            if kept:
                out[key] = kept
    record = read("record.json")
    if ("metrics" not in out and isinstance(record.get("metrics"), dict) and record["metrics"]
            and "on the validation split" not in str(record.get("notes") or "")):
        out["metrics"] = record["metrics"]
    if "validation" not in out and isinstance(record.get("validation"), dict) and record["validation"]:
        out["validation"] = record["validation"]
    if isinstance(record.get("seeds"), list) and record["seeds"]:
        out["seeds"] = record["seeds"]
    return out


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

                seeds = self.cfg.seeds if self.cfg is not None else self.config.get("seeds")
                n = len(seeds) if seeds else None
                # A folder's card has no seed list of its own, so its one-seed metric says so here.
                one = " (one seed)" if self.cfg is None and n == 1 else ""
                return f"{key} {format_mean_sd(m['mean'], m.get('sd'), n)}{one}"
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


def _mean(metrics: Any, key: str = "accuracy") -> float | None:
    m = (metrics or {}).get(key)
    value = m.get("mean") if isinstance(m, dict) else m
    return float(value) if isinstance(value, (int, float)) else None


def ranking_key(entry: Entry) -> tuple[int, float, float, str]:
    """Sort key of a model within its task: mean validation accuracy (higher first), then mean test accuracy."""
    validation = _mean(entry.cfg.validation if entry.cfg is not None else entry.config.get("validation"))
    test = _mean(entry.cfg.metrics if entry.cfg is not None else entry.config.get("metrics"))
    return (validation is None, -(validation or 0.0), -(test if test is not None else -1.0), entry.name)


class Catalogue:
    """The models the space offers: loaded lazily onto one device, the most recently used few kept in memory,
    and run through one :class:`~batching.Batcher`, so concurrent requests share forward passes."""

    def __init__(self, hub_dir: str | Path | None = None, device: str = "auto", limits: Limits = Limits(),
                 max_models: int = 8, threads: int | str | None = None, defaults: dict[str, str] | None = None):
        if hub_dir is not None and str(hub_dir) and not Path(hub_dir).is_dir():
            raise UserError(f"hub_dir {str(hub_dir)!r} " + ("is not a folder" if Path(hub_dir).exists() else
                            "does not exist") + "; give a folder of model folders")
        self.hub_dir = Path(hub_dir) if hub_dir else default_hub_dir()
        self.device = resolve_device(device)
        if self.device.type == "cuda":  # full float32 on the GPU, so its answers match the CPU's (TF32 would not)
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self.limits = limits
        self.max_models = max(1, max_models)
        self.entries: dict[str, Entry] = {}
        self._models: OrderedDict[str, torch.nn.Module] = OrderedDict()
        self._methods: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self._explain_lock = threading.Lock()
        # The batcher computes the predictions beside Gradio's event loop (HTTP, queue, parsing and encoding). On
        # the CPU it splits a large pass into one lane per thread (--threads, else $GENOZOO_THREADS, else the CPUs
        # other processes leave free), each lane one intra-op thread: the loop needs a core only part of the time,
        # and independent halves of a batch scale where intra-op threads over a recurrent layer's small steps do
        # not (measured on 2 cores, histone: 47 -> 72 requests/s). On a GPU one lane drives the device.
        from zoo.runtime import resolve_threads

        total = resolve_threads(threads)
        cpu = self.device.type == "cpu"
        self.threads = 1 if cpu else total
        self.batcher = Batcher(threads=self.threads, lanes=total if cpu else 1)
        for name in zoo.list_models(pretrained=True):
            cfg = zoo.pretrained_cfg(name)
            self.entries[name] = Entry(name, cfg.tag, cfg=cfg)
        for cfg_file in sorted(self.hub_dir.glob("*/*/config.json")) + sorted(self.hub_dir.glob("*/config.json")):
            folder = cfg_file.parent
            try:
                config = json.loads(cfg_file.read_text())
            except (OSError, ValueError):
                continue  # not a model folder the space can use; the hub's own checks report it
            name = folder.name
            if name in self.entries:
                self.entries[name].path = folder
                self.entries[name].config = config
            elif isinstance(config, dict) and config.get("arch") and (folder / "model.safetensors").exists():
                task = config.get("task") or (config.get("name") or name).rsplit(".", 1)[-1]
                self.entries[name] = Entry(name, task, path=folder, config={**_recorded(folder), **config})
        if not self.entries:
            raise UserError(f"no published models and no model folders under {self.hub_dir}; publish a model "
                            f"(genozoo push / the hub/ folder) or point GENOZOO_HUB_DIR at a folder of models")
        self.defaults: dict[str, str] = {}
        for task, name in (defaults or {}).items():
            try:
                self.check_task(task)
                if name not in self.entries:
                    raise UserError(f"model {name!r} is not offered for task {task}; pick one of "
                                    f"{', '.join(self.models_for(task))}")
                if self.entries[name].task != task:
                    raise UserError(f"model {name!r} is a model of task {self.entries[name].task}, not of {task}; "
                                    f"pick one of {', '.join(self.models_for(task))}")
            except UserError as e:
                raise DefaultRefused(f"{task}={name}", str(e)) from None
            self.defaults[task] = name

    def warm_up(self, freeze: bool = False) -> None:
        """Pay the one-time costs at start rather than in a user's request: :meth:`import_libraries`, then
        :meth:`load_defaults`; ``freeze``: then move everything made so far out of Python's full collections
        (:func:`freeze_startup_heap`)."""
        self.import_libraries()
        self.load_defaults()
        if freeze:
            freeze_startup_heap()

    def import_libraries(self) -> None:
        """Import the libraries that explanations and the BERT models import on first use."""
        try:
            import captum.attr  # noqa: F401
            import logomaker  # noqa: F401
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot  # noqa: F401

            from zoo import explain  # noqa: F401
        except ImportError:  # explanations are optional; the page says so
            pass
        if any(e.cfg is not None and e.cfg.arch.startswith("bert_") for e in self.entries.values()):
            import transformers  # noqa: F401

    def load_defaults(self) -> None:
        """Load the default model of every task, find the explanation methods it supports, and run it a few times
        (TorchScript, which runs the recurrent loops, profiles a function's first two calls before it optimizes
        it: the first call of a histone pass took 2.3x as long)."""
        for task in self.tasks():
            name = self.models_for(task)[0]
            try:
                self.methods(name)
                sequence = ("ACGT" * 4096)[:self.task_length(task) or 101]
                for n in (1, 2, 3):
                    self.predict(name, [sequence] * n)
            except UserError as e:  # its users will get this sentence; the space serves the other tasks
                print(f"genozoo space: warning: {e}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------------------------------------ lookup
    def tasks(self) -> list[str]:
        return sorted({e.task for e in self.entries.values()})

    def task_length(self, task: str) -> int | None:
        """The input length of the task's models (the most common one, should they differ)."""
        lengths = [self.entries[n].seq_len for n in self.models_for(task) if self.entries[n].seq_len]
        return max(set(lengths), key=lengths.count) if lengths else None

    def task_label(self, task: str) -> str:
        """``splice (60 bp, 3 classes)``: what the task picker shows."""
        names = self.models_for(task)
        length = self.task_length(task)
        classes = len(self.entries[names[0]].label_names) if names else 0
        return f"{task} ({f'{length} bp' if length else 'any length'}, {classes} classes)"

    def check_task(self, task: str) -> str:
        if task not in self.tasks():
            raise UserError(f"task {task!r} is not offered by this space; pick one of {', '.join(self.tasks())}")
        return task

    def models_for(self, task: str) -> list[str]:
        """The task's models, the default choice first: the model the operator chose for the task (``defaults``),
        else the best mean validation accuracy of the published records (the metric the runs were selected on;
        the test split stays for reporting), ties broken by the mean test accuracy, then models without a
        validation record, then by name."""
        chosen = self.defaults.get(task)
        return sorted((n for n, e in self.entries.items() if e.task == task),
                      key=lambda name: (name != chosen, ranking_key(self.entries[name])))

    def entry(self, name: str) -> Entry:
        """The model called ``name``; a name the space does not offer is refused with the models it could mean."""
        if name in self.entries:
            return self.entries[name]
        text = str(name or "").strip()
        task = text.rsplit(".", 1)[-1] if "." in text else ""
        if task in self.tasks():
            raise UserError(f"model {text!r} is not offered for task {task}; pick one of "
                            f"{', '.join(self.models_for(task))}")
        raise UserError(f"model {text!r} is not offered by this space; give a name ARCH.TASK with TASK one of "
                        f"{', '.join(self.tasks())} (the Model list shows each task's models)")

    def model(self, name: str) -> torch.nn.Module:
        """The loaded model (eval mode, on :attr:`device`). The ``max_models`` most recently used stay loaded;
        older ones are dropped, so memory stays bounded however many models the users visit."""
        entry = self.entry(name)
        with self._lock:
            model = self._models.get(name)
            if model is None:
                model = self._load(entry).eval()
                model.to(self.device, memory_format=preferred_memory_format(model, self.device))
                self._models[name] = model
                while len(self._models) > self.max_models:
                    self._models.popitem(last=False)
            self._models.move_to_end(name)
            return model

    def methods(self, name: str) -> tuple[str, ...]:
        """The attribution methods ``name`` supports, the default first (:func:`zoo.explain.supported_methods`)."""
        if name not in self._methods:
            from zoo.explain import supported_methods

            model = self.model(name)
            with self._explain_lock:
                self._methods[name] = supported_methods(model)
        return self._methods[name]

    def _load(self, entry: Entry) -> torch.nn.Module:
        if entry.cfg is not None:  # published: the registry finds the weights (bundle, cache or Hub)
            return zoo.create_model(entry.name, pretrained=True)
        from zoo.hub import load_model

        return load_model(entry.path)

    # ------------------------------------------------------------------------------------- inference
    def predict(self, name: str, sequences: Sequence[str], ids: Sequence[str] | None = None):
        """:class:`zoo.predict.Predictions` (class probabilities with label names, and how many sequences were
        padded or cropped by the model's declared policy) for one request. The sequences are checked and encoded
        on the caller's thread; the forward pass is shared with concurrent requests for the same model."""
        model = self.model(name)
        ids, codes, forward = self._encoded(model, sequences, ids)
        return self._predictions(model, ids, sequences, self.batcher.run(name, codes, forward))

    async def apredict(self, name: str, sequences: Sequence[str], ids: Sequence[str] | None = None):
        """:meth:`predict` for a caller on an asyncio event loop (the space's predict event): the sequences are
        encoded on the loop and the shared forward pass is awaited, so a request holds no thread while it waits.
        A model not loaded yet is loaded on a worker thread, so its disk read does not stall the loop."""
        model = self.loaded(name) or await asyncio.to_thread(self.model, name)
        ids, codes, forward = self._encoded(model, sequences, ids)
        probs = await asyncio.wrap_future(self.batcher.submit(name, codes, forward))
        return self._predictions(model, ids, sequences, probs)

    def loaded(self, name: str) -> torch.nn.Module | None:
        """The model ``name`` when it is loaded (marked as just used), else ``None``; never loads it."""
        with self._lock:
            model = self._models.get(name)
            if model is not None:
                self._models.move_to_end(name)
            return model

    def _encoded(self, model: torch.nn.Module, sequences: Sequence[str], ids: Sequence[str] | None):
        enc = model.encoding
        ids = [f"seq{i + 1}" for i in range(len(sequences))] if ids is None else [str(i) for i in ids]
        length_stats(model, ids, sequences)  # what `genozoo predict` refuses (e.g. 10x the input), refused alike
        try:
            codes = to_codes(list(sequences), enc.length, pad_mode=enc.pad_mode, ambiguity=enc.ambiguity, ids=ids)
        except EncodingError as e:  # name the sequence by its id, not by its index in this request
            raise EncodingError(re.sub(r"^sequence \d+ \((.*?)\) ", r"sequence \1 ", str(e))) from None
        device = self.device

        def forward(rows: np.ndarray) -> np.ndarray:  # the exact inference rewrite, as `genozoo predict` runs it
            with torch.inference_mode():
                x = model.fast_input(rows).to(device)
                return model.probabilities(model.inference_forward(x)).float().cpu().numpy()

        return ids, codes, forward

    @staticmethod
    def _predictions(model: torch.nn.Module, ids: list[str], sequences: Sequence[str], probs: np.ndarray):
        return Predictions(ids, probs, list(model.label_names), length_stats(model, ids, sequences),
                           input_flags(sequences, model.encoding.length))  # as `genozoo predict` flags them

    def explain(self, name: str, sequence: str, seq_id: str, method: str | None = None):
        """The attribution logo (a PIL image) of one sequence for its predicted class and its caption, by
        ``method`` (one of :meth:`methods`, default the first); a planted motif named in the id
        (``..._CTCF@12-30``, the example sequences) is shaded."""
        from PIL import Image

        from zoo.explain import METHOD_ALIASES, METHOD_TITLES, attribute  # the names `genozoo explain` takes too
        from zoo.explain.logos import draw_logos

        methods = self.methods(name)
        method = METHOD_ALIASES.get(method, method) if method else methods[0]
        if method not in methods:
            offered = ", ".join(_method_name(m) for m in methods)
            known = method in METHOD_TITLES
            raise UserError(f"{'model ' + name + ' does not support' if known else 'there is no'} attribution "
                            f"method {method!r}; {'it offers' if known else 'pick one of'} {offered}")
        model = self.model(name)
        with self._explain_lock, warnings.catch_warnings():  # gradients through a shared model: one at a time
            warnings.simplefilter("ignore", UnreliableInput)  # the caption says it, not the server log
            attr = attribute(model, [sequence], method, ids=[seq_id], device=None)
        m = re.search(r"@(\d+)-(\d+)", seq_id)
        marks = {0: (int(m.group(1)) - 1, int(m.group(2)))} if m else None
        with tempfile.TemporaryDirectory(prefix="genozoo-logo-") as tmp:
            path = draw_logos(attr, Path(tmp) / "logo.png", marks=marks)
            image = Image.open(path)
            image.load()
        trim_memory()
        label = attr.label_names[attr.targets[0]]
        caption = (f"**{seq_id}**: {METHOD_TITLES[method]} for '{label}' "
                   f"(p = {attr.probabilities[0, attr.targets[0]]:.3f}), model `{name}`")
        if input_flags([sequence], model.encoding.length)[0]:  # the prediction explained says little or nothing
            caption += f"\n\n**Warning: {padding_note(sequence, model.encoding.length)}.**"
        return image, caption

    def compare(self, task: str, sequences: Sequence[str], ids: Sequence[str]) -> tuple[list[str], list[list]]:
        """Every model of ``task`` on the same sequences: one row per (sequence, model) with the class
        probabilities, the predicted label, the model's test metric and the note ``/predict`` gives the sequence
        (padded, cropped, mostly padding, no bases: :func:`padding_note`)."""
        names = self.models_for(self.check_task(task))
        labels = self.entries[names[0]].label_names
        headers = ["id", "model", *[f"p({c})" for c in labels], "predicted", "test metric", "note"]
        rows, notes = [], {}
        for name in names:
            pred = self.predict(name, sequences, ids)
            length = pred.lengths.length
            if length not in notes:  # a task's models share their input length, as a rule
                notes[length] = [padding_note(s, length) for s in sequences]
            entry = self.entries[name]
            for sid, p, note in zip(ids, pred.probabilities, notes[length]):
                rows.append([sid, name, *[round(float(v), 4) for v in p], entry.label_names[int(p.argmax())],
                             entry.metric(), note])
        order = {sid: i for i, sid in enumerate(ids)}
        rows.sort(key=lambda r: (order[r[0]], r[1]))
        trim_memory()
        return headers, rows

    def examples(self, task: str, n: int = 4) -> tuple[list[str], list[str]]:
        """Example sequences for a task: the reference inputs stored with a published model when present,
        else synthetic planted-motif sequences of the task's length (seeded, generated on the spot)."""
        names = self.models_for(self.check_task(task))
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


def _method_name(method: str) -> str:
    """``ism (in-silico mutagenesis)``, ``integrated_gradients (integrated gradients, or ig)``, ``saliency
    (gradient x input)``: a method's name and title, the title's repeat of the name left out."""
    from zoo.explain import METHOD_ALIASES, METHOD_TITLES

    title = METHOD_TITLES[method]
    if title.startswith(method + " ("):
        return title
    aliases = [a for a, m in METHOD_ALIASES.items() if m == method and len(a) < 4]
    return f"{method} ({title}{', or ' + ', '.join(aliases) if aliases else ''})"


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
