"""Model folders: ``model.safetensors`` + ``config.json`` + ``README.md``, written atomically and read back strictly.

``config.json`` holds the constructor arguments (so ``TheClass.from_pretrained(folder)`` works, as with
``huggingface_hub``'s ``PyTorchModelHubMixin``: :class:`zoo.models.hubmixin.HubMixin`) plus the genozoo metadata
in :data:`META_KEYS`: the architecture ``arch``, the published name, the family, the full input contract
``encoding`` (:meth:`zoo.encoding.Encoding.to_dict`), the classifier layer and the training dataset, split and
revision. :func:`zoo.hub.resolve.load_model` rebuilds a model from it through the registry, never by unpickling
anything; a model whose every tensor the file holds is built on the meta device and filled
(:func:`build_for_loading`), not initialized first.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import torch

from zoo.checkpoint import make_readable
from zoo.hub.errors import ContractMismatchError, IntegrityError, WeightsNotFoundError
from zoo.hub.validate import META_KEYS, WEIGHTS_SHA_KEY, record_mismatches, sha256_file, verify_weights
from zoo.models import transformer
from zoo.models.base import ZooModel
from zoo.outputs import json_text
from zoo.registry import model_family, repo_id_for
from zoo.version import __version__

__all__ = ["WEIGHTS_NAME", "CONFIG_NAME", "CARD_NAME", "RECORD_NAME", "MODEL_FILES", "META_KEYS", "state_digest",
           "load_weights", "fillable", "build_for_loading", "model_config", "save_model", "read_config"]

WEIGHTS_NAME, CONFIG_NAME, CARD_NAME = "model.safetensors", "config.json", "README.md"
#: The record a card was rendered from, kept beside a weight that is not in the registry (a fine-tune), so
#: ``genozoo card`` renders the same results again.
RECORD_NAME = "record.json"


def state_digest(model) -> str:
    """sha256 over a model's tensors (names, dtypes, shapes, values): equal digests mean the same weights, whatever
    file format holds them. Set as ``model.pretrained_digest`` when published weights are loaded, so saving a model
    that was not changed keeps the published record instead of calling itself a fine-tune of it."""
    import hashlib

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _unchanged_published(model):
    """The published record of ``model`` when it holds exactly the weights loaded from it and would be saved with
    the record's configuration (not, say, other ``label_names`` or ``dropout`` passed to ``create_model``), else
    None: a folder claiming a record must load as that record (:func:`zoo.hub.validate.verify_config`)."""
    base = getattr(model, "pretrained_cfg", None)
    digest = getattr(model, "pretrained_digest", None)
    if base is None or digest is None or getattr(model, "skipped_weights", None):
        return None
    if state_digest(model) != digest:
        return None
    return None if record_mismatches(model_config(model, base), base) else base


def _weights_in(path: Path) -> Path:
    return path / WEIGHTS_NAME if path.is_dir() else path


def _read_state(path: Path) -> dict:
    """The tensors of a weights file; a folder of a family with its own format (transformers) is read by its
    load hook and its model's state dict returned, so every family fine-tunes the same way."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config = path.with_name(CONFIG_NAME)
    family = read_config(config).get("family", "") if config.is_file() else ""
    _, load_hook = _family_io(family)
    try:
        return load_hook(path.parent).state_dict() if load_hook else load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise IntegrityError(f"{path} is not a readable safetensors file ({err}); it is truncated or corrupt, "
                             f"replace it") from err


def load_weights(model, path: str | Path, *, skip_prefixes: tuple[str, ...] = (),
                 skip_shape_mismatch: bool = False, allow_modified: bool = False, verify: bool = True) -> list[str]:
    """Load ``model.safetensors`` (a file or a folder holding one) into ``model``, strictly.

    Keys under ``skip_prefixes`` (a replaced classifier head) are not loaded; with ``skip_shape_mismatch``, keys
    whose shapes differ (length-dependent layers after a ``seq_len`` change) are not either. Returns the skipped
    keys; any other missing, unexpected or mis-shaped key raises :class:`ContractMismatchError`. When a
    config.json lies beside the file, its recorded sha256 (and its published record's) must match
    (:func:`zoo.hub.validate.verify_weights`; ``allow_modified`` loads a mismatch with a warning; ``verify=False``
    when the caller has just checked). A model built on the ``meta`` device (:func:`build_for_loading`) gets the
    file's tensors assigned (copied once into fresh memory, in the model's dtypes) instead of copied into
    initialized ones.
    """
    path = _weights_in(Path(path))
    if not path.is_file():
        raise WeightsNotFoundError(f"no weights at {str(path)!r}; pass a model.safetensors file or a model folder")
    if verify and path.name == WEIGHTS_NAME and (path.parent / CONFIG_NAME).is_file():
        verify_weights(path, read_config(path.parent / CONFIG_NAME), allow_modified=allow_modified)
    state, own = _read_state(path), model.state_dict()
    skipped = sorted(k for k in own if k.startswith(skip_prefixes))
    bad = []
    for k, v in own.items():
        if k in skipped:
            continue
        if k not in state:
            bad.append(f"{k} is missing from the file")
        elif tuple(state[k].shape) != tuple(v.shape):
            if skip_shape_mismatch:
                skipped.append(k)
            else:
                bad.append(f"{k} has shape {tuple(state[k].shape)} in the file but {tuple(v.shape)} in the model")
    bad += [f"{k} is in the file but not in the model" for k in state if k not in own]
    if bad:
        more = f" (and {len(bad) - 2} more)" if len(bad) > 2 else ""
        what = getattr(model, "arch", "") or type(model).__name__
        raise ContractMismatchError(f"the weights in {path} do not fit {what} as built: {'; '.join(bad[:2])}{more}; "
                                    f"check num_classes, seq_len and the architecture")
    if any(t.is_meta for t in own.values()):  # built by build_for_loading: every tensor comes from the file
        if skipped:
            raise ValueError(f"{', '.join(skipped)} would stay uninitialized on the meta device; build the model "
                             f"normally when some weights are not loaded")
        # Copied, not the file's own buffers: safetensors' tensors sit at unaligned offsets of the file, where the
        # vectorized kernels take other paths (results differ in the last bits, and run slower).
        model.load_state_dict({k: v.to(own[k].dtype, copy=True) for k, v in state.items()}, strict=False,
                              assign=True)
        left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
        if left:
            raise RuntimeError(f"{', '.join(left[:3])} of {type(model).__name__} are not in its state dict and stay "
                               f"on the meta device; build it with build_for_loading, which checks fillable()")
    else:
        model.load_state_dict({k: v for k, v in state.items() if k not in skipped}, strict=False)
    return sorted(skipped)


def fillable(model) -> bool:
    """Whether loading a complete state dict assigns every tensor of ``model``: each parameter and buffer is its own
    entry of the state dict. False where a buffer is not persistent (it is computed, not loaded) or a tensor is
    shared between layers (assigning the file's tensors would untie it)."""
    tensors = [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]
    return len({id(t) for _, t in tensors}) == len(tensors) == len(model.state_dict(keep_vars=True))


def build_for_loading(builder: Callable[..., Any], args: dict[str, Any]):
    """``builder(**args)`` for :func:`load_weights` to fill completely: built on the ``meta`` device (shapes only)
    when the model is :func:`fillable`, so its tensors are neither allocated nor randomly initialized before the
    file's replace them (the orthogonal initialization of a recurrent layer alone costs 0.1 s on its first call),
    else built normally."""
    with torch.device("meta"):
        model = builder(**args)
    return model if fillable(model) else builder(**args)


# -------------------------------------------------------------------------------------- model folders
def model_config(model, cfg=None, *, dataset: str | None = None, split: str | None = None,
                 data_revision: str | None = None) -> dict[str, Any]:
    """config.json of a model: its constructor arguments plus architecture, input contract and training data.

    ``cfg`` is the published record of the weight being saved (the publishing step passes it); without one the
    model is a new weight, described only by the arguments given here. A model that started from published
    weights (``model.pretrained_cfg``, set by ``create_model(..., pretrained=True)``) names them as
    ``base_model`` unless it is saved as that same record.
    """
    arch = getattr(model, "arch", "") or (cfg.arch if cfg is not None else "")
    if not arch:
        raise ContractMismatchError("the model has no architecture name (model.arch); build it with "
                                    "zoo.create_model so config.json can name it")
    ctor = dict(getattr(model, "_hub_mixin_config", None) or {})
    clash = sorted(set(ctor) & set(META_KEYS))
    if clash:
        raise ValueError(f"{type(model).__name__} has constructor argument(s) {clash} named like genozoo metadata")
    ctor.update(num_classes=model.num_classes, seq_len=model.seq_len, label_names=list(model.label_names))
    base = getattr(model, "pretrained_cfg", None)

    def pick(given: str | None, attr: str) -> str | None:
        return given if given is not None else ((getattr(cfg, attr) or None) if cfg is not None else None)

    meta = {"arch": arch, "name": cfg.name if cfg is not None else None, "family": model_family(arch),
            "encoding": model.encoding.to_dict(), "classifier": getattr(model, "classifier", "head"),
            "dataset": pick(dataset, "dataset"), "split": pick(split, "split"),
            "data_revision": pick(data_revision, "data_revision"),
            "base_model": repo_id_for(base) if base is not None and (cfg is None or base.name != cfg.name) else None,
            "genozoo_version": __version__}
    return {**ctor, **meta}


def _family_io(family: str) -> tuple[Callable | None, Callable | None]:
    """Family-specific save/load hooks. DISPATCH POINT: the transformer family saves and loads through
    ``transformers`` (so its folders load without genozoo) when :mod:`zoo.models.transformer` provides
    ``save_transformers(model, directory)`` and ``load_transformers(directory) -> model``."""
    if family == "transformer":
        return transformer.save_transformers, transformer.load_transformers
    return None, None


#: Files a model folder holds beside its weights and config.json that describe that one model: the card, the record
#: it was rendered from, a fine-tune's metrics and epochs, a published weight's reference predictions, and the
#: tokenizer of a ``transformers`` folder. When :func:`save_model` replaces a folder's model with other weights,
#: those it does not write again are removed, so a folder never mixes two models' files.
MODEL_FILES = (CARD_NAME, RECORD_NAME, "metrics.json", "epochs.json", "reference.json", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "added_tokens.json")


def save_model(model, directory: str | Path, cfg=None, *, dataset: str | None = None, split: str | None = None,
               data_revision: str | None = None, card: bool = True, keep_record: bool = False) -> Path:
    """Write ``model.safetensors``, ``config.json`` and (``card=True``) ``README.md`` into ``directory``.

    Without ``cfg``, a model that still holds the published weights it was loaded with is saved as that published
    weight (its record: metrics, datasets, no ``base_model``); a changed one names them as ``base_model``.
    ``keep_record=True`` also writes ``cfg`` as ``record.json`` (a weight outside the registry, e.g. a fine-tune),
    which :func:`rerender_card` renders from. The files are written into a temporary sibling folder first and
    moved in one by one with ``os.replace``, so a crash never leaves a half-written file. When ``directory``
    already holds a model with other weights, the files that described it (:data:`MODEL_FILES`: its card,
    record, metrics, ...) and are not written again are removed; files of any other name are kept. A path that
    cannot be written is one sentence naming ``directory`` (:func:`zoo.errors.write_error`), and the folders
    this call created are removed again.
    """
    from zoo.errors import UserError
    from zoo.outputs import _make_folders, _unmake

    if cfg is None:
        cfg = _unchanged_published(model)
    directory = Path(directory)
    if os.path.lexists(directory) and not directory.is_dir():
        raise UserError(f"cannot write the model folder {str(directory)!r}: it exists and is not a folder; give a "
                        f"new or existing folder")
    config = model_config(model, cfg, dataset=dataset, split=split, data_revision=data_revision)
    tmp = directory.parent / f".{directory.name}.{os.getpid()}.tmp"
    made: list[Path] = []
    created = False
    try:
        made = _make_folders(directory.parent, directory)  # the folder itself only once its files are written
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        _write_folder(model, tmp, config, cfg, card=card, keep_record=keep_record)
        old_sha = _old_weights_sha(directory)
        created = not directory.exists()
        directory.mkdir(exist_ok=True)
        written = sorted(tmp.iterdir())
        for f in written:
            make_readable(f)  # safetensors writes 0600 files; a model folder is meant to be shared
            os.replace(f, directory / f.name)
        if old_sha is not None and old_sha != sha256_file(directory / WEIGHTS_NAME):
            names = {f.name for f in written}
            for stale in MODEL_FILES:  # another model's: its card, record, metrics must not stay beside these weights
                if stale not in names:
                    (directory / stale).unlink(missing_ok=True)
    except OSError as err:
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        _unmake(made)
        raise _save_error(err, directory, tmp) from err
    except BaseException:
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        _unmake(made)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _old_weights_sha(directory: Path) -> str | None:
    """The sha256 of the weights ``directory`` holds before a save (None: none), to tell a re-save of the same
    model (publishing writes twice) from another model replacing them."""
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        return "" if (directory / CONFIG_NAME).is_file() else None  # a config without weights: another model's
    return sha256_file(weights)


def _save_error(err: OSError, directory: Path, tmp: Path) -> Exception:
    """``err``, raised while writing the model folder ``directory`` (through its temporary sibling ``tmp``), as one
    sentence naming ``directory``, never the temporary folder; an error about another file is left as it is."""
    from zoo.errors import EnvironmentFailure, UserError, write_error

    if isinstance(err, (EnvironmentFailure, UserError)) or err.errno is None:
        return err
    names = [os.path.abspath(os.fsdecode(f)) for f in (err.filename, err.filename2) if f is not None]
    ours = [str(directory.absolute()), str(tmp.absolute()), str(directory.absolute().parent)]
    if names and not any(n == o or n.startswith(o + os.sep) for n in names for o in ours):
        return err
    return write_error(err, directory, directory.parent)


def _write_folder(model, tmp: Path, config: dict[str, Any], cfg, *, card: bool, keep_record: bool) -> None:
    """The files of a model folder, written into the empty folder ``tmp`` (see :func:`save_model`)."""
    if card:
        from zoo.cards import render_model_card  # the card templates and data registry: for saving only

        (tmp / CARD_NAME).write_text(render_model_card(config, cfg), encoding="utf-8")
    save_hook, _ = _family_io(config["family"])
    if save_hook is not None:  # the family's own layout (transformers), plus genozoo's metadata keys
        try:
            save_hook(model, tmp / "family")
        except Exception as err:  # safetensors reports a failed write (a full disk) as its own error
            converted = _as_os_error(err, tmp / "family" / WEIGHTS_NAME)
            if converted is err:
                raise
            raise converted from err
        for f in (tmp / "family").iterdir():
            os.replace(f, tmp / f.name)
        (tmp / "family").rmdir()
        merged = {**json.loads((tmp / CONFIG_NAME).read_text()), **{k: config[k] for k in META_KEYS if k in config}}
        (tmp / CONFIG_NAME).write_text(json.dumps(merged, indent=2, sort_keys=True))
    else:
        try:
            model.save_pretrained(tmp, config=config)  # mixin: safetensors + config.json (+ its card if none)
        except Exception as err:  # safetensors reports a failed write (a full disk) as its own error
            converted = _as_os_error(err, tmp / WEIGHTS_NAME)
            if converted is err:
                raise
            raise converted from err
    if not card:
        (tmp / CARD_NAME).unlink(missing_ok=True)
    if keep_record and cfg is not None:
        (tmp / RECORD_NAME).write_text(json_text(cfg.to_dict(), sort_keys=True) + "\n")  # metrics: strict
    # The folder records the sha256 of its own weights, so every later load can check them.
    written = json.loads((tmp / CONFIG_NAME).read_text(encoding="utf-8"))
    written[WEIGHTS_SHA_KEY] = sha256_file(tmp / WEIGHTS_NAME)
    (tmp / CONFIG_NAME).write_text(json.dumps(written, indent=2, sort_keys=True), encoding="utf-8")


def _as_os_error(err: Exception, path: Path) -> Exception:
    """safetensors' ``SafetensorError`` for a failed write ("I/O error: No space left on device (os error 28)") as
    the ``OSError`` it stands for, naming ``path``, so the caller reports it as the environment's one sentence
    ("cannot write PATH: no space left ..."); any other error is returned as it is."""
    import errno as _errno
    import re

    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover - safetensors is a dependency
        return err
    if not isinstance(err, SafetensorError):
        return err
    found = re.search(r"os error (\d+)", str(err))
    if found:
        code = int(found.group(1))
    elif "no space left" in str(err).lower():
        code = _errno.ENOSPC
    elif "i/o error" in str(err).lower():
        code = _errno.EIO
    else:
        return err
    return OSError(code, os.strerror(code), str(path))


def read_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ContractMismatchError(f"{path} is not a readable JSON config ({err}); re-save the model") from err
    if not isinstance(config, dict):
        raise ContractMismatchError(f"{path} does not hold a JSON object; re-save the model")
    return config


# ZooModel.save_pretrained (and so push_to_hub) writes genozoo's full config.json; the models do not import us.
ZooModel.config_hook = staticmethod(model_config)
