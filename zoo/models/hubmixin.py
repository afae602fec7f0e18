"""``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` for the models, without loading ``huggingface_hub``
until the Hub itself is used.

:class:`HubMixin` keeps the behaviour and the files of ``huggingface_hub``'s ``PyTorchModelHubMixin`` (which the
models derived from until issue #24 asked for a fast start-up): the constructor's JSON-able arguments are recorded
as ``_hub_mixin_config`` when a model is created; ``save_pretrained`` writes ``model.safetensors``, ``config.json``
(those arguments, or the ``config`` given) and, when the folder has none, the mixin's ``README.md`` card;
``Class.from_pretrained(folder or repo id)`` builds the class from config.json and loads the safetensors weights
(refusing, in one sentence, a file that does not fit the class: torch would raise "size mismatch", or load nothing);
``push_to_hub`` saves into a temporary folder and uploads it in one commit. Importing ``huggingface_hub`` costs
about 0.3 s (its HTTP stack and file locks), a sixth of a model's start-up, so it is imported only by what talks
to the Hub (downloads, pushes) or renders its card; saving and loading a local folder need only ``safetensors``.

Constructor arguments are flat and JSON-serializable (the house rule), so no type coders or dataclass configs are
supported; weights are read from safetensors only (never a pickled ``pytorch_model.bin``).
"""
from __future__ import annotations

import inspect
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from zoo.errors import UserError

__all__ = ["HubMixin", "CONFIG_NAME", "WEIGHTS_NAME", "CARD_NAME", "is_jsonable"]

CONFIG_NAME, WEIGHTS_NAME, CARD_NAME = "config.json", "model.safetensors", "README.md"

#: huggingface_hub's default card template of the mixin (``huggingface_hub.hub_mixin.DEFAULT_MODEL_CARD``), kept
#: here so the card is the same whichever class wrote the folder.
DEFAULT_MODEL_CARD = """
---
# For reference on model card metadata, see the spec: https://github.com/huggingface/hub-docs/blob/main/modelcard.md?plain=1
# Doc / guide: https://huggingface.co/docs/hub/model-cards
{{ card_data }}
---

This model has been pushed to the Hub using the [PytorchModelHubMixin](https://huggingface.co/docs/huggingface_hub/package_reference/mixins#huggingface_hub.PyTorchModelHubMixin) integration:
- Code: {{ repo_url | default("[More Information Needed]", true) }}
- Paper: {{ paper_url | default("[More Information Needed]", true) }}
- Docs: {{ docs_url | default("[More Information Needed]", true) }}
"""

_MIXIN_TAGS = ("model_hub_mixin", "pytorch_model_hub_mixin")  # what huggingface_hub's mixin adds to every card
_CARD_KEYS = ("library_name", "license", "language", "pipeline_tag", "license_name", "license_link")


def is_jsonable(value: Any) -> bool:
    """Whether ``value`` is made of JSON types only (numbers, strings, booleans, None, lists/tuples, str-keyed
    dicts): the constructor arguments that go into config.json (huggingface_hub's rule)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(is_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_jsonable(v) for k, v in value.items())
    return False


def _looks_like_repo_id(s: str) -> bool:
    """``ORG/NAME`` that is no existing path: what may be looked up on the Hub (a typo in a folder name is then
    reported as such, not as a network failure)."""
    parts = s.split("/")
    return len(parts) == 2 and all(parts) and not s.startswith((".", "~")) and not os.path.exists(s)


def _load_fitting(model, weights: str, *, strict: bool, device: str) -> None:
    """``safetensors.torch.load_model`` with one sentence instead of torch's "size mismatch" traceback, and no
    silent random model: the file must hold some tensor of ``model`` besides a classifier head (else it is another
    architecture), each in the model's shape. Tensors the file lacks or has beyond the model are an error with
    ``strict``, a warning without (they stay as initialized)."""
    import warnings

    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_model

    name = type(model).__name__
    try:
        with safe_open(weights, framework="pt") as fh:
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except (SafetensorError, OSError) as err:
        raise UserError(f"{weights} is not a readable safetensors file ({err}); it is truncated or corrupt, "
                        f"replace it") from err
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    head = tuple(getattr(model, "classifier_prefixes", tuple)())  # a head of the same size proves nothing
    if any(not k.startswith(head) for k in own) and not any(k in shapes for k in own if not k.startswith(head)):
        raise UserError(f"none of the tensors in {weights} belong to {name}: it holds another architecture; load "
                        f"its folder with zoo.hub.load_model, which builds the architecture its config.json names")
    wrong = [f"{k} is {shapes[k]} in the file but {own[k]} in the model" for k in own if k in shapes and
             shapes[k] != own[k]]
    if wrong:
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise UserError(f"the weights in {weights} do not fit {name} as built: {wrong[0]}{more}; they were saved "
                        f"with other sizes (num_classes, seq_len or model arguments), so build it as its config.json "
                        f"says (leave out arguments that differ) or load it with zoo.hub.load_model")
    missing, unexpected = load_model(model, weights, strict=False, device=device)
    if missing or unexpected:
        parts = [f"{len(missing)} tensor(s) of {name} missing from the file ({', '.join(sorted(missing)[:3])})"
                 if missing else "",
                 f"{len(unexpected)} tensor(s) in the file that {name} does not have "
                 f"({', '.join(sorted(unexpected)[:3])})" if unexpected else ""]
        what = " and ".join(p for p in parts if p)
        if strict:
            raise UserError(f"the weights in {weights} do not fit {name}: {what}; pass strict=False to load the "
                            f"tensors that fit and leave the rest initialized")
        warnings.warn(f"{weights}: {what}; those are left as initialized (strict=False)", stacklevel=3)


class HubMixin:
    """Hub (de)serialization for an ``nn.Module`` subclass: ``class M(nn.Module, HubMixin, library_name=...,
    tags=[...], repo_url=..., paper_url=..., license=...)``; subclasses inherit the card metadata."""

    _hub_mixin_config: dict | None = None
    _hub_card_info: dict[str, Any] = {}
    _hub_mixin_init_parameters: dict[str, inspect.Parameter] = {}
    _hub_mixin_jsonable_default_values: dict[str, Any] = {}

    def __init_subclass__(cls, *, tags: list[str] | None = None, repo_url: str | None = None,
                          paper_url: str | None = None, docs_url: str | None = None, **card: Any) -> None:
        super().__init_subclass__()
        unknown = set(card) - set(_CARD_KEYS)
        if unknown:
            raise TypeError(f"{cls.__name__}: unknown model card field(s) {sorted(unknown)}")
        info = dict(cls._hub_card_info)  # the parent's, then this class's own
        info.update({k: v for k, v in card.items() if v is not None})
        info.update({k: v for k, v in (("repo_url", repo_url), ("paper_url", paper_url), ("docs_url", docs_url))
                     if v is not None})
        info["tags"] = sorted(set(info.get("tags", ())) | set(tags or ()) | set(_MIXIN_TAGS))
        cls._hub_card_info = info
        cls._hub_mixin_init_parameters = dict(inspect.signature(cls.__init__).parameters)
        cls._hub_mixin_jsonable_default_values = {
            name: p.default for name, p in cls._hub_mixin_init_parameters.items()
            if p.default is not inspect.Parameter.empty and is_jsonable(p.default)}

    def __new__(cls, *args, **kwargs):
        """Record the constructor's JSON-able arguments (defaults, then those passed) as ``_hub_mixin_config``."""
        instance = super().__new__(cls)
        names = [n for n in cls._hub_mixin_init_parameters if n != "self"]
        passed = {**dict(zip(names, args)), **kwargs}
        config = {**cls._hub_mixin_jsonable_default_values,
                  **{k: v for k, v in passed.items() if is_jsonable(v)}}
        if config:
            instance._hub_mixin_config = config
        return instance

    # ------------------------------------------------------------------------------------------------ save
    def save_pretrained(self, save_directory: str | Path, *, config: dict | None = None, repo_id: str | None = None,
                        push_to_hub: bool = False, model_card_kwargs: dict[str, Any] | None = None,
                        **push_to_hub_kwargs: Any) -> str | None:
        """Write ``model.safetensors``, ``config.json`` (``config``, else the recorded constructor arguments) and,
        when the folder has none, the default ``README.md`` card; ``push_to_hub=True`` then pushes the model to
        ``repo_id`` (default: the folder's name) with :meth:`push_to_hub`. Returns the commit URL of a push."""
        from safetensors.torch import save_model

        save_directory = Path(save_directory)
        save_directory.mkdir(parents=True, exist_ok=True)
        (save_directory / CONFIG_NAME).unlink(missing_ok=True)
        save_model(getattr(self, "module", self), str(save_directory / WEIGHTS_NAME))
        if config is None:
            config = self._hub_mixin_config
        if config is not None:
            (save_directory / CONFIG_NAME).write_text(json.dumps(config, sort_keys=True, indent=2))
        if not (save_directory / CARD_NAME).exists():
            self.generate_model_card(**(model_card_kwargs or {})).save(save_directory / CARD_NAME)
        if push_to_hub:
            kwargs = dict(push_to_hub_kwargs)
            if config is not None:
                kwargs["config"] = config
            return self.push_to_hub(repo_id or save_directory.name, model_card_kwargs=model_card_kwargs, **kwargs)
        return None

    def generate_model_card(self, *args: Any, **kwargs: Any):
        """The default card (``huggingface_hub.ModelCard``) with this class's metadata: library, license, tags,
        code and paper links."""
        from huggingface_hub import ModelCard, ModelCardData

        info = dict(self._hub_card_info)
        links = {k: info.pop(k, None) for k in ("repo_url", "paper_url", "docs_url")}
        return ModelCard.from_template(card_data=ModelCardData(**info), template_str=DEFAULT_MODEL_CARD,
                                       **links, **kwargs)

    # ------------------------------------------------------------------------------------------------ load
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *, force_download: bool = False,
                        token: str | bool | None = None, cache_dir: str | Path | None = None,
                        local_files_only: bool = False, revision: str | None = None, map_location: str = "cpu",
                        strict: bool = False, **model_kwargs: Any):
        """Build ``cls`` from a folder's or Hub repo's ``config.json`` (arguments given here win) and load its
        ``model.safetensors``; the model is returned in eval mode. ``strict=False``, as huggingface_hub's mixin,
        leaves tensors the file lacks initialized (with a warning here); a file holding nothing of the model but a
        classifier head, or tensors of other shapes, is refused with a :class:`zoo.errors.UserError` either way. A
        subclass picks the class a config.json builds, or refuses it, in :meth:`_pretrained_class`."""
        model_id = str(pretrained_model_name_or_path)
        local = os.path.isdir(model_id)
        if not local and not _looks_like_repo_id(model_id):
            raise UserError(f"{model_id!r} is neither a model folder nor a Hub repo id (ORG/NAME); check the path")
        download = dict(revision=revision, cache_dir=cache_dir, force_download=force_download, token=token,
                        local_files_only=local_files_only)
        config_file = None
        if local:
            if os.path.isfile(os.path.join(model_id, CONFIG_NAME)):
                config_file = os.path.join(model_id, CONFIG_NAME)
        else:
            from huggingface_hub import hf_hub_download
            from huggingface_hub.errors import HfHubHTTPError

            try:
                config_file = hf_hub_download(model_id, CONFIG_NAME, **download)
            except HfHubHTTPError:
                config_file = None  # a repo without config.json: the arguments given (or defaults) build it
        config = None
        if config_file is not None:
            try:
                with open(config_file, encoding="utf-8") as fh:
                    config = json.load(fh)
            except ValueError as err:
                raise UserError(f"{config_file} is not readable JSON ({err}); re-save the model") from err
        target = cls._pretrained_class(config, model_id)
        if config is not None:
            params = target._hub_mixin_init_parameters
            for name in params:
                if name != "self" and name not in model_kwargs and name in config:
                    model_kwargs[name] = config[name]
            if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
                for key, value in config.items():
                    model_kwargs.setdefault(key, value)
        model = target(**model_kwargs)
        if local:
            weights = os.path.join(model_id, WEIGHTS_NAME)
            if not os.path.isfile(weights):
                raise UserError(f"{model_id} has no {WEIGHTS_NAME}; copy the whole model folder")
        else:
            from huggingface_hub import hf_hub_download

            weights = hf_hub_download(model_id, WEIGHTS_NAME, **download)
        _load_fitting(model, weights, strict=strict, device=map_location)
        model.eval()
        if config is not None and getattr(model, "_hub_mixin_config", None) in (None, {}):
            model._hub_mixin_config = config
        model._loaded_from_config(config)
        return model

    @classmethod
    def _pretrained_class(cls, config: dict | None, where: str) -> type:
        """The class :meth:`from_pretrained` builds for ``config`` (None: the folder has no config.json): ``cls``.
        A subclass returns a more specific class, or raises a :class:`zoo.errors.UserError` for a config it does
        not build."""
        return cls

    def _loaded_from_config(self, config: dict | None) -> None:
        """Called by :meth:`from_pretrained` on the loaded model with the config.json it was built from."""

    # ------------------------------------------------------------------------------------------------ push
    def push_to_hub(self, repo_id: str, *, config: dict | None = None,
                    commit_message: str = "Push model using huggingface_hub.", private: bool | None = None,
                    token: str | None = None, branch: str | None = None, create_pr: bool | None = None,
                    allow_patterns: list[str] | str | None = None, ignore_patterns: list[str] | str | None = None,
                    delete_patterns: list[str] | str | None = None,
                    model_card_kwargs: dict[str, Any] | None = None) -> str:
        """Create ``repo_id`` if needed, save the model into a temporary folder with :meth:`save_pretrained` and
        upload it in one commit; returns the commit URL."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id=repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
            saved = Path(tmp) / repo_id
            self.save_pretrained(saved, config=config, model_card_kwargs=model_card_kwargs)
            return api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=saved,
                                     commit_message=commit_message, revision=branch, create_pr=create_pr,
                                     allow_patterns=allow_patterns, ignore_patterns=ignore_patterns,
                                     delete_patterns=delete_patterns)
