"""zoo.hub.push_dataset against the loopback Hub (tests/hubserver.py) is all-or-nothing: pushing into a repo that
holds an earlier push is one commit (shards, card, removal of the old shards), so no revision of the repo ever
holds the new data under the old card; a push the Hub refuses, or whose connection drops, leaves the repo exactly
as it was; and the card metadata is the one datasets' own push_to_hub writes, so load_dataset reads it back."""
from __future__ import annotations

import pytest
import yaml
from huggingface_hub import DatasetCard

from zoo import hub
from zoo.data import planted_motif_benchmark

REPO = "genozoo/atomic"
FIRST = "---\nlicense: cc-by-4.0\n---\n# planted motifs\n\nFirst push.\n"
SECOND = FIRST.replace("First push.", "Second push.")


def _data(seed: int, n: int):
    return planted_motif_benchmark(n=n, length=40, motifs=("CTCF", "GATA1"), num_classes=2, seed=seed)


def _state(hub_server, repo_id: str = REPO):
    """(head commit id, {path: bytes}) of the repo's main branch."""
    head = hub_server.repo(repo_id, "dataset").resolve("main")
    return head.oid, {p: b.data for p, b in head.files.items()}


def _card_body(files: dict) -> str:
    return DatasetCard(files["README.md"].decode()).text


def _rows(files: dict) -> int:
    return yaml.safe_load(files["README.md"].decode().split("---")[1])["dataset_info"]["splits"]


@pytest.fixture
def earlier(hub_server):
    """REPO holding an earlier push (60 rows, card 'First push.')."""
    hub.push_dataset(_data(0, 60), REPO, FIRST)
    return _state(hub_server)


def test_a_push_into_an_existing_repo_is_one_commit_of_data_and_card(hub_server, earlier):
    """Every commit between the earlier push and this one is a state a user may read; there is exactly one, and it
    holds the new shards under the new card (datasets' own push_to_hub and a card uploaded after it were two
    commits, the first holding the new data under the old card)."""
    old_head, old_files = earlier
    new = _data(1, 120)
    hub.push_dataset(new, REPO, SECOND)
    repo = hub_server.repo(REPO, "dataset")
    head = repo.resolve("main")
    assert head.parent == old_head, "the push made more than one commit"
    files = {p: b.data for p, b in head.files.items()}
    assert "Second push." in _card_body(files)
    assert {s["name"]: s["num_examples"] for s in _rows(files)} == {s: len(new[s]) for s in new}
    back = hub.pull_dataset(REPO)
    for split in new:
        assert back[split].to_dict() == new[split].to_dict()
    assert _rows(old_files) != _rows(files)


class _RefuseAfterFirstCommit(list):
    """The server's request log (``hub_server.requests``) that turns on its ``refuse_uploads`` fault once a second
    commit reaches it: a Hub that takes the first commit of a push and refuses what follows (the card uploaded after
    the data)."""

    def __init__(self, server):
        super().__init__()
        self.server, self.commits = server, 0

    def append(self, request) -> None:
        method, path = request
        if method == "POST" and "/commit/" in path:
            self.commits += 1
            if self.commits > 1:
                self.server.refuse_uploads = "*"
        super().append(request)


def test_a_hub_that_refuses_all_but_the_first_commit_never_leaves_new_data_under_the_old_card(hub_server, earlier):
    """The failure of the report: the data landed, the card upload after it failed, and the repo kept the new shards
    under the old card. Now the push is either refused whole or lands whole."""
    new = _data(1, 120)
    hub_server.requests = _RefuseAfterFirstCommit(hub_server)
    try:
        hub.push_dataset(new, REPO, SECOND)
    except hub.HubError:
        assert _state(hub_server) == earlier
    else:
        _, files = _state(hub_server)
        assert "Second push." in _card_body(files) and sum(s["num_examples"] for s in _rows(files)) == 120


def test_a_card_upload_the_hub_refuses_leaves_the_repo_as_it_was(hub_server, earlier):
    hub_server.refuse_uploads = "README.md"
    with pytest.raises(hub.HubError, match=r"^the Hub answered HTTP 403 for the dataset repo 'genozoo/atomic'"):
        hub.push_dataset(_data(1, 120), REPO, SECOND)
    assert _state(hub_server) == earlier  # neither the new shards nor the new card


def test_a_connection_lost_while_pushing_leaves_the_repo_as_it_was(hub_server, earlier):
    hub_server.drop_uploads = "README.md"
    with pytest.raises(hub.HubConnectionError, match="dropped the connection"):
        hub.push_dataset(_data(1, 120), REPO, SECOND)
    assert _state(hub_server) == earlier


def test_fewer_shards_than_before_remove_the_old_ones(hub_server, earlier):
    """A split the new data no longer has loses its shards in the same commit (as datasets' push_to_hub does)."""
    data = _data(1, 120)
    del data["validation"]
    hub.push_dataset(data, REPO, SECOND)
    _, files = _state(hub_server)
    assert not [p for p in files if p.startswith("data/validation-")]
    assert sorted(hub.pull_dataset(REPO)) == ["test", "train"]


def test_without_a_card_the_repo_keeps_its_own_with_updated_metadata(hub_server, earlier):
    hub.push_dataset(_data(1, 120), REPO)
    _, files = _state(hub_server)
    assert "First push." in _card_body(files) and DatasetCard(files["README.md"].decode()).data.license == "cc-by-4.0"
    assert sum(s["num_examples"] for s in _rows(files)) == 120


def test_the_card_metadata_is_what_datasets_push_to_hub_writes(hub_server):
    data = _data(2, 80)
    data["train"] = data["train"].shuffle(seed=0).select(range(30))  # rows of a table the split shares
    data.push_to_hub("genozoo/by-datasets")
    hub.push_dataset(data, "genozoo/by-genozoo", FIRST)
    _, theirs = _state(hub_server, "genozoo/by-datasets")
    _, ours = _state(hub_server, "genozoo/by-genozoo")
    assert sorted(p for p in ours if p.endswith(".parquet")) == sorted(p for p in theirs if p.endswith(".parquet"))
    meta = lambda files: {k: v for k, v in DatasetCard(files["README.md"].decode()).data.to_dict().items()  # noqa: E731
                          if k in ("configs", "dataset_info")}
    assert meta(ours) == meta(theirs) and meta(ours)["configs"]
    assert hub.pull_dataset("genozoo/by-genozoo")["train"].features == data["train"].features


def test_a_new_repo_without_a_card_gets_one_holding_only_the_metadata(hub_server):
    data = _data(3, 40)
    hub.push_dataset(data, "genozoo/no-card")
    _, files = _state(hub_server, "genozoo/no-card")
    card = DatasetCard(files["README.md"].decode())
    assert card.data.configs and card.data.dataset_info and not card.text.strip()
    assert hub.pull_dataset("genozoo/no-card")["test"].to_dict() == data["test"].to_dict()
