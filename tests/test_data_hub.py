"""The Hub-mirror adapters (Genomic Benchmarks, GUE, Nucleotide Transformer tasks) against the loopback Hub of
tests/hubserver.py: small copies of real data are pushed in each mirror's layout, then loaded through the adapter,
reused offline, and pinned to a revision; the same layouts load from a local folder."""
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zoo.data import OfflineError, load_benchmark
from zoo.data.formats import iter_delimited, iter_zeng

EZH2 = "wgEncodeAwgTfbsBroadDnd41Ezh239875UniPk"


def _parquet(rows) -> bytes:
    table = pa.table({"seq": [r[1] for r in rows], "label": [int(r[2]) for r in rows]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _csv(rows) -> bytes:
    return ("sequence,label\n" + "".join(f"{s},{l}\n" for _, s, l in rows)).encode()


def _fna(rows) -> bytes:
    return "".join(f">{n}|{l}\n{s}\n" for n, s, l in rows).encode()


@pytest.fixture
def mirrors(shared_data):
    """Files laid out as on the three mirrors, from the real GUE H3 and Zeng EZH2 rows."""
    dev = list(iter_delimited(shared_data / "histone/H3/dev.csv"))
    test = list(iter_delimited(shared_data / "histone/H3/test.csv"))
    ez_train = list(iter_zeng(shared_data / "motif" / EZH2 / "train.data"))
    ez_test = list(iter_zeng(shared_data / "motif" / EZH2 / "test.data"))
    return {
        "gb": ("katarinagresova/Genomic_Benchmarks_human_nontata_promoters",
               {"data/train-00000-of-00001-aaaa.parquet": _parquet(dev[:600]),
                "data/test-00000-of-00001-bbbb.parquet": _parquet(test[:200])},
               (540, 60, 200)),
        # GUE's train split is not available here: train.csv holds 1000 real dev rows, dev.csv the other 497.
        "gue": ("leannmlindsey/GUE",
                {"GUE/emp_H3/train.csv": _csv(dev[:1000]), "GUE/emp_H3/dev.csv": _csv(dev[1000:]),
                 "GUE/emp_H3/test.csv": _csv(test), "GUE/emp_H4/train.csv": b"sequence,label\nACGT,0\n"},
                (1000, 497, 1497)),
        "nt": ("InstaDeepAI/nucleotide_transformer_downstream_tasks",
               {"H3/train.fna": _fna(ez_train), "H3/test.fna": _fna(ez_test)}, (2413, 268, 671)),
    }


def _push(repo_id: str, files: dict) -> str:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=data) for p, data in files.items()]
    return api.create_commit(repo_id, ops, commit_message="mirror", repo_type="dataset").oid


TASK = {"gb": "gb/human_nontata_promoters", "gue": "gue/emp_H3", "nt": "nt/H3"}


@pytest.mark.parametrize("family", ["gb", "gue", "nt"])
def test_adapter_through_loopback_hub(hub_server, mirrors, family, tmp_path, monkeypatch):
    repo, files, sizes = mirrors[family]
    _push(repo, files)
    cache = tmp_path / "cache"
    dd = load_benchmark(TASK[family], cache_dir=cache, progress=False)
    assert tuple(dd[s].num_rows for s in ("train", "validation", "test")) == sizes
    assert dd["train"].features["label"].names == ["0", "1"]
    assert repo in dd["test"].info.description
    if family == "nt":  # the label after '|' in the FASTA header, the name before it
        assert all(r["id"].endswith("_shuf") == (r["label"] == 0) for r in dd["test"])
    # offline, with the Hub unreachable: the Arrow cache keyed by the resolved commit answers
    n = len(hub_server.requests)
    hub_server.offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = load_benchmark(TASK[family], cache_dir=cache, progress=False)
    assert list(again["test"]["sequence"]) == list(dd["test"]["sequence"])
    assert len(hub_server.requests) == n
    with pytest.raises(OfflineError):
        load_benchmark(TASK[family], cache_dir=tmp_path / "other", progress=False)


def test_revision_pins_the_data(hub_server, mirrors, tmp_path):
    repo, files, _ = mirrors["gue"]
    first = _push(repo, files)
    changed = dict(files)
    changed["GUE/emp_H3/test.csv"] = b"sequence,label\n" + b"".join(f"{'ACGT' * 5},{i % 2}\n".encode()
                                                                    for i in range(10))
    _push(repo, changed)
    latest = load_benchmark("gue/emp_H3", cache_dir=tmp_path / "c", progress=False)
    pinned = load_benchmark("gue/emp_H3", cache_dir=tmp_path / "c", revision=first, progress=False)
    assert latest["test"].num_rows == 10 and pinned["test"].num_rows == 1497
    assert first in pinned["test"].info.description


@pytest.mark.parametrize("family", ["gb", "gue", "nt"])
def test_adapter_from_a_local_folder_in_the_mirror_layout(mirrors, family, tmp_path):
    _, files, sizes = mirrors[family]
    for path, data in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    dd = load_benchmark(TASK[family], source=tmp_path, progress=False)
    assert tuple(dd[s].num_rows for s in ("train", "validation", "test")) == sizes


def test_cli_push_publishes_parquet_and_card(hub_server, shared_data, capsys):
    from huggingface_hub import DatasetCard, HfApi

    from zoo.cli import main
    from zoo.hub import pull_dataset

    assert main(["data", "push", "splice", "tester/splice", "--source", str(shared_data / "splice")]) == 0
    # the repo may also be named with --repo (as in `genozoo push`), but exactly once
    assert main(["data", "push", "splice", "--repo", "tester/splice-copy", "--source", str(shared_data / "splice")]) == 0
    assert main(["data", "push", "splice", "--source", str(shared_data / "splice")]) == 2
    assert "name the Hub dataset repo once" in capsys.readouterr().err
    files = HfApi().list_repo_files("tester/splice", repo_type="dataset")
    assert "README.md" in files and any(f.endswith(".parquet") for f in files)
    card = DatasetCard.load("tester/splice", repo_type="dataset")
    assert card.data.license == "cc-by-4.0" and "Leakage between splits" in card.text
    back = pull_dataset("tester/splice")
    local = load_benchmark("splice", source=shared_data / "splice", progress=False)
    for split in ("train", "validation", "test"):
        assert list(back[split]["id"]) == list(local[split]["id"])
        assert back[split].features["label"].names == ["EI", "IE", "N"]
