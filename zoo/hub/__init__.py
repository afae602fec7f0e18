"""Weights in and out of genozoo: model folders laid out like Hub repos, where published weights come from, and
push / pull to the Hugging Face Hub.

* :mod:`zoo.hub.folders`: :func:`save_model` writes ``model.safetensors`` + ``config.json`` (constructor
  arguments + architecture + input contract + training data) + ``README.md`` (the card from :mod:`zoo.cards`)
  atomically; :func:`load_weights` loads safetensors strictly (or skipping a replaced head / resized layers).
* :mod:`zoo.hub.resolve`: :func:`load_pretrained` (what ``create_model(..., pretrained=True)`` calls): explicit
  path, else bundled ``hub/<org>/<arch>.<tag>/`` (or ``$GENOZOO_HUB_DIR``), else the Hub repo through
  ``hf_hub_download`` and its cache, sha256-verified, its config.json checked against the published record;
  :func:`load_model` builds any model folder or repo back.
* :mod:`zoo.hub.remote`: :func:`push`, :func:`pull`, :func:`push_dataset` (data and card in one commit),
  :func:`pull_dataset`.
* :mod:`zoo.hub.errors`: the :class:`HubError` family, one sentence each.
"""
from zoo.hub.errors import (ContractMismatchError, HubConnectionError, HubError, HubUnreachableError,
                            IntegrityError, RepoNotFoundError, UnknownArchitectureError, WeightsNotFoundError,
                            hub_errors)
from zoo.hub.folders import (CARD_NAME, CONFIG_NAME, META_KEYS, WEIGHTS_NAME, load_weights, model_config,
                             read_config, save_model)
from zoo.hub.rerender import rerender_card
from zoo.hub.remote import PushResult, pull, pull_dataset, push, push_all, push_dataset
from zoo.hub.resolve import (DEFAULT_ORG, download_model, hub_dir, hub_org, load_model, load_pretrained,
                             repo_id_for, resolve_pretrained, sha256_file)

__all__ = [
    "HubError", "RepoNotFoundError", "WeightsNotFoundError", "HubUnreachableError", "HubConnectionError",
    "IntegrityError", "UnknownArchitectureError", "ContractMismatchError", "hub_errors",
    "WEIGHTS_NAME", "CONFIG_NAME", "CARD_NAME", "META_KEYS", "load_weights", "model_config", "read_config",
    "save_model", "rerender_card", "DEFAULT_ORG", "hub_org", "hub_dir", "repo_id_for", "sha256_file", "download_model",
    "resolve_pretrained", "load_pretrained", "load_model", "push", "push_all", "PushResult", "pull", "push_dataset",
    "pull_dataset",
]
