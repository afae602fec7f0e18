"""What a model folder must satisfy before anything is allocated or loaded: config.json's constructor arguments
are bounded and known, the model they describe is small enough to build, and the weights are the ones recorded.

* :func:`check_arguments` bounds every value of config.json (integers, list lengths, string lengths, nesting), so
  a hostile or mistyped file cannot ask for terabytes;
* :func:`build_checked` builds the model once on PyTorch's ``meta`` device (shapes only, no memory), refuses
  unknown keys, impossible sizes (a kernel of 0, a negative width) and models over :data:`MAX_PARAMETERS`, then
  builds it for real;
* :func:`verify_weights` compares the sha256 of ``model.safetensors`` with the one config.json records
  (``weights_sha256``, written by every :func:`zoo.hub.save_model`) and, when config.json names a published
  record, with that record's; a mismatch is refused unless ``allow_modified``, which loads with a warning and
  drops the claim to the published record;
* :func:`record_mismatches` / :func:`verify_config` compare the fields of config.json that decide what a published
  model computes or how its outputs are named (architecture, input encoding, every constructor argument such as
  ``label_names``, ``num_classes``, ``seq_len``, ``pool``; a transformers folder's ``genozoo`` block and
  ``id2label`` / ``label2id``) with its published record, so an edited config.json beside intact published
  weights is refused like edited weights are, in one sentence naming the field, the recorded and the found value.
"""
from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from zoo.hub.errors import ContractMismatchError, IntegrityError

__all__ = ["MAX_PARAMETERS", "WEIGHTS_SHA_KEY", "sha256_file", "check_arguments", "build_checked",
           "verify_weights", "record_mismatches", "verify_config"]

#: No genozoo architecture comes near this; a config.json asking for more is refused before building.
MAX_PARAMETERS = 1_000_000_000
WEIGHTS_SHA_KEY = "weights_sha256"
#: config.json keys that describe the weight rather than construct the model.
META_KEYS = ("arch", "name", "family", "encoding", "dataset", "split", "data_revision", "classifier",
             "base_model", "genozoo_version", WEIGHTS_SHA_KEY)
_MAX_INT, _MAX_ITEMS, _MAX_STR, _MAX_DEPTH = 10**8, 10_000, 100_000, 6
_BUILD_ERRORS = (TypeError, ValueError, ZeroDivisionError, RuntimeError, OverflowError, IndexError, KeyError,
                 AttributeError, AssertionError, NotImplementedError)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_value(key: str, value: Any, where: str, depth: int = 0) -> None:
    def bad(why: str) -> ContractMismatchError:
        return ContractMismatchError(f"{where}: {key!r} {why}; re-save the model with genozoo")

    if depth > _MAX_DEPTH:
        raise bad("is nested too deeply")
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if abs(value) > _MAX_INT:
            raise bad(f"is {value:,}, beyond any real model size (at most {_MAX_INT:,})")
    elif isinstance(value, float):
        if not math.isfinite(value) or abs(value) > _MAX_INT:
            raise bad(f"is {value!r}, not a finite number of a sensible size")
    elif isinstance(value, str):
        if len(value) > _MAX_STR:
            raise bad(f"is a string of {len(value):,} characters")
    elif isinstance(value, (list, tuple)):
        if len(value) > _MAX_ITEMS:
            raise bad(f"is a list of {len(value):,} items")
        for v in value:
            _check_value(key, v, where, depth + 1)
    elif isinstance(value, Mapping):
        if len(value) > _MAX_ITEMS:
            raise bad(f"holds {len(value):,} entries")
        for k, v in value.items():
            _check_value(f"{key}.{k}", v, where, depth + 1)
    else:
        raise bad(f"has a value of type {type(value).__name__}")


def check_arguments(ctor: Mapping[str, Any], where: str) -> None:
    """Refuse out-of-bounds values in constructor arguments read from ``where`` (a config.json path)."""
    for key, value in ctor.items():
        _check_value(key, value, where)


def _build(builder: Callable[..., Any], ctor: Mapping[str, Any], arch: str, where: str):
    try:
        return builder(**ctor)
    except _BUILD_ERRORS as err:
        raise ContractMismatchError(f"the arguments in {where} do not build {arch!r} "
                                    f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                                    f"re-save the model with this genozoo") from err


def build_checked(builder: Callable[..., Any], ctor: Mapping[str, Any], arch: str, where: str, *,
                  on_meta: bool = False):
    """``builder(**ctor)`` once the arguments passed :func:`check_arguments` and a shapes-only build on the meta
    device showed at most :data:`MAX_PARAMETERS` parameters; ``on_meta=True`` returns that meta-device build itself
    (for :func:`zoo.hub.folders.load_weights` to fill with a complete state dict)."""
    check_arguments(ctor, where)
    # The probe's warnings (zero-size layers and the like) would come on top of the one sentence that follows.
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe = _build(builder, ctor, arch, where)
    n = sum(p.numel() for p in probe.parameters()) + sum(b.numel() for b in probe.buffers())
    if n > MAX_PARAMETERS:
        raise ContractMismatchError(f"{where} describes a {arch!r} of {n:,} parameters, more than genozoo builds "
                                    f"({MAX_PARAMETERS:,}); check its sizes (seq_len, filters, units)")
    return probe if on_meta else _build(builder, ctor, arch, where)


def verify_weights(weights: Path, config: Mapping[str, Any], *, allow_modified: bool = False,
                   where: str | None = None) -> bool:
    """Check ``weights`` against the sha256 in ``config`` and against the published record config names.

    Returns whether the weights are intact: ``True`` when every recorded hash matches (or none is recorded),
    ``False`` for a modified weight loaded with ``allow_modified``. Raises :class:`IntegrityError` on a mismatch
    otherwise."""
    from zoo.registry import is_model, pretrained_cfg

    where = where or str(weights.parent)
    recorded = config.get(WEIGHTS_SHA_KEY)
    name = config.get("name")
    record = pretrained_cfg(name) if isinstance(name, str) and "." in name and is_model(name) else None
    published = getattr(record, "sha256", None)
    if not recorded and not published:
        return True  # nothing to compare with (a folder saved before genozoo recorded hashes)
    actual = sha256_file(weights)
    problems = []
    if recorded and actual != recorded:
        problems.append(f"do not match the sha256 its config.json records ({str(recorded)[:12]}...)")
    if published and actual != published:
        problems.append(f"are not those of the published {name} ({published[:12]}...)")
    if not problems:
        return True
    message = f"the weights in {where} {' and '.join(problems)}: they were altered, truncated or corrupted"
    if not allow_modified:
        raise IntegrityError(f"{message}; restore the folder, or pass --allow-modified (allow_modified=True) to "
                             f"load them anyway")
    warnings.warn(f"{message}; loading them anyway (--allow-modified), as a modified weight that is not "
                  f"{name or 'a published record'}", stacklevel=3)
    return False


# ------------------------------------------------------------------------------------ config vs record
#: What a field missing from config.json or from the record is shown as.
MISSING = object()
#: The block in which a folder in transformers' layout keeps genozoo's record (:mod:`zoo.models.transformer`).
_FAMILY_BLOCK = "genozoo"


def _plain(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples as lists, keys as strings), so a record and a file compare equal."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _record_model(cfg):
    """``(constructor arguments, input encoding)`` of the model the record ``cfg`` builds, defaults included, from a
    shapes-only build on the meta device."""
    from zoo.registry import model_entrypoint

    args = {**cfg.model_args, "num_classes": cfg.num_classes, "seq_len": cfg.seq_len,
            "label_names": list(cfg.label_names)}
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = model_entrypoint(cfg.arch)(**args)
    return dict(getattr(model, "_hub_mixin_config", None) or args), model.encoding.to_dict()


def record_mismatches(config: Mapping[str, Any], cfg) -> list[tuple[str, Any, Any]]:
    """``(field, recorded value, found value)`` for every field of ``config`` (a config.json) that decides what the
    published weight ``cfg`` computes or how its outputs are named and differs from the record; :data:`MISSING`
    stands for a field one side lacks. An architecture or encoding config.json does not state is not a mismatch
    (the record's is used); a constructor argument it lacks is, when the record sets it, since the model would
    then be built with the default; one neither sets is the default both ways."""
    ctor, encoding = _record_model(cfg)
    explicit = {*cfg.model_args, "num_classes", "seq_len", "label_names"}
    labels = [str(n) for n in cfg.label_names]
    out: list[tuple[str, Any, Any]] = []

    def compare(field: str, recorded: Any, found: Any) -> None:
        if found is not MISSING and (recorded is MISSING or _plain(found) != _plain(recorded)):
            out.append((field, recorded, found))

    def compare_args(prefix: str, found_args: Mapping[str, Any]) -> None:
        for key in sorted(set(ctor) | set(found_args)):
            if key not in found_args and key in explicit:
                out.append((prefix + key, ctor[key], MISSING))
            else:
                compare(prefix + key, ctor.get(key, MISSING), found_args.get(key, MISSING))

    compare("arch", cfg.arch, config.get("arch", MISSING))
    compare("encoding", encoding, config.get("encoding", MISSING))
    block = config.get(_FAMILY_BLOCK)
    if isinstance(block, Mapping) and isinstance(block.get("model_args"), Mapping):
        # transformers' layout: genozoo rebuilds the model from this block; transformers names outputs by id2label.
        for key, recorded in (("arch", cfg.arch), ("encoding", encoding)):
            compare(f"{_FAMILY_BLOCK}.{key}", recorded, block.get(key, MISSING))
        compare_args(f"{_FAMILY_BLOCK}.model_args.", block["model_args"])
        for key, recorded in (("id2label", {str(i): n for i, n in enumerate(labels)}),
                              ("label2id", {n: i for i, n in enumerate(labels)})):
            found = config.get(key, MISSING)
            if found is MISSING or _plain(found) != _plain(recorded):
                out.append((key, recorded, found))
    else:
        compare_args("", {k: v for k, v in config.items() if k not in META_KEYS})
    return out


def _show(value: Any) -> str:
    text = json.dumps(_plain(value), ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def verify_config(config: Mapping[str, Any], cfg, *, where: str, fix: str, allow_modified: bool = False) -> bool:
    """Check ``config`` (the config.json at ``where``) against the published record ``cfg``
    (:func:`record_mismatches`). Returns ``True`` when it agrees; raises :class:`IntegrityError` naming the first
    field that differs, its recorded and its found value, ending with ``fix``; with ``allow_modified`` warns instead
    and returns ``False`` (the folder is then no published weight)."""
    problems = record_mismatches(config, cfg)
    if not problems:
        return True
    field, recorded, found = problems[0]
    gives = f"has no {field!r}" if found is MISSING else f"gives {field!r} = {_show(found)}"
    has = "has no such field" if recorded is MISSING else f"has {_show(recorded)}"
    more = f" (and {len(problems) - 1} more field{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
    message = (f"{where} {gives} but the published record of {cfg.name} {has}{more}: the file was edited or "
               f"belongs to another model, so the model would compute or name its outputs otherwise than published")
    if not allow_modified:
        raise IntegrityError(f"{message}; {fix}")
    warnings.warn(f"{message}; loading it anyway (--allow-modified), as an unpublished model", stacklevel=3)
    return False
