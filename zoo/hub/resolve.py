"""Where published weights come from: an explicit path, the bundled ``hub/`` folder, or the Hugging Face Hub.

:func:`load_pretrained` is what ``zoo.create_model("arch.tag", pretrained=True)`` calls. It looks for
``model.safetensors`` in this order: an explicit ``checkpoint_path``; the bundled folder ``hub/<org>/<arch>.<tag>/``
of the repository (or ``$GENOZOO_HUB_DIR/<org>/<arch>.<tag>/``); the Hub repo ``<org>/<arch>.<tag>`` (the record's
``hub_id``, else ``$GENOZOO_HUB_ORG``, default ``genozoo``) through ``hf_hub_download`` and its cache, at the
record's pinned revision. The file's sha256 is checked against the record wherever it came from, so a bundled,
cached or downloaded file that was truncated or altered is refused (and evicted from the cache); so is a config.json
beside it whose architecture, encoding, labels or model arguments differ from the record's. With
``HF_HUB_OFFLINE=1`` the cache and the bundle are used and nothing is fetched.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from zoo.hub.errors import (ContractMismatchError, IntegrityError, UnknownArchitectureError, WeightsNotFoundError,
                            hub_errors)
from zoo.hub.folders import (CONFIG_NAME, META_KEYS, WEIGHTS_NAME, _family_io, _weights_in, build_for_loading,
                             fillable, load_weights, read_config, state_digest)
from zoo.hub.validate import build_checked, sha256_file, verify_config, verify_weights
from zoo.registry import (DEFAULT_ORG, UnknownModelError, hub_org, is_model, model_entrypoint, pretrained_cfg,
                          repo_id_for, set_weight_loaders)

__all__ = ["DEFAULT_ORG", "hub_org", "hub_dir", "repo_id_for", "sha256_file", "download_model",
           "resolve_pretrained", "load_pretrained", "load_model", "load_named"]


# ------------------------------------------------------------------------------------------- locations
def hub_dir() -> Path:
    """The bundled local hub: ``$GENOZOO_HUB_DIR``, else the ``hub/`` folder the installed package carries (a
    checkout's own ``hub/`` when genozoo runs from one; :func:`zoo.resources.resource_dir`). Point
    ``GENOZOO_HUB_DIR`` at an empty folder to switch the bundle off (weights then come from the Hub)."""
    from zoo.resources import resource_dir

    return Path(os.environ.get("GENOZOO_HUB_DIR") or resource_dir("hub"))


_warned_hub_dirs: set[str] = set()


def _bundle_dir() -> Path:
    """:func:`hub_dir` for loading published weights: a ``$GENOZOO_HUB_DIR`` that is not a folder (a typo, a
    volume not mounted) is said once, in one warning, instead of being taken silently for an empty bundle."""
    folder = hub_dir()
    value = os.environ.get("GENOZOO_HUB_DIR")
    if value and not folder.is_dir() and value not in _warned_hub_dirs:
        _warned_hub_dirs.add(value)
        what = "is not a folder" if os.path.lexists(folder) else "does not exist"
        warnings.warn(f"GENOZOO_HUB_DIR={value!r} {what}, so no bundled weights are used and published weights "
                      f"come from the Hub (or its cache); point it at a hub folder, or unset it", stacklevel=6)
    return folder


def _bundle_fix(what: str) -> str:
    """What to do about a bundled ``what`` (file or folder) that is not the published one, by where the bundle
    is: a ``$GENOZOO_HUB_DIR`` folder, the copy an installed genozoo carries, or a checkout's ``hub/``."""
    from zoo.resources import BUNDLE_DIR

    folder = hub_dir()
    if os.environ.get("GENOZOO_HUB_DIR"):
        return (f"restore the bundled {what} in GENOZOO_HUB_DIR ({folder}) from where you copied it, or delete "
                f"the model's folder there to fetch it from the Hub")
    try:
        installed = folder.resolve().is_relative_to(BUNDLE_DIR.resolve())
    except OSError:
        installed = False
    if installed:
        return (f"reinstall genozoo (pip install --force-reinstall --no-deps genozoo) to restore the bundled {what}, "
                f"or delete it to fetch the model from the Hub")
    return f"restore the bundled {what} (git checkout -- hub/) or delete it to fetch the model from the Hub"


def _is_repo_id(s: str) -> bool:
    parts = s.split("/")
    return len(parts) == 2 and all(parts) and not s.startswith((".", "~")) and not Path(s).exists()


def _cache_folder(repo_id: str, repo_type: str = "model") -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / f"{repo_type}s--{repo_id.replace('/', '--')}"


def _drop_partial(repo_id: str, repo_type: str = "model") -> None:
    """Remove interrupted downloads (``*.incomplete`` blobs) of a repo from the cache."""
    for p in (_cache_folder(repo_id, repo_type) / "blobs").glob("*.incomplete"):
        p.unlink(missing_ok=True)


def _evict(path: Path) -> None:
    """Remove a cached file: its snapshot link and the blob it points to."""
    blob = path.resolve()
    path.unlink(missing_ok=True)
    if blob != path and "blobs" in blob.parts:
        blob.unlink(missing_ok=True)


def download_model(repo_id: str, revision: str | None = None,
                   filenames: tuple[str, ...] = (CONFIG_NAME, WEIGHTS_NAME)) -> Path:
    """Fetch ``filenames`` of a Hub model repo into the Hugging Face cache; return the snapshot folder.

    The weights are checked against the sha256 the Hub reports for the LFS object (the cache names blobs by it);
    a truncated or altered file is removed from the cache and refused.
    """
    from huggingface_hub import hf_hub_download

    paths: dict[str, Path] = {}
    for name in filenames:
        try:
            with hub_errors(repo_id, name, revision):
                paths[name] = Path(hf_hub_download(repo_id, name, revision=revision))
        finally:
            _drop_partial(repo_id)
    weights = paths.get(WEIGHTS_NAME)
    if weights is not None:
        etag = weights.resolve().name
        if len(etag) == 64 and all(c in "0123456789abcdef" for c in etag) and sha256_file(weights) != etag:
            _evict(weights)
            raise IntegrityError(f"{WEIGHTS_NAME} of {repo_id!r} does not match the sha256 the Hub reports (a "
                                 f"truncated or altered download); it was removed from the cache, try again")
    return next(iter(paths.values())).parent


# ---------------------------------------------------------------------------------------- resolution
def resolve_pretrained(cfg, checkpoint_path: str | Path | None = None) -> tuple[Path, str]:
    """Where the weights of a published record come from: ``(path of model.safetensors, source)`` with source
    ``"path"`` (explicit), ``"bundle"`` (``hub/`` or ``$GENOZOO_HUB_DIR``) or ``"hub"`` (the Hugging Face cache).
    The file's sha256 is verified against ``cfg.sha256`` when the record has one."""
    if checkpoint_path is not None:
        path, source = _weights_in(Path(checkpoint_path)), "path"
        if not path.is_file():
            raise WeightsNotFoundError(f"checkpoint {str(checkpoint_path)!r} is neither a model.safetensors file "
                                       f"nor a folder holding one")
    else:
        repo_id = repo_id_for(cfg)
        bundled = _bundle_dir() / repo_id / WEIGHTS_NAME
        if bundled.is_file():
            path, source = bundled, "bundle"
        else:
            path, source = download_model(repo_id, cfg.revision) / WEIGHTS_NAME, "hub"
    if cfg.sha256 and sha256_file(path) != cfg.sha256:
        if source == "hub":
            _evict(path)
            fix = "it was removed from the cache; try again, and report it if it persists"
        elif source == "bundle":
            fix = _bundle_fix("file")
        else:
            fix = "it is not the published file (truncated, altered or another weight); pass the right file"
        raise IntegrityError(f"{path} does not match the sha256 recorded for {cfg.name} ({cfg.sha256[:12]}...); "
                             f"{fix}")
    return path, source


#: What to do about a config.json that disagrees with its published record, by where it came from.
_RECORD_FIXES = {
    "hub": "it was removed from the cache; try again, and report it if it persists",
    "path": "pass the published folder, or load this one as an unpublished model with zoo.hub.load_model(FOLDER, "
            "allow_modified=True)",
    "folder": "restore the folder, or pass --allow-modified (allow_modified=True) to load it as an unpublished model",
}


def _check_against_record(config: dict, cfg, config_path: Path, source: str, allow_modified: bool = False) -> bool:
    """:func:`zoo.hub.validate.verify_config` with the advice for where ``config_path`` came from; a file from the
    Hugging Face cache that disagrees is removed from it, as disagreeing weights are."""
    try:
        fix = _bundle_fix("folder") if source == "bundle" else _RECORD_FIXES[source]
        return verify_config(config, cfg, where=str(config_path), fix=fix,
                             allow_modified=allow_modified)
    except IntegrityError:
        if source == "hub":
            _evict(config_path)
        raise


def load_pretrained(cfg, builder: Callable[..., Any], args: dict[str, Any],
                    checkpoint_path: str | Path | None = None):
    """Build ``builder(**args)`` and load the published weights of ``cfg`` (see the module docstring for where
    they are looked up). A different ``num_classes`` leaves the classifier fresh (fine-tuning); a different
    ``seq_len`` leaves the length-dependent layers whose shapes changed fresh. Both are reported as a warning and
    in ``model.skipped_weights``."""
    path, source = resolve_pretrained(cfg, checkpoint_path)
    new_head = int(args.get("num_classes", cfg.num_classes)) != cfg.num_classes
    new_len = int(args.get("seq_len", cfg.seq_len)) != cfg.seq_len
    # Every tensor comes from the file unless a head or length-dependent layers are replaced: skip initializing.
    model = builder(**args) if new_head or new_len else build_for_loading(builder, args)
    model.arch = cfg.arch
    config_path = path.with_name(CONFIG_NAME)
    if config_path.is_file():  # the folder's own record must agree with what the registry builds
        saved = read_config(config_path)
        if saved.get("arch", cfg.arch) != cfg.arch:
            raise ContractMismatchError(f"{config_path} is for architecture {saved['arch']!r}, not {cfg.arch!r}; "
                                        f"pass the folder of a {cfg.name} weight")
        ours = {k: v for k, v in model.encoding.to_dict().items() if not (new_len and k == "length")}
        theirs = {k: v for k, v in (saved.get("encoding") or ours).items() if not (new_len and k == "length")}
        if theirs != ours:
            raise ContractMismatchError(f"{config_path} declares input encoding {saved['encoding']} but "
                                        f"{cfg.name} as built expects {model.encoding.to_dict()}; the weights were "
                                        f"trained for another input")
        if cfg.sha256:  # the record pins these weights: their config.json must say what it says (labels, sizes)
            _check_against_record(saved, cfg, config_path, source)
    skipped = load_weights(model, path, skip_prefixes=model.classifier_prefixes() if new_head else (),
                           skip_shape_mismatch=new_len)
    if skipped:
        why = " and ".join(w for w, changed in (("num_classes", new_head), ("seq_len", new_len)) if changed)
        warnings.warn(f"{cfg.name}: {len(skipped)} tensor(s) not loaded and left freshly initialized "
                      f"({', '.join(skipped)}) because {why} changed", stacklevel=3)
    model.skipped_weights = skipped
    model.pretrained_cfg = cfg
    model.pretrained_digest = state_digest(model)  # save_model tells the published weight from a changed one
    model.weights_source = source
    return model.eval()


#: The metadata fields of a config.json and the JSON type each must have (the constructor arguments are checked
#: by :func:`zoo.hub.validate.build_checked`).
_FIELD_TYPES = {"arch": (str, "a string"), "name": (str, "a string"), "family": (str, "a string"),
                "encoding": (dict, "an object"), "dataset": (str, "a string"), "split": (str, "a string"),
                "data_revision": (str, "a string"), "base_model": (str, "a string"),
                "genozoo_version": (str, "a string"), "weights_sha256": (str, "a string"),
                "label_names": (list, "a list of strings"), "genozoo": (dict, "an object")}
_JSON_NAMES = {str: "a string", int: "a number", float: "a number", bool: "true/false", list: "a list",
               dict: "an object", type(None): "null"}


def _check_field_types(config: dict, where: Path) -> None:
    """Refuse a config.json whose metadata fields have the wrong JSON type (``"arch": 5``), or whose
    ``label_names`` name a class twice: one sentence naming the file and the field, not a crash deep inside the
    registry or a CSV with two columns of one name."""
    for key, (kind, what) in _FIELD_TYPES.items():
        if key not in config or (config[key] is None and key not in ("arch",)):
            continue
        value = config[key]
        bad = not isinstance(value, kind) or isinstance(value, bool) and kind is not bool
        if kind is list and not bad:
            bad = not all(isinstance(v, str) for v in value)
        if bad:
            got = _JSON_NAMES.get(type(value), type(value).__name__)
            if kind is list and isinstance(value, list):
                got = "a list holding non-strings"
            raise ContractMismatchError(f"{where} has field {key!r} of the wrong type: it must be {what}, not {got} "
                                        f"({json.dumps(value)[:40]}); re-save the model or fix the file")
    names = config.get("label_names")
    if isinstance(names, list) and len(set(names)) != len(names):  # a class named twice: its columns would clash
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ContractMismatchError(f"{where} names the class(es) {', '.join(map(repr, twice))} more than once in "
                                    "'label_names'; give every class its own name")


def load_model(dir_or_repo_id: str | Path, revision: str | None = None, *, map_location: str = "cpu",
               allow_modified: bool = False):
    """Build a model from a model folder or Hub repo (``ORG/NAME``, at ``revision``): the architecture named in
    config.json comes from the registry, built from the saved constructor arguments (bounded and size-checked
    before anything is allocated, :func:`zoo.hub.validate.build_checked`); the weights must match the sha256
    config.json records and, when it names a published record, that record's, and config.json itself must then
    state what the record states (:func:`zoo.hub.validate.verify_config`; ``allow_modified=True`` loads either
    anyway, with a warning, as an unpublished weight); they load strictly, and the input contract (``encoding``)
    must match the one the built model declares."""
    src = Path(dir_or_repo_id)
    if src.is_dir():
        folder = src
    elif isinstance(dir_or_repo_id, str) and _is_repo_id(dir_or_repo_id):
        folder = download_model(dir_or_repo_id, revision)
    else:
        raise WeightsNotFoundError(f"{str(dir_or_repo_id)!r} is neither a model folder nor a Hub repo id "
                                   f"(ORG/NAME)")
    if not (folder / CONFIG_NAME).is_file():
        raise WeightsNotFoundError(f"{folder} has no {CONFIG_NAME}; it is not a saved genozoo model folder")
    config = read_config(folder / CONFIG_NAME)
    _check_field_types(config, folder / CONFIG_NAME)
    arch = config.get("arch")
    if not arch:
        raise ContractMismatchError(f"{folder / CONFIG_NAME} names no architecture ('arch'); it was not saved by "
                                    f"genozoo (use zoo.hub.save_model)")
    try:
        builder = model_entrypoint(arch)
    except UnknownModelError as err:
        raise UnknownArchitectureError(f"{folder / CONFIG_NAME} names architecture {arch!r}, which this genozoo "
                                       f"does not have; upgrade genozoo or check the file") from err
    where = str(folder / CONFIG_NAME)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise WeightsNotFoundError(f"{folder} has no {WEIGHTS_NAME}; copy the whole model folder")
    name = config.get("name")
    record = pretrained_cfg(name) if isinstance(name, str) and "." in name and is_model(name) else None
    # A Hub repo read at another revision than the one its record pins holds another weight by design (a retrain
    # pushed as a new revision): its own recorded sha256 is checked, and it does not claim the record.
    other_revision = not src.is_dir() and record is not None and bool(record.revision) and \
        revision != record.revision
    checked = {k: v for k, v in config.items() if k != "name"} if other_revision else config
    intact = verify_weights(weights, checked, allow_modified=allow_modified, where=str(folder))
    claims = intact and record is not None and (not other_revision or sha256_file(weights) == record.sha256)
    _, load_hook = _family_io(config.get("family", ""))
    if load_hook is not None:  # a family with its own layout (transformers) rebuilds itself
        from safetensors import SafetensorError

        args = (config.get("genozoo") or {}).get("model_args")
        if isinstance(args, dict):  # sizes checked on the meta device before transformers allocates them
            with torch.device("meta"):
                build_checked(builder, args, arch, where)
        try:
            model = load_hook(folder)
        except (SafetensorError, OSError) as err:
            raise IntegrityError(f"{folder / WEIGHTS_NAME} is not a readable safetensors file ({err}); it is "
                                 f"truncated or corrupt, replace it") from err
        except RuntimeError as err:  # load_state_dict(strict=True): the weights do not fit the layers described
            why = " ".join(str(err).split())
            raise ContractMismatchError(f"the weights in {folder} do not fit {arch!r} as {CONFIG_NAME} describes it "
                                        f"({why[:200]}{'...' if len(why) > 200 else ''}); check the file or "
                                        f"re-save the model") from err
    else:
        ctor = {k: v for k, v in config.items() if k not in META_KEYS}
        model = build_checked(builder, ctor, arch, where, on_meta=True)  # filled by load_weights (strict)
        if not fillable(model):
            model = builder(**ctor)
        load_weights(model, folder, verify=False)  # checked above, with the caller's allow_modified
    if "encoding" in config and model.encoding.to_dict() != config["encoding"]:
        raise ContractMismatchError(f"{folder / CONFIG_NAME} declares input encoding {config['encoding']} but "
                                    f"{arch!r} built from it expects {model.encoding.to_dict()}; re-save the model")
    model.arch = arch
    if claims and record.sha256:  # the weights the record pins: config.json must say what it says (labels, sizes)
        claims = _check_against_record(config, record, folder / CONFIG_NAME, "folder" if src.is_dir() else "hub",
                                       allow_modified=allow_modified)
    # Only intact weights carry the published record they name (its metrics, card and claims); a modified weight
    # or config loaded with allow_modified is an unpublished one.
    if claims:
        model.pretrained_cfg = record
        model.pretrained_digest = state_digest(model)
    return model.to(map_location).eval()


# create_model(..., pretrained=True) loads through this layer; the registry below does not import it.
set_weight_loaders(load_pretrained, load_weights, load_model=load_model)


def load_named(spec: str, revision: str | None = None, *, allow_modified: bool = False):
    """A model from a local model folder (or its ``model.safetensors``), a Hub repo id (``org/arch.tag``) or a
    published ``arch.tag`` name: what ``genozoo predict`` and ``genozoo evaluate`` take besides a run folder
    (:func:`zoo.predict.load_model`). An unknown name or a bare architecture is one sentence."""
    from zoo.errors import UserError
    from zoo.registry import create_model

    text = str(spec)
    path = Path(text)
    exists = os.path.exists(text)  # False, not an error, for a name too long to be a path (a literal sequence)
    if (exists and path.is_dir()) or path.suffix == ".safetensors":
        return load_model(path.parent if path.suffix == ".safetensors" else path, revision=revision,
                          allow_modified=allow_modified)
    if "." not in text and "/" not in text and not exists:
        model_entrypoint(text)  # an unknown name raises the registry's "unknown model ..." sentence
    if is_model(text):
        if "." not in text:
            raise UserError(f"{text!r} is an architecture without weights; give a published name such as "
                            f"'{text}.splice' (see `genozoo list --pretrained`) or a trained model folder")
        return create_model(text, pretrained=True)
    if text.count("/") == 1 and not exists:
        return load_model(text, revision=revision, allow_modified=allow_modified)
    return create_model(text, pretrained=True)  # raises the registry's "unknown model ..." sentence
