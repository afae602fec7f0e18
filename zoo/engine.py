"""The training loop: fit a genozoo model on a benchmark split and evaluate it, in one process or under DDP.

Read it top to bottom: a :class:`TrainConfig` dataclass, the data plumbing (sequences are cleaned into a compact
uint8 code matrix once, and every batch is encoded into the model's own representation, ``model.encoding``, as it
is drawn), :func:`evaluate`, then :func:`fit`: one loop over epochs with Adam/AdamW/SGD, an optional LR
schedule, class weights, gradient clipping, mixed precision on GPU, early stopping on the validation loss and the
best epoch's weights restored at the end (with a :class:`LearnedNothing` warning when they do no better on the
validation split than a constant answer, :func:`learned_nothing`). With a ``run_dir`` every epoch ends with an
atomic checkpoint (:mod:`zoo.checkpoint`) and the epoch log (``epochs.csv``/``epochs.json``); ``resume=True``
continues from the checkpoint and ends exactly where an uninterrupted run with the same seed ends. Launched by
``torchrun``, the same code trains with DistributedDataParallel (gloo on CPU, nccl on GPU) and computes metrics on
the predictions of all ranks gathered together. On the CPU, :func:`fit` flushes subnormal floats to zero and keeps
freed memory instead of re-faulting it every step (both from :mod:`zoo.runtime`, shared with prediction) and trains
models that declare it channels-last (:func:`zoo.models.base.preferred_memory_format`).
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler
from tqdm.auto import tqdm

from zoo import checkpoint as ckpt
from zoo import runtime
from zoo.encoding import Encoding, codes_to_strings, encode_codes, to_codes
from zoo.errors import UserError
from zoo.metrics import compute_metrics, format_metrics, gather_predictions
from zoo.models.base import preferred_memory_format
# The CPU tricks live in zoo.runtime (shared with prediction and the space); kept importable from here.
from zoo.runtime import _glibc, check_device, flush_denormals, keep_freed_memory  # noqa: F401

__all__ = ["TrainConfig", "train_config", "TrainingDiverged", "LearnedNothing", "learned_nothing", "RANGES",
           "SplitData", "Evaluation", "FitResult", "prepare", "seed_everything", "distributed_context",
           "flush_denormals", "keep_freed_memory", "resolve_device", "evaluate", "fit"]

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("none", "cosine", "plateau")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Keys that may change between a run and its resume without changing the result.
RUNTIME_KEYS = ("quiet", "num_workers", "eval_batch_size", "device", "compile")
_SHOWN = ("loss", "accuracy", "auroc")  # the epoch line; the log has every metric
DEFAULT_LR = 1e-3


@dataclass
class TrainConfig:
    """Everything the loop needs to know; the study's settings are the defaults (Adam 1e-3, 50 epochs, batch 32,
    best epoch by validation loss)."""

    optimizer: str = "adam"            # adam | adamw | sgd (with momentum)
    lr: float = DEFAULT_LR
    weight_decay: float = 0.0          # on top of any per-layer L2 the model declares (model.param_groups)
    momentum: float = 0.9              # sgd only
    schedule: str = "none"             # none | cosine (per step, after linear warm-up) | plateau (halve on stall)
    warmup_epochs: int = 0
    epochs: int = 50
    batch_size: int = 32
    eval_batch_size: int = 512
    patience: int | None = None        # early stopping after this many epochs without a better validation loss
    min_delta: float = 0.0
    clip_grad_norm: float | None = None
    precise_bn: int = 0                # recompute BatchNorm statistics over this many training batches per epoch
    label_smoothing: float = 0.0       # training targets y(1 - e) + e/C (the validation loss stays unsmoothed)
    ema_decay: float | None = None     # evaluate/keep an exponential moving average of the weights (e.g. 0.99)
    shift_augment: int = 0             # shift each training sequence by up to this many bp (filled with N)
    rc_augment: float = 0.0            # probability of training on a sequence's reverse complement
    class_weights: str | list[float] | None = None  # None | "balanced" | one weight per class
    precision: str = "auto"            # auto = bf16 (or fp16) autocast on CUDA, fp32 on CPU
    compile: bool = False
    device: str = "auto"
    num_workers: int = 0
    seed: int = 0
    quiet: bool = False

    def __post_init__(self) -> None:
        for key, allowed in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("precision", PRECISIONS)):
            if getattr(self, key) not in allowed:
                raise UserError(f"{key} {getattr(self, key)!r} is not supported; choose one of {', '.join(allowed)}")
        _check_ranges(self)
        if not 0 <= self.seed < 2**32:  # numpy's seeds are unsigned 32-bit
            raise UserError(f"seed must be from 0 to {2**32 - 1}, not {self.seed}")
        if not 0 <= self.label_smoothing < 1 or not 0 <= self.rc_augment <= 1 or self.shift_augment < 0:
            raise UserError(f"label_smoothing must lie in [0, 1), rc_augment in [0, 1] and shift_augment be at least "
                            f"0, not {self.label_smoothing}, {self.rc_augment} and {self.shift_augment}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise UserError(f"ema_decay must lie strictly between 0 and 1 (or be null), not {self.ema_decay}")
        if isinstance(self.class_weights, str) and self.class_weights != "balanced":
            raise UserError(f"class_weights {self.class_weights!r} is not supported; use 'balanced' or a list")


#: The range of each numeric setting: ``(low, high, low_open)``, ``None`` allowed where the type says so. The same
#: bounds as ``genozoo finetune``'s options (epochs, lr, batch size, patience), so ``genozoo train --epochs=1e9``
#: or ``--patience=0`` is refused as ``finetune --epochs 1e9`` is, in one sentence naming the key.
RANGES: dict[str, tuple[float, float, bool]] = {
    "epochs": (1, 100_000, False), "batch_size": (1, 100_000, False), "eval_batch_size": (1, 100_000, False),
    "lr": (0, 10, True), "weight_decay": (0, 10, False), "momentum": (0, 1, False),
    "warmup_epochs": (0, 100_000, False), "patience": (1, 100_000, False), "min_delta": (0, 1_000_000, False),
    "clip_grad_norm": (0, 1_000_000, True), "precise_bn": (0, 100_000, False), "num_workers": (0, 1024, False),
}
_INT_KEYS = {"epochs", "batch_size", "eval_batch_size", "warmup_epochs", "patience", "precise_bn", "num_workers"}


def train_config(cfg: Any) -> TrainConfig:
    """``cfg`` as a :class:`TrainConfig`: one already, ``None`` (the defaults) or a mapping of its fields
    (``{"epochs": 1}``); an unknown key or another type is one sentence."""
    if isinstance(cfg, TrainConfig):
        return cfg
    if cfg is None:
        return TrainConfig()
    if not isinstance(cfg, Mapping):
        raise UserError(f"the training configuration must be a zoo.engine.TrainConfig or a dict of its fields "
                        f"(such as {{'epochs': 1}}), not {type(cfg).__name__}")
    known = [f.name for f in fields(TrainConfig)]
    unknown = [k for k in cfg if k not in known]
    if unknown:
        import difflib

        bad = unknown[0]
        close = difflib.get_close_matches(str(bad), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UserError(f"the training configuration has an unknown key {bad!r}; {hint}the keys are "
                        f"{', '.join(known)}")
    return TrainConfig(**cfg)


def _check_ranges(cfg: "TrainConfig") -> None:
    """Refuse a numeric setting outside :data:`RANGES` (or NaN / infinite): one sentence naming the key."""
    for key, (lo, hi, lo_open) in RANGES.items():
        value = getattr(cfg, key)
        if value is None and key in ("patience", "clip_grad_norm"):
            continue
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and \
            (value > lo if lo_open else value >= lo) and value <= hi
        if not ok:
            what = "an integer" if key in _INT_KEYS else "a number"
            span = f"above {lo:g} and at most {hi:g}" if lo_open else f"from {lo:,} to {hi:,}"
            none = " (or null)" if key in ("patience", "clip_grad_norm") else ""
            raise UserError(f"{key} must be {what} {span}{none}, not {value!r}")


def _check_diverged(epoch: int, train_loss: float, model: torch.nn.Module) -> None:
    """Stop a run whose training loss or weights are no longer finite numbers (:class:`TrainingDiverged`)."""
    if math.isnan(train_loss):
        raise TrainingDiverged(epoch, "loss is NaN")
    if not math.isfinite(train_loss):
        raise TrainingDiverged(epoch, "loss is infinite")
    params = [p.detach() for p in model.parameters()]
    if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):  # one device sync
        raise TrainingDiverged(epoch, "loss is NaN: the weights became NaN or infinite")


class TrainingDiverged(UserError):
    """The loss became NaN or infinite: the settings (most often the learning rate) make training diverge."""

    def __init__(self, epoch: int, what: str = "loss is NaN"):
        super().__init__(f"training diverged at epoch {epoch} ({what}); lower the learning rate (--lr) or clip "
                         f"the gradients (clip_grad_norm)")
        self.epoch = epoch


class LearnedNothing(UserWarning):
    """The model :func:`fit` kept does no better on the validation split than a constant answer
    (:func:`learned_nothing`): it is kept and returned, but it has learned nothing."""


def learned_nothing(model: torch.nn.Module, labels: torch.Tensor, record: dict[str, float],
                    weight: torch.Tensor | None = None, lr: float | None = None) -> str | None:
    """One sentence saying that the model scored in ``record`` (an epoch of :func:`fit`'s history, with
    ``val_accuracy`` and ``val_loss`` on the split whose ``labels`` are given) learned nothing, or ``None``.

    Criterion: the model beats no constant answer on the validation split, by either measure: its accuracy is no
    better than always answering the split's most common class, and its loss no better than always answering the
    class frequencies (the least loss any constant answer reaches, weighted as ``weight`` weighs the loss). A model
    that beats either has learned something: accuracy alone would flag a model whose ranking is already good but
    whose threshold has not moved yet (an imbalanced set, an early epoch), loss alone a confident model that is
    right more often than the majority. A learning rate far too high (``--lr 10``) leaves exactly such a model
    without the loss ever becoming NaN. ``None`` too when the split holds fewer than two classes (nothing to tell).
    """
    y = labels.long().cpu()
    counts = torch.bincount(y, minlength=model.num_classes).double()
    if int((counts > 0).sum()) < 2 or "val_accuracy" not in record:
        return None
    w = None if weight is None else weight.double().cpu()
    mass = counts if w is None else counts * w
    log_freq = (mass / mass.sum()).clamp(min=1e-12).log()  # the best constant answer under this (weighted) loss
    const = log_freq[1:] - log_freq[:1] if model.num_outputs == 1 else log_freq  # binary: one logit, log(q1/q0)
    baseline = float(model.loss(const.float().expand(len(y), -1), y, weight=None if w is None else w.float()))
    majority = float(counts.max() / counts.sum())
    accuracy, loss = record["val_accuracy"], record["val_loss"]
    if accuracy > majority + 1e-9 or loss < baseline * (1 - 1e-6):
        return None
    remedy = (f"the learning rate {lr:g} may be too high: retrain with a lower one (--lr; the default is "
              f"{DEFAULT_LR:g})" if lr is not None and lr > DEFAULT_LR else
              "retrain longer (--epochs) or with another learning rate (--lr)")
    return (f"the model learned nothing: on the {len(y):,} validation sequences its accuracy ({accuracy:.3f}) is no "
            f"better than always answering the most common class ({majority:.3f}) and its loss ({loss:.4g}) no "
            f"better than always answering the class frequencies ({baseline:.4g}); {remedy}")


# ----------------------------------------------------------------------------------------------- data
@dataclass
class SplitData:
    """One split, cleaned once: codes ``(N, L)`` uint8 (see :func:`zoo.encoding.to_codes`) and labels ``(N,)``."""

    codes: torch.Tensor
    labels: torch.Tensor
    ids: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)


def prepare(split: Any, encoding: Encoding) -> SplitData:
    """Clean a split with columns ``sequence`` and ``label`` (a ``datasets.Dataset`` or a dict of lists)."""
    if isinstance(split, SplitData):
        return split
    try:
        seqs, labels = list(split["sequence"]), list(split["label"])
    except (KeyError, TypeError) as e:
        raise UserError("a training split needs the columns 'sequence' and 'label'") from e
    columns = getattr(split, "column_names", None) or list(split)
    ids = [str(i) for i in split["id"]] if "id" in columns else None
    codes = to_codes(seqs, encoding.length, pad_mode=encoding.pad_mode, ambiguity=encoding.ambiguity, ids=ids)
    return SplitData(torch.from_numpy(codes), torch.as_tensor(np.asarray(labels, dtype=np.int64)), ids)


class _EncodedBatches(torch.utils.data.Dataset):
    """Indexed by a list of row numbers (a whole batch): gathers the codes and encodes them in one call, in the
    model's compact form (``model.fast_input``: k-mer word ids instead of a 64-192x larger one-hot where the model
    takes them; its encoding otherwise)."""

    def __init__(self, data: SplitData, encode: Callable[[np.ndarray], torch.Tensor],
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.data, self.encode, self.augment = data, encode, augment

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, rows: list[int]):
        idx = torch.as_tensor(rows, dtype=torch.long)
        codes = self.data.codes[idx]
        x = self.encode((codes if self.augment is None else self.augment(codes)).numpy())
        return x, self.data.labels[idx], idx


def _batch_encoder(model: torch.nn.Module) -> Callable[[np.ndarray], torch.Tensor]:
    fast = getattr(model, "fast_input", None)
    return fast if fast is not None else (lambda codes: encode_codes(codes, model.encoding))


_COMPLEMENT = torch.tensor([3, 2, 1, 0, 4, 5], dtype=torch.uint8)  # codes A C G T N PAD -> T G C A N PAD
_N_CODE = 4


def augment_codes(codes: torch.Tensor, shift: int = 0, rc: float = 0.0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Training augmentation on a ``(N, L)`` code matrix: shift each row by a uniform ``-shift..shift`` bp (the
    bases shifted in are N) and replace it by its reverse complement with probability ``rc``. The draws come
    from ``generator`` (the training loop's, checkpointed with the run)."""
    out = codes
    n, length = codes.shape
    if shift:
        offsets = torch.randint(-shift, shift + 1, (n,), generator=generator)
        cols = torch.arange(length).view(1, -1) - offsets.view(-1, 1)   # out[i, j] = codes[i, j - offset_i]
        inside = (cols >= 0) & (cols < length)
        out = torch.where(inside, codes.gather(1, cols.clamp(0, length - 1)), torch.full_like(codes, _N_CODE))
    if rc:
        flip = torch.rand(n, generator=generator) < rc
        if flip.any():
            out = out.clone()
            out[flip] = _COMPLEMENT[out[flip].long()].flip(1)
    return out


def _loader(data: SplitData, encode: Callable, batches: Any, cfg: TrainConfig, generator: torch.Generator,
            augment: Callable[[torch.Tensor], torch.Tensor] | None = None):
    return DataLoader(_EncodedBatches(data, encode, augment), sampler=batches, batch_size=None,
                      num_workers=cfg.num_workers, generator=generator, pin_memory=torch.cuda.is_available())


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, batches: Iterable, device: torch.device, autocast,
                          max_batches: int) -> int:
    """Precise BatchNorm (Wu & Johnson 2021): replace every BatchNorm layer's running statistics by their plain
    average over up to ``max_batches`` training batches under the current weights. Training itself is unchanged;
    evaluation then sees statistics of the present weights instead of a slow moving average (Keras' momentum
    0.99 lags for several epochs when an epoch has few steps). Returns the number of batches used."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or max_batches < 1:
        return 0
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    used = 0
    for x, _, _ in batches:
        with autocast():
            model(x.to(device, non_blocking=True))
        used += 1
        if used >= max_batches:
            break
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return used


def _class_weights(cfg: TrainConfig, labels: torch.Tensor, num_classes: int) -> torch.Tensor | None:
    if cfg.class_weights is None:
        return None
    if cfg.class_weights == "balanced":  # n / (C * count_c), as scikit-learn's compute_class_weight
        counts = torch.bincount(labels, minlength=num_classes).double().clamp(min=1)
        return (len(labels) / (num_classes * counts)).float()
    w = torch.tensor([float(v) for v in cfg.class_weights])
    if len(w) != num_classes:
        raise UserError(f"class_weights has {len(w)} values for {num_classes} classes")
    return w


# ---------------------------------------------------------------------------------------- environment
def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and random; make cuDNN deterministic."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def distributed_context() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)``; joins the process group when launched by ``torchrun``."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
    return 0, 1, 0


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    check_device(name)  # one check of device names for every command (a name, and present)
    return torch.device(name)


def _autocast(cfg: TrainConfig, device: torch.device):
    """Mixed precision only on CUDA: bf16 where supported, else fp16 (with a grad scaler)."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
    if cfg.precision == "auto" and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if dtype is None or device.type != "cuda":
        return contextlib.nullcontext, False
    return (lambda: torch.autocast("cuda", dtype=dtype)), dtype == torch.float16


# ------------------------------------------------------------------------------------------ evaluation
class NonFiniteOutputs(UserError):
    """:func:`evaluate` got NaN or infinite outputs from the model."""


@dataclass
class Evaluation:
    loss: float
    metrics: dict[str, float]
    probs: torch.Tensor      # (N, C), rows in split order
    labels: torch.Tensor     # (N,)

    def as_dict(self) -> dict[str, float]:
        return {"loss": self.loss, **self.metrics}


@torch.no_grad()
@keep_freed_memory()
def evaluate(model: torch.nn.Module, data: Any, *, batch_size: int = 512, device: torch.device | str = "cpu",
             class_weights: torch.Tensor | None = None, autocast: Callable = contextlib.nullcontext) -> Evaluation:
    """Loss and metrics of ``model`` on a split (every rank scores its share; predictions are gathered)."""
    model = getattr(model, "module", model)
    device = torch.device(device)
    data = prepare(data, model.encoding)
    rank, world = ckpt.rank_world()
    was_training = model.training
    model.eval()
    rows = torch.arange(rank, len(data), world)
    logits, labels = [], []
    # The model's exact inference rewrite where it has one (tests/test_inference.py), as zoo.predict runs it.
    fast = hasattr(model, "inference_forward")
    encode = _batch_encoder(model) if fast else (lambda codes: encode_codes(codes, model.encoding))
    for chunk in rows.split(batch_size):
        x = encode(data.codes[chunk].numpy()).to(device)
        with autocast():
            logits.append((model.inference_forward(x) if fast else model(x)).float().cpu())
        labels.append(data.labels[chunk])
    model.train(was_training)
    width = model.num_outputs
    _, logits_all, y = gather_predictions(rows, torch.cat(logits) if logits else torch.zeros(0, width),
                                          torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long))
    if not bool(torch.isfinite(logits_all).all()):  # metrics of NaN probabilities are a traceback in sklearn
        raise NonFiniteOutputs("the model's outputs are NaN or infinite (its weights are damaged, or the training "
                               "that made them diverged); retrain it with a lower learning rate")
    w = None if class_weights is None else class_weights.cpu()
    loss = float(model.loss(logits_all, y, weight=w))
    probs = model.probabilities(logits_all)
    return Evaluation(loss, compute_metrics(y, probs), probs, y)


# ------------------------------------------------------------------------------------------------ fit
@dataclass
class FitResult:
    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    train_seconds: float               # the unsupervised stage (pretrain_seconds) included
    resumed_from: int = 0
    pretrain_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    learned_nothing: str | None = None  # the sentence of :func:`learned_nothing` when the kept model did


def _optimizer(model, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = model.param_groups(cfg.weight_decay) if hasattr(model, "param_groups") else \
        [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": cfg.weight_decay}]
    # On the CPU the fused kernel updates each tensor in one pass (about 4x faster than the per-tensor loop: 0.5 ms
    # of a 10-30 ms step of the study's models); the same update up to rounding.
    fused = {"fused": True} if all(p.device.type == "cpu" and p.dtype == torch.float32
                                   for g in groups for p in g["params"]) else {}
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, **fused)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, **fused)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)


def _training_loss(model, logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None,
                   smoothing: float) -> torch.Tensor:
    """The model's loss, with label smoothing (targets ``y(1 - e) + e/C``) when ``smoothing`` > 0; an ensemble's
    ``(N, members, outputs)`` logits are scored member by member (the mean of the members' losses)."""
    if logits.dim() == 3:
        logits, y = logits.flatten(0, 1), y.repeat_interleave(logits.shape[1])
    if not smoothing:
        return model.loss(logits, y, weight=weight)
    if model.num_outputs == 1:
        target = y.float().view(-1) * (1 - smoothing) + smoothing / 2
        pos_weight = None if weight is None else (weight[1] / weight[0]).view(1)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits.view(-1), target, pos_weight=pos_weight)
    return torch.nn.functional.cross_entropy(logits, y.long(), weight=weight, label_smoothing=smoothing)


class WeightEMA:
    """Exponential moving average of every floating-point entry of a state dict (BatchNorm statistics included;
    integer counters are copied), with the usual warm-up ``min(decay, (1 + t) / (10 + t))`` so that early
    averages are not dominated by the initial weights."""

    def __init__(self, model: torch.nn.Module, decay: float, state: dict | None = None):
        self.decay = decay
        self.steps = int(state["steps"]) if state else 0
        self.shadow = {k: (state["shadow"][k] if state else v.detach().clone()).to(v.device)
                       for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].lerp_(v.detach(), 1 - d)
            else:
                self.shadow[k].copy_(v)

    def state(self) -> dict:
        return {"steps": torch.tensor(self.steps), "shadow": {k: v.cpu() for k, v in self.shadow.items()}}

    @contextlib.contextmanager
    def applied(self, model: torch.nn.Module):
        """The averaged weights in ``model`` inside the block; the training weights back after it."""
        saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield
        finally:
            model.load_state_dict(saved)


def _scheduler(opt, cfg: TrainConfig, steps_per_epoch: int):
    if cfg.schedule == "cosine":
        warm, total = cfg.warmup_epochs * steps_per_epoch, cfg.epochs * steps_per_epoch

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

        return torch.optim.lr_scheduler.LambdaLR(opt, factor)
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, (cfg.patience or 10) // 3))
    return None


@flush_denormals()
@keep_freed_memory()
def fit(model: torch.nn.Module, train: Any, validation: Any, cfg: TrainConfig | Mapping[str, Any] | None = None, *,
        run_dir: str | Path | None = None, resume: bool = False,
        on_epoch_end: Callable[[int, dict], None] | None = None) -> FitResult:
    """Train ``model`` (a :class:`~zoo.models.base.ZooModel`) in place and leave the best epoch's weights in it.

    ``train``/``validation``: splits with ``sequence`` and ``label`` columns. The model must be created after
    :func:`seed_everything` for a run to be reproducible. ``on_epoch_end(epoch, record)`` is called after each
    epoch's checkpoint is written (tests use it to simulate a crash). A kept model that learned nothing
    (:func:`learned_nothing`) is still returned, with a :class:`LearnedNothing` warning and
    ``FitResult.learned_nothing`` saying so. ``cfg`` may also be a dict of :class:`TrainConfig` fields
    (``{"epochs": 1}``; an unknown key is refused) or ``None`` for the defaults. Only the weights change: the
    model keeps the label names it was built with (build it with the data's, or use :func:`zoo.finetune.finetune`,
    which does) and is left in training mode, as after any PyTorch loop (``model.predict`` evaluates either way).
    """
    cfg = train_config(cfg)
    runtime.apply_env_threads()
    rank, world, _ = distributed_context()
    device = resolve_device(cfg.device)
    show = not cfg.quiet and rank == 0
    run_dir = Path(run_dir) if run_dir is not None else None
    if run_dir is not None and rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
    enc = model.encoding
    encode = _batch_encoder(model)
    train_data, val_data = prepare(train, enc), prepare(validation, enc)
    num_classes = model.num_classes
    if int(train_data.labels.max()) >= num_classes or int(train_data.labels.min()) < 0:
        raise UserError(f"labels must lie in 0..{num_classes - 1} for a {num_classes}-class model")
    weights = _class_weights(cfg, train_data.labels, num_classes)
    weights_dev = None if weights is None else weights.to(device)

    previous = ckpt.latest_checkpoint(run_dir) if (resume and run_dir is not None) else None
    pretrain_seconds = 0.0
    if getattr(model, "requires_pretraining", False) and not model.is_pretrained and previous is None:
        # Two-stage models of the study (LSTM autoencoder + MLP, doc2vec + MLP) fit their unsupervised part on
        # the training sequences first (labels unused), as the study did; every rank does it with the same seed.
        t0 = time.perf_counter()
        model.pretrain(codes_to_strings(train_data.codes.numpy()), seed=cfg.seed, progress=show)
        pretrain_seconds = time.perf_counter() - t0
    model.to(device, memory_format=preferred_memory_format(model, device))  # the optimizer state follows it
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                        else None)
    if cfg.compile:
        net = torch.compile(net)
    autocast, use_scaler = _autocast(cfg, device)
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    # Each rank sees a disjoint shard, reshuffled every epoch from (seed, epoch) alone: resume needs no sampler state.
    sampler = DistributedSampler(range(len(train_data)), num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
    # A last batch of one example breaks BatchNorm in training mode; drop it only then.
    drop_last = len(sampler) % cfg.batch_size == 1
    batches = BatchSampler(sampler, cfg.batch_size, drop_last=drop_last)
    opt = _optimizer(model, cfg)
    sched = _scheduler(opt, cfg, len(batches))
    augment_gen = torch.Generator()
    augment = None
    if cfg.shift_augment or cfg.rc_augment:
        def augment(codes: torch.Tensor) -> torch.Tensor:
            return augment_codes(codes, cfg.shift_augment, cfg.rc_augment, augment_gen)

    history: list[dict[str, float]] = []
    best_state, best_epoch, best_loss, bad_epochs, start_epoch = ckpt.state_to_cpu(model), 0, math.inf, 0, 0
    config_dict = asdict(cfg)
    torch.manual_seed(cfg.seed + rank)  # dropout differs per rank; the initial weights were drawn before
    if previous is not None:
        saved = ckpt.load_checkpoint(previous)
        s = saved["state"]
        changed = [k for k, v in s["config"].items() if k not in RUNTIME_KEYS and config_dict.get(k) != v]
        if changed:
            raise UserError(f"cannot resume {run_dir}: its checkpoint was trained with other settings for "
                            f"{', '.join(changed)}; use the same settings or a new output folder")
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optim"]["optimizer"])
        if sched is not None:
            sched.load_state_dict(saved["optim"]["scheduler"])
        scaler.load_state_dict(saved["optim"]["scaler"])
        ckpt.set_rng_state(saved["rng"])
        ema_saved = saved["optim"].get("ema")
        best_state, history = saved["best"], s["history"]
        best_epoch, best_loss, bad_epochs = s["best_epoch"], s["best_val_loss"], s["bad_epochs"]
        start_epoch, pretrain_seconds = s["epoch"], s.get("pretrain_seconds", 0.0)
        if show:
            tqdm.write(f"resuming {run_dir} after epoch {start_epoch}")

    ema = None
    if cfg.ema_decay is not None:
        ema = WeightEMA(model, cfg.ema_decay, ema_saved if previous is not None and ema_saved else None)
    t_start = time.perf_counter() - sum(r.get("seconds", 0.0) for r in history) - pretrain_seconds
    stopped_early = bad_epochs >= (cfg.patience or math.inf)
    generator = torch.Generator()
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        if stopped_early:
            break
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        generator.manual_seed(cfg.seed * 1000 + epoch)  # DataLoader draws worker seeds from it
        augment_gen.manual_seed(cfg.seed * 1000 + epoch + 7919)  # augmentation draws depend on (seed, epoch) only
        net.train()
        sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss * n, correct, n; on device: no sync
        bar = tqdm(_loader(train_data, encode, batches, cfg, generator, augment), total=len(batches), leave=False,
                   disable=not show, desc=f"epoch {epoch}/{cfg.epochs}", dynamic_ncols=True)
        for step, (x, y, _) in enumerate(bar):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast():
                logits = net(x)
            loss = _training_loss(model, logits.float(), y, weights_dev, cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.clip_grad_norm:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
            scaler.step(opt)
            scaler.update()
            if cfg.schedule == "cosine":
                sched.step()
            if ema is not None:
                ema.update(model)
            with torch.no_grad():
                out = logits.detach().float()
                pred = model.probabilities(out.mean(1) if out.dim() == 3 else out).argmax(1)  # an ensemble's mean
                sums += torch.stack([loss.detach().double() * len(y), (pred == y).sum().double(),
                                     torch.tensor(float(len(y)), dtype=torch.float64, device=device)])
            if show and step % 10 == 0:
                bar.set_postfix(loss=f"{sums[0] / sums[2]:.4f}", acc=f"{sums[1] / sums[2]:.3f}")
        if cfg.precise_bn:
            recalibrate_batchnorm(model, _loader(train_data, encode, batches, cfg, generator), device, autocast,
                                  cfg.precise_bn)
        if world > 1:
            import torch.distributed as dist

            dist.all_reduce(sums)  # the epoch's training loss/accuracy over every rank's share
            for b in model.buffers():  # BatchNorm statistics: rank 0's are the canonical ones
                dist.broadcast(b, 0)
        _check_diverged(epoch, float(sums[0].cpu() / sums[2].cpu()), model)  # before NaN reaches the metrics
        with ema.applied(model) if ema is not None else contextlib.nullcontext():
            try:
                val = evaluate(model, val_data, batch_size=cfg.eval_batch_size, device=device,
                               class_weights=weights, autocast=autocast)
            except NonFiniteOutputs:
                raise TrainingDiverged(epoch, "the validation outputs are NaN or infinite") from None
            current = ckpt.state_to_cpu(model) if val.loss < best_loss - cfg.min_delta else None
        if cfg.schedule == "plateau":
            sched.step(val.loss)
        sums = sums.cpu()
        record = {"epoch": epoch, "lr": opt.param_groups[0]["lr"], "train_loss": float(sums[0] / sums[2]),
                  "train_accuracy": float(sums[1] / sums[2]),
                  **{f"val_{k}": v for k, v in val.as_dict().items()}}
        improved = val.loss < best_loss - cfg.min_delta
        if improved:
            best_state, best_epoch, best_loss, bad_epochs = current, epoch, val.loss, 0
        else:
            bad_epochs += 1
        stopped_early = cfg.patience is not None and bad_epochs >= cfg.patience and epoch < cfg.epochs
        record["seconds"] = time.perf_counter() - t0
        history.append(record)
        if show:
            tqdm.write(f"epoch {epoch:3d}/{cfg.epochs} train loss {record['train_loss']:.4f} acc "
                       f"{record['train_accuracy']:.4f} | {format_metrics(val.as_dict(), _SHOWN, prefix='val ')} "
                       f"| {record['seconds']:.1f}s{' *' if improved else ''}")
        if run_dir is not None:
            optim_state = {"optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
                           "scheduler": sched.state_dict() if sched is not None else {}}
            if ema is not None:
                optim_state["ema"] = ema.state()
            trainer_state = {"best_epoch": best_epoch, "best_val_loss": best_loss, "bad_epochs": bad_epochs,
                             "history": history, "config": config_dict, "pretrain_seconds": pretrain_seconds}
            ckpt.save_checkpoint(run_dir, epoch=epoch, model=model, best_state=best_state,
                                 optim_state=optim_state, trainer_state=trainer_state)
            if rank == 0:
                ckpt.write_epoch_log(run_dir, history)
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)
    if show and stopped_early:
        tqdm.write(f"early stop: validation loss has not improved for {cfg.patience} epochs")
    model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format)
    kept = next((r for r in history if r["epoch"] == best_epoch), None)
    nothing = None if kept is None else learned_nothing(model, val_data.labels, kept, weights, cfg.lr)
    if nothing is not None and rank == 0:  # a warning, not an error: the model is kept (and saved by the caller)
        warnings.warn(nothing, LearnedNothing, stacklevel=2)
    return FitResult(history=history, best_epoch=best_epoch, best_val_loss=best_loss, epochs_run=len(history),
                     stopped_early=stopped_early, train_seconds=time.perf_counter() - t_start,
                     resumed_from=start_epoch, pretrain_seconds=pretrain_seconds, learned_nothing=nothing)
