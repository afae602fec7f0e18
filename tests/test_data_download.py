"""The download path against a real HTTP server on 127.0.0.1 serving the real files under their original URL
paths: verified download, Arrow cache reused offline, checksum mismatch and interrupted download leave nothing."""
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fixtures_http import file_server  # noqa: F401  (fixture)
from zoo.data import ChecksumError, DownloadError, OfflineError, UnreachableError, benchmark_info, load_benchmark

CTCF = "wgEncodeAwgTfbsBroadDnd41CtcfUniPk"
EZH2 = "wgEncodeAwgTfbsBroadDnd41Ezh239875UniPk"


def _serve(server, shared: Path) -> dict[str, str]:
    """Serve the shared files under the URL paths genozoo knows for them; returns {name: url path}."""
    paths = {}
    for name, rel in (("splice", "splice/splice.data"),):
        url = benchmark_info(name).sources[0].url
        paths[name] = urlsplit(url).path
        server.add(paths[name], (shared / rel).read_bytes())
    for src in benchmark_info("histone_h3_gue").sources:
        local = shared / "histone" / "H3" / src.path
        if local.is_file():
            server.add(urlsplit(src.url).path, local.read_bytes())
            paths[f"gue/{src.path}"] = urlsplit(src.url).path
    for exp in (CTCF, EZH2):
        for f in (shared / "motif" / exp).glob("*.data"):
            server.add(f"/motif_discovery/{exp}/{f.name}", f.read_bytes())
    return paths


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_download_verified_cached_and_reused_offline(shared_data, file_server, tmp_path, monkeypatch):
    paths = _serve(file_server, shared_data)
    cache = tmp_path / "cache"
    dd = load_benchmark("splice", cache_dir=cache, progress=False)
    assert sum(dd[s].num_rows for s in dd) == 3190
    sha = benchmark_info("splice").sources[0].sha256
    assert (cache / "downloads" / sha / "splice.data").read_bytes() == (shared_data / "splice/splice.data").read_bytes()
    assert list((cache / "arrow" / "splice").glob("*/dataset_dict.json"))
    assert not [p for p in _files_under(cache) if p.name.endswith(".part")]
    assert file_server.requests == [("GET", paths["splice"])]
    # Offline, with the server gone: the Arrow cache answers, nothing is requested.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    file_server.stop()
    again = load_benchmark("splice", cache_dir=cache, progress=False)
    assert list(again["test"]["id"]) == list(dd["test"]["id"])
    assert len(file_server.requests) == 1
    # Another protocol builds a new Arrow entry from the cached raw file, still offline.
    paper = load_benchmark("splice", cache_dir=cache, protocol="paper", progress=False)
    assert [paper[s].num_rows for s in ("train", "validation", "test")] == [2033, 359, 798]
    # Not cached at all + offline = a clear error.
    with pytest.raises(OfflineError, match="HF_HUB_OFFLINE"):
        load_benchmark("splice", cache_dir=tmp_path / "empty", progress=False)


def test_checksum_mismatch_caches_nothing(shared_data, file_server, tmp_path):
    paths = _serve(file_server, shared_data)
    file_server.corrupt[paths["splice"]] = 1000  # one flipped bit in one byte
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="not the pinned"):
        load_benchmark("splice", cache_dir=cache, progress=False)
    assert _files_under(cache) == []
    # The server heals: the next call downloads the good file.
    del file_server.corrupt[paths["splice"]]
    assert load_benchmark("splice", cache_dir=cache, progress=False)["train"].num_rows == 2232


def test_interrupted_download_leaves_no_partial_file(shared_data, file_server, tmp_path):
    paths = _serve(file_server, shared_data)
    file_server.truncate[paths["splice"]] = 50_000
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="nothing was cached|could not download"):
        load_benchmark("splice", cache_dir=cache, progress=False)
    assert _files_under(cache) == []


def test_missing_upstream_file_is_a_clear_error(shared_data, file_server, tmp_path):
    _serve(file_server, shared_data)  # GUE's train.csv is not available here, so the server has none either
    with pytest.raises(DownloadError, match="HTTP 404"):
        load_benchmark("histone_h3_gue", cache_dir=tmp_path / "c", progress=False)
    assert not list((tmp_path / "c").rglob("train.csv"))


def test_motif_experiment_and_full_protocol_download(shared_data, file_server, tmp_path, monkeypatch):
    _serve(file_server, shared_data)
    cache = tmp_path / "cache"
    dd = load_benchmark(f"motif/{EZH2}", cache_dir=cache, progress=False)  # both files pinned
    assert [dd[s].num_rows for s in ("train", "validation", "test")] == [2413, 268, 671]
    # motif_discovery reads the folder listing; CTCF has no train.data upstream here (404) and is skipped
    # for train/validation, as the study skipped unreadable files.
    full = load_benchmark("motif_discovery", cache_dir=cache, progress=False)
    assert [full[s].num_rows for s in ("train", "validation", "test")] == [190, 10, 380]
    assert set(full["test"]["experiment"]) == {CTCF, EZH2}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n = len(file_server.requests)
    again = load_benchmark("motif_discovery", cache_dir=cache, progress=False)
    assert list(again["train"]["id"]) == list(full["train"]["id"]) and len(file_server.requests) == n


def nguyen_file(shared: Path, n: int = 400) -> bytes:
    """A file in the Nguyen et al. histone format (FASTA, 500 bp + the label as the 501st character) built from
    the real GUE H3 rows, plus one record of another length that the loader must drop."""
    rows = (shared / "histone/H3/dev.csv").read_text().splitlines()[1:n + 1]
    out = []
    for i, row in enumerate(rows):
        seq, label = row.split(",")
        out.append(f">seq{i}\n{seq[:250]}\n{seq[250:]}{label}\n")
    out.append(">short\nACGTACGT1\n")
    return "".join(out).encode()


def test_unpinned_histone_download_records_its_sha256(shared_data, file_server, tmp_path):
    import hashlib

    data = nguyen_file(shared_data)
    url = benchmark_info("histone_h3").sources[0].url
    file_server.add(urlsplit(url).path, data)
    cache = tmp_path / "cache"
    dd = load_benchmark("histone_h3", cache_dir=cache, progress=False)
    assert sum(dd[s].num_rows for s in dd) == 400  # the 8 bp record is dropped
    side = next((cache / "downloads").glob("url-*/dataset01.txt.sha256"))
    assert side.read_text().strip() == hashlib.sha256(data).hexdigest()


def test_an_unreachable_download_host_is_an_environment_failure(monkeypatch, tmp_path):
    import socket

    from zoo.errors import classify

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: every connection is refused
    monkeypatch.setenv("GENOZOO_DATA_MIRROR", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    with pytest.raises(UnreachableError, match="Connection refused") as info:
        load_benchmark("splice", cache_dir=tmp_path / "cache", progress=False)
    assert classify(info.value)[1] == 1  # the network's fault: exit status 1, not 2
    assert _files_under(tmp_path / "cache") == []
