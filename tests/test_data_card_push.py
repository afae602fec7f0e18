"""The dataset card states what was read: the Sources table gives the sha256 of the bytes each file was built from
(a local copy that differs from the pin says so), locally, after a verified download and from the Arrow cache, and
on the card `genozoo data push` publishes to the loopback Hub; a card template whose front matter is never closed
is refused in one sentence naming the file."""
import gzip
import hashlib

from fixtures_http import file_server  # noqa: F401  (fixture)
from huggingface_hub import DatasetCard

from zoo.cli import main
from zoo.data import benchmark_info, load_benchmark
from zoo.data import card as card_module
from zoo.data.card import render_dataset_card


def _splice_row(text: str) -> str:
    """The Sources table's row of splice.data."""
    return next(line for line in text.splitlines() if line.startswith("| `splice.data` |"))


def _altered(shared_data, tmp_path):
    """A folder holding a copy of splice.data with one label changed, and that copy's sha256."""
    data = (shared_data / "splice/splice.data").read_bytes().replace(b"EI,", b"IE,", 1)
    (tmp_path / "alt").mkdir()
    (tmp_path / "alt/splice.data").write_bytes(data)
    return tmp_path / "alt", hashlib.sha256(data).hexdigest()


def test_the_card_states_the_sha256_of_the_local_copy_read(shared_data, tmp_path):
    pin = benchmark_info("splice").sources[0].sha256
    alt, alt_sha = _altered(shared_data, tmp_path)
    (tmp_path / "gz").mkdir()
    (tmp_path / "gz/splice.data.gz").write_bytes(gzip.compress((shared_data / "splice/splice.data").read_bytes()))
    for source, sha in ((alt, alt_sha), (alt / "splice.data", alt_sha), (tmp_path / "gz", pin),
                        (shared_data / "splice", pin)):
        dd = load_benchmark("splice", source=source, progress=False)
        row = _splice_row(render_dataset_card(benchmark_info("splice"), dd))
        note = f"the file read differs from its pinned sha256 `{pin}`" if sha != pin else ""
        assert row.endswith(f"| `{sha}` | {note} |"), (source, row)


def test_the_card_of_a_download_states_its_verified_sha256_also_from_the_arrow_cache(shared_data, file_server,
                                                                                   tmp_path):
    from urllib.parse import urlsplit

    src = benchmark_info("splice").sources[0]
    file_server.add(urlsplit(src.url).path, (shared_data / "splice/splice.data").read_bytes())
    for _ in range(2):  # downloaded and built, then read back from the Arrow cache
        dd = load_benchmark("splice", cache_dir=tmp_path / "cache", progress=False)
        row = _splice_row(render_dataset_card(benchmark_info("splice"), dd))
        assert row == f"| `splice.data` | {src.url} | `{src.sha256}` |  |"


def test_pushed_card_states_the_sha256_of_the_copy_pushed(hub_server, shared_data, tmp_path):
    alt, alt_sha = _altered(shared_data, tmp_path)
    assert main(["data", "push", "splice", "tester/splice-alt", "--source", str(alt)]) == 0
    row = _splice_row(DatasetCard.load("tester/splice-alt", repo_type="dataset").text)
    pin = benchmark_info("splice").sources[0].sha256
    assert row.endswith(f"| `{alt_sha}` | the file read differs from its pinned sha256 `{pin}` |"), row


def test_an_unclosed_front_matter_in_the_card_template_is_refused(hub_server, shared_data, tmp_path, monkeypatch,
                                                                   capsys):
    template = tmp_path / "dataset_card.md"
    text = card_module.TEMPLATE.read_text(encoding="utf-8")
    template.write_text(text.replace("{{ card_data }}\n---\n", "{{ card_data }}\n", 1), encoding="utf-8")
    monkeypatch.setattr(card_module, "TEMPLATE", template)
    out = tmp_path / "card.md"
    for argv in (["data", "report", "splice", "--card", str(out)], ["data", "push", "splice", "tester/unclosed"]):
        assert main([*argv, "--source", str(shared_data / "splice")]) == 2
        err = capsys.readouterr().err
        assert f"the dataset card rendered from {template} opens its YAML front matter with '---' but never " \
               "closes it" in err and "Traceback" not in err
    assert not out.exists() and ("dataset", "tester/unclosed") not in hub_server.repos
