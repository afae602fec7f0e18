"""Publishing to and fetching from the Hugging Face Hub: model folders and benchmark datasets.

:func:`push` uploads a model folder (checked first: it must build and load strictly, and its card must parse) to a
model repo in one commit, on ``main`` or on a branch; :func:`push_all` pushes every published weight of the
bundled hub to ``<org>/<arch>.<tag>``, skipping repos that already hold the same files; :func:`pull` fetches a
model repo into the Hugging Face cache (or a folder), verifies the weights against the sha256 the Hub reports and
checks the model builds. :func:`push_dataset` uploads a ``datasets.DatasetDict`` as parquet files with a dataset
card (no loading script) in one commit, so a repo holds the old data and card or the new ones, never a mix, and a
repo it created is deleted again when the upload fails; :func:`pull_dataset` loads one back. All of them speak
to ``HF_ENDPOINT`` through the unmodified ``huggingface_hub`` client; the tests run them against a loopback server
(``tests/hubserver.py``).
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable, NamedTuple

from zoo.errors import UserError
from zoo.hub.errors import HubError, WeightsNotFoundError, hub_errors
from zoo.hub.folders import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, read_config
from zoo.hub.resolve import download_model, load_model
from zoo.hub.validate import sha256_file, verify_config, verify_weights
from zoo.version import __version__

__all__ = ["push", "push_all", "PushResult", "remote_matches", "pull", "push_dataset", "pull_dataset"]

#: Files of a model folder that are published: weights, config, card and small JSON side files (e.g. reference
#: predictions). Hidden and temporary files never are.
MODEL_PATTERNS = [WEIGHTS_NAME, CONFIG_NAME, CARD_NAME, "*.json"]


def _require_token() -> None:
    from huggingface_hub import get_token

    if not get_token():
        raise HubError("no Hugging Face token found; run `hf auth login` or set HF_TOKEN to a token with write access")


def _check_card(path: Path, kind: str = "model") -> None:
    """Refuse a card file that does not parse, or whose front matter is unclosed (read as no metadata at all)."""
    from huggingface_hub import DatasetCard, ModelCard

    from zoo.data.card import check_front_matter

    try:
        text = path.read_text(encoding="utf-8")
        check_front_matter(text, f"the card {path}")
        (ModelCard if kind == "model" else DatasetCard)(text)
    except UserError as err:
        raise HubError(f"{err}, or re-render it with `genozoo card`") from None
    except Exception as err:  # noqa: BLE001 - any parse failure means the card is broken
        raise HubError(f"the card {path} does not parse ({err}); re-render it with `genozoo card`") from err


def push(model_dir: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
         commit_message: str | None = None) -> str:
    """Upload a model folder to the Hub model repo ``repo_id`` (created if missing, ``private`` if asked) on
    branch ``revision`` (created from ``main`` if missing). Returns the commit URL. A folder holding a published
    weight whose config.json says otherwise than its record (:func:`zoo.hub.validate.verify_config`) is refused."""
    from huggingface_hub import HfApi

    folder = Path(model_dir)
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise WeightsNotFoundError(f"model folder {str(folder)!r} {what}; give the folder genozoo finetune or "
                                   "zoo.hub.save_model wrote")
    for name in (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME):
        if not (folder / name).is_file():
            raise WeightsNotFoundError(f"{folder} has no {name}; save the model with zoo.hub.save_model (or "
                                       f"`genozoo card {folder}` for a missing card) before pushing")
    # The folder's own recorded sha256 must match: a damaged or altered file is never pushed. A retrained weight
    # pushed as a new revision of a published name differs from the registry's record by design, so the record
    # is not compared here; the folder must still build and load strictly.
    config = read_config(folder / CONFIG_NAME)
    verify_weights(folder / WEIGHTS_NAME, {k: v for k, v in config.items() if k != "name"}, where=str(folder))
    record = _published_record(config)
    if record is not None and record.sha256 and sha256_file(folder / WEIGHTS_NAME) == record.sha256:
        # The published weights under an edited config.json would spread predictions that mean something else.
        verify_config(config, record, where=str(folder / CONFIG_NAME),
                      fix="restore it before pushing, or save the model anew with zoo.hub.save_model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_model(folder, allow_modified=True)
    _check_card(folder / CARD_NAME)
    _require_token()
    api = HfApi()
    with hub_errors(repo_id, revision=revision, upload=True):
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, folder_path=folder, revision=revision,
                                   allow_patterns=MODEL_PATTERNS, ignore_patterns=[".*", "*.tmp"],
                                   commit_message=commit_message or f"Upload {folder.name} with genozoo")
    return str(commit)


def _published_record(config: dict):
    """The published record config.json names, or None."""
    from zoo.registry import is_model, pretrained_cfg

    name = config.get("name")
    return pretrained_cfg(name) if isinstance(name, str) and "." in name and is_model(name) else None


class PushResult(NamedTuple):
    """One model of :func:`push_all`: its repo and the commit URL, or ``None`` when the repo was up to date."""

    name: str
    repo_id: str
    commit: str | None


def _local_files(folder: Path) -> dict[str, Path]:
    """The files of a model folder that :func:`push` publishes (:data:`MODEL_PATTERNS`)."""
    return {p.name: p for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".tmp")
            and any(fnmatch.fnmatchcase(p.name, pat) for pat in MODEL_PATTERNS)}


def remote_matches(folder: str | Path, repo_id: str, revision: str | None = None) -> bool:
    """Whether the Hub repo already holds exactly the published files of ``folder`` (same names, same content:
    git blob sha1 for regular files, sha256 for LFS files). A missing repo or branch does not match."""
    from huggingface_hub import HfApi
    from huggingface_hub import errors as e

    local = _local_files(Path(folder))
    try:
        with hub_errors(repo_id, revision=revision, upload=True):  # asked before pushing
            remote = {f.path: f for f in HfApi().list_repo_tree(repo_id, revision=revision, recursive=True)
                      if getattr(f, "blob_id", None) is not None}
    except HubError as err:
        if isinstance(err.__cause__, (e.RepositoryNotFoundError, e.RevisionNotFoundError)):
            return False
        raise
    published = {p for p in remote if any(fnmatch.fnmatchcase(p, pat) for pat in MODEL_PATTERNS)}
    if published != set(local):
        return False
    for name, path in local.items():
        data, entry = path.read_bytes(), remote[name]
        if entry.lfs is not None:
            if hashlib.sha256(data).hexdigest() != entry.lfs.sha256:
                return False
        elif hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != entry.blob_id:
            return False
    return True


def push_all(org: str | None = None, names: list[str] | None = None, *, private: bool = False,
             revision: str | None = None, progress: Callable[[PushResult], None] | None = None) -> list[PushResult]:
    """Push every published weight (or ``names``) from the bundled hub to ``<org>/<arch>.<tag>``, one commit per
    model. Idempotent: a repo that already holds the same files gets no commit (its result has ``commit=None``).
    ``progress`` is called with each result as it is done."""
    from zoo.hub.resolve import hub_dir, hub_org
    from zoo.registry import list_models, pretrained_cfg, repo_id_for

    org = org or hub_org()
    names = list(names) if names else list_models(pretrained=True)
    folders = {n: hub_dir() / repo_id_for(pretrained_cfg(n)) for n in names}
    missing = [n for n, f in folders.items() if not (f / WEIGHTS_NAME).is_file()]
    if missing:
        raise WeightsNotFoundError(f"the bundled hub {hub_dir()} has no folder for {', '.join(missing)}; "
                                   f"reinstall genozoo or point GENOZOO_HUB_DIR at the hub folder")
    _require_token()
    results = []
    for name, folder in folders.items():
        repo_id = f"{org}/{name}"
        commit = None
        if not remote_matches(folder, repo_id, revision):
            commit = push(folder, repo_id, private=private, revision=revision,
                          commit_message=f"Upload {name} (genozoo {__version__})")
        results.append(PushResult(name, repo_id, commit))
        if progress is not None:
            progress(results[-1])
    return results


def pull(repo_id: str, revision: str | None = None, local_dir: str | Path | None = None) -> Path:
    """Fetch a model repo into the Hugging Face cache (and copy it to ``local_dir`` when given), check that the
    model builds and its weights load, and return the folder. Works offline from the cache."""
    from huggingface_hub import HfApi, constants, hf_hub_download
    from huggingface_hub import errors as e

    folder = download_model(repo_id, revision)
    extra = [CARD_NAME]
    if not constants.HF_HUB_OFFLINE:
        with hub_errors(repo_id, revision=revision):
            files = HfApi().list_repo_files(repo_id, revision=revision)
        extra = [f for f in files if (f == CARD_NAME or f.endswith(".json")) and "/" not in f
                 and f != CONFIG_NAME]
    for name in extra:
        try:
            with hub_errors(repo_id, name, revision):
                hf_hub_download(repo_id, name, revision=revision)
        except WeightsNotFoundError:
            continue  # a repo without a card still loads
        except HubError as err:
            if not isinstance(err.__cause__, e.LocalEntryNotFoundError):
                raise
    load_model(repo_id, revision)  # the folder above, checked as that revision of the repo
    if local_dir is None:
        return folder
    target = Path(local_dir)
    target.mkdir(parents=True, exist_ok=True)
    for f in sorted(folder.iterdir()):
        tmp = target / f".{f.name}.{os.getpid()}.tmp"
        shutil.copyfile(f, tmp)  # copies the blob behind the cache's symlink
        os.replace(tmp, target / f.name)
    return target


def _hub_accepts(card, what: str) -> None:
    """Ask the Hub whether it takes the card's metadata (its schema: licenses, field types), so a card it refuses
    fails before anything is created or uploaded. A card without metadata is accepted, as the Hub accepts it."""
    import json

    try:
        card.validate()
    except ValueError as err:
        text = str(err).strip()
        try:
            body = json.loads(text)
            text = "; ".join(e.get("message", "") for e in body.get("errors", [])) or body.get("error") or text
        except (ValueError, AttributeError):
            pass
        raise HubError(f"the Hub refuses the metadata of the {what} ({' '.join(text.split()).rstrip('.')}); fix its "
                       "YAML header") from None


def push_dataset(dataset_dict: Any, repo_id: str, card_text: str | None = None, *, private: bool = False,
                 revision: str | None = None, commit_message: str | None = None) -> str:
    """Upload a ``datasets.DatasetDict`` to the Hub dataset repo ``repo_id`` as parquet shards, with
    ``card_text`` (a dataset card: YAML front matter + Markdown) as README.md, in one commit: the shards, the card
    (its YAML carrying the ``dataset_info`` and ``configs`` metadata that lets ``load_dataset(repo_id)`` work
    without a loading script) and the removal of the shards of an earlier push. The repo therefore holds the old
    data and card or the new ones, never new data under an old card; a commit made by someone else meanwhile makes
    this one fail rather than mix with it. Without ``card_text`` the repo's own card is kept, its metadata updated.
    A repo this call created is deleted again when the upload fails. Returns the URL of the commit."""
    import tempfile

    from huggingface_hub import HfApi

    from zoo.data.card import read_dataset_card

    _require_token()
    card = None
    if card_text is not None:
        try:
            card = read_dataset_card(card_text, f"the dataset card for {repo_id!r}")
        except UserError as err:
            raise HubError(str(err)) from None
    api = HfApi()
    with hub_errors(repo_id, revision=revision, repo_type="dataset", upload=True):
        if card is not None:
            _hub_accepts(card, f"dataset card for {repo_id!r}")  # before the repo is created: nothing left behind
        created = not api.repo_exists(repo_id, repo_type="dataset")
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        try:
            if revision and revision != "main":
                api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
            parent = api.repo_info(repo_id, repo_type="dataset", revision=revision).sha
            if card is None:
                card = _current_card(repo_id, parent)
            with tempfile.TemporaryDirectory(prefix="genozoo-push-") as tmp:
                operations = _dataset_operations(api, dataset_dict, repo_id, parent, card, Path(tmp))
                commit = api.create_commit(repo_id, operations, repo_type="dataset", revision=revision,
                                           parent_commit=parent,
                                           commit_message=commit_message or "Upload benchmark with genozoo")
        except BaseException:
            if created:
                _delete_quietly(api, repo_id)
            raise
    return str(getattr(commit, "commit_url", commit))


#: Where the shards go and how large one may be: the layout ``datasets``' own ``push_to_hub`` writes
#: (``data/<split>-00000-of-00001.parquet``), which ``load_dataset`` reads through the card's ``configs``.
DATA_DIR, MAX_SHARD_BYTES = "data", 500 * 2**20


def _current_card(repo_id: str, commit: str) -> Any:
    """The card the repo holds at ``commit`` (kept when no card is given), or an empty one."""
    from huggingface_hub import DatasetCard, hf_hub_download
    from huggingface_hub import errors as e

    try:
        path = hf_hub_download(repo_id, CARD_NAME, repo_type="dataset", revision=commit)
    except e.EntryNotFoundError:
        return DatasetCard("---\n{}\n---\n")  # empty metadata (a card without a block would log a line)
    return DatasetCard(Path(path).read_text(encoding="utf-8"))


def _dataset_operations(api: Any, dataset_dict: Any, repo_id: str, parent: str, card: Any, tmp: Path) -> list:
    """The operations of the one commit :func:`push_dataset` makes: each split written as parquet shards under
    :data:`DATA_DIR`, ``card`` with the ``dataset_info`` and ``configs`` metadata of those shards, and the deletion
    of every other file under :data:`DATA_DIR` at ``parent`` (an earlier push's shards)."""
    import math

    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    adds, info, features = [], DatasetInfo(config_name="default", splits=SplitDict(), download_size=0,
                                           dataset_size=0), None
    for split, ds in dataset_dict.items():
        if features is not None and ds.features != features:
            raise HubError(f"the splits of the dataset for {repo_id!r} have different columns ({split!r}: "
                           f"{ds.features} vs {features}); give every split the same features")
        # The bytes of the rows this split holds (a split made by selecting rows shares one table with the others),
        # as datasets estimates them for its dataset_info and its shard count.
        features, nbytes = ds.features, int(ds.data.nbytes * len(ds) / max(1, ds.data.num_rows))
        shards = max(1, math.ceil(nbytes / MAX_SHARD_BYTES))
        for i in range(shards):
            path_in_repo = f"{DATA_DIR}/{split}-{i:05d}-of-{shards:05d}.parquet"
            local = tmp / path_in_repo.replace("/", "--")
            ds.shard(num_shards=shards, index=i, contiguous=True).to_parquet(str(local))
            info.download_size += local.stat().st_size
            adds.append(CommitOperationAdd(path_in_repo=path_in_repo, path_or_fileobj=str(local)))
        info.splits.add(SplitInfo(name=split, num_bytes=nbytes, num_examples=len(ds)))
        info.dataset_size += nbytes
    info.features, info.size_in_bytes = features, info.download_size + info.dataset_size
    DatasetInfosDict({"default": info}).to_dataset_card_data(card.data)
    MetadataConfigs({"default": {"data_files": [{"split": s, "path": f"{DATA_DIR}/{s}-*"}
                                                for s in dataset_dict]}}).to_dataset_card_data(card.data)
    adds.append(CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=str(card).encode("utf-8")))
    new = {a.path_in_repo for a in adds}
    stale = [f for f in api.list_repo_files(repo_id, repo_type="dataset", revision=parent)
             if f.startswith(DATA_DIR + "/") and f not in new]
    return adds + [CommitOperationDelete(path_in_repo=f) for f in stale]


def _delete_quietly(api: Any, repo_id: str) -> None:
    """Remove the dataset repo a failed push created; the push's own error is the one to report."""
    try:
        api.delete_repo(repo_id, repo_type="dataset", missing_ok=True)
    except Exception:  # noqa: BLE001 - e.g. the connection that failed the push is still down
        pass


def pull_dataset(repo_id: str, revision: str | None = None):
    """Load a dataset repo pushed by :func:`push_dataset` back as a ``datasets.DatasetDict``."""
    import datasets

    with hub_errors(repo_id, revision=revision, repo_type="dataset"):
        return datasets.load_dataset(repo_id, revision=revision)
