"""``genozoo card``: re-render the card (``README.md``) of a model folder, never losing what only it holds.

The card is rendered from the folder's ``config.json`` and a record: the registry's (a published weight, named in
config.json), else the folder's own ``record.json`` (a fine-tune). A folder with neither (saved before record.json
existed) keeps its old card's ``model-index``, ``datasets`` and ``base_model``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from zoo.hub.errors import ContractMismatchError, WeightsNotFoundError
from zoo.hub.folders import CARD_NAME, CONFIG_NAME, META_KEYS, RECORD_NAME, model_config, read_config
from zoo.hub.resolve import load_model
from zoo.registry import PretrainedCfg, is_model, pretrained_cfg

__all__ = ["rerender_card", "card_text"]


def _folder_record(folder: Path):
    path = folder / RECORD_NAME
    if not path.is_file():
        return None
    try:
        return PretrainedCfg.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as err:
        raise ContractMismatchError(f"{path} is not a readable genozoo record ({err}); re-save the model") from err


def _keep_metadata(card_path: Path, text: str) -> str:
    """``text`` with the results, datasets and base model of the card at ``card_path`` carried over where the new
    rendering has none (a folder saved without a record: its card is the only place they are kept)."""
    from huggingface_hub import ModelCard

    try:
        old = ModelCard.load(card_path).data.to_dict()
    except Exception:  # noqa: BLE001 - an unreadable old card has nothing to keep
        return text
    new = ModelCard(text)
    data = new.data.to_dict()
    kept = {k: old[k] for k in ("model-index", "datasets", "base_model") if old.get(k) and not data.get(k)}
    if not kept:
        return text
    from huggingface_hub import ModelCardData

    new.data = ModelCardData(**{**data, **kept})
    return str(new)


def rerender_card(model_dir: str | Path, name: str | None = None) -> Path:
    """Re-render ``README.md`` of a model folder (:func:`card_text`), atomically. Returns the card's path."""
    folder = Path(model_dir)
    text = card_text(folder, name)
    tmp = folder / f".{CARD_NAME}.{os.getpid()}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, folder / CARD_NAME)
    return folder / CARD_NAME


def card_text(model_dir: str | Path, name: str | None = None) -> str:
    """The card of a model folder, rendered from its config.json and the registry record named in it (or
    ``name``), else its ``record.json``, keeping what only the old card holds (see the module docstring)."""
    folder = Path(model_dir)
    if not (folder / CONFIG_NAME).is_file():
        raise WeightsNotFoundError(f"{folder} has no {CONFIG_NAME}; give the folder of a saved genozoo model")
    config = read_config(folder / CONFIG_NAME)
    if "arch" not in config or "encoding" not in config:
        raise ContractMismatchError(f"{folder / CONFIG_NAME} lacks 'arch' or 'encoding'; re-save the model with "
                                    f"zoo.hub.save_model")
    if name:  # asked for by the user: an unknown name is an error
        cfg = pretrained_cfg(name)
    else:  # named in config.json, else the folder's own record (a fine-tune), else none
        name = config.get("name")
        cfg = pretrained_cfg(name) if name and "." in name and is_model(name) else _folder_record(folder)
    if "label_names" not in config:  # a transformers folder: its config.json is transformers' own, plus our keys
        ours = {k: config[k] for k in META_KEYS if config.get(k) is not None}
        config = {**model_config(load_model(folder), cfg), **ours}
    from zoo.cards import render_model_card  # card templates and the data registry: loaded when a card is made

    text = render_model_card(config, cfg)
    if cfg is None and (folder / CARD_NAME).is_file():
        text = _keep_metadata(folder / CARD_NAME, text)
    return text
