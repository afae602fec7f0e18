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
  drops the claim to the published record.
"""
from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from zoo.hub.errors import ContractMismatchError, IntegrityError

__all__ = ["MAX_PARAMETERS", "WEIGHTS_SHA_KEY", "sha256_file", "check_arguments", "build_checked",
           "verify_weights"]

#: No genozoo architecture comes near this; a config.json asking for more is refused before building.
MAX_PARAMETERS = 1_000_000_000
WEIGHTS_SHA_KEY = "weights_sha256"
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
