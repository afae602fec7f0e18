"""Dataset cards rendered from one source: a benchmark's metadata, the loaded ``DatasetDict`` and its quality
report, through the template ``cards/dataset_card.md`` (Jinja, as ``huggingface_hub.DatasetCard`` renders it).

The YAML front matter is :class:`huggingface_hub.DatasetCardData` (license, task category, tags, size category,
pretty name), so the card is valid on the Hub. The Sources table states the sha256 of each file as it was read (the
record :func:`zoo.data.load_benchmark` keeps in ``DatasetInfo.download_checksums``), never a pin in its place.
:func:`read_dataset_card` is the one strict reader of a card's text, for this module and :mod:`zoo.hub` alike.
"""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping, Optional

from zoo.data.quality import quality_report, report_markdown
from zoo.data.registry import STUDY_CITATION, BenchmarkInfo
from zoo.errors import UserError
from zoo.resources import resource_dir

__all__ = ["TEMPLATE", "render_dataset_card", "read_dataset_card", "check_front_matter"]

TEMPLATE = resource_dir("cards") / "dataset_card.md"
_LICENSES = {"CC BY 4.0": "cc-by-4.0", "Apache-2.0": "apache-2.0", "MIT": "mit"}
_OPENED = re.compile(r"\s*---(\r\n|\r|\n|$)")  # how huggingface_hub's front matter block starts


def check_front_matter(text: str, where: str) -> None:
    """Refuse a card whose YAML front matter is opened with ``---`` and never closed: huggingface_hub would read it
    as a card without metadata and only log it. ``where`` names the card (its file) in the sentence."""
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    if _OPENED.match(text) and not REGEX_YAML_BLOCK.search(text):
        raise UserError(f"{where} opens its YAML front matter with '---' but never closes it; end the front matter "
                        "with a line holding only '---'")


def read_dataset_card(text: str, where: str):
    """The :class:`huggingface_hub.DatasetCard` of ``text``, or one :class:`UserError` sentence naming ``where``
    when its front matter is unclosed or is not a YAML mapping."""
    from huggingface_hub import DatasetCard

    check_front_matter(text, where)
    try:
        return DatasetCard(text)
    except Exception as err:  # noqa: BLE001 - any parse failure means the card is broken
        raise UserError(f"{where} does not parse ({' '.join(str(err).split())}); fix its YAML header") from None


def _source_rows(info: BenchmarkInfo, first) -> list[SimpleNamespace]:
    """The Sources table: each file with the sha256 of the bytes read, and a phrase where that is not its pin.
    No record (a dataset not built by load_benchmark's own resolver) shows the pin, saying so."""
    read = first.info.download_checksums
    rows = []
    for s in info.sources:
        got = (read or {}).get(s.url, {}).get("checksum")
        if got is None:
            sha = s.sha256
            note = "not read" if read is not None else "pinned; the file read is not recorded" if sha else ""
        else:
            sha = got
            note = ("not pinned" if not s.sha256 else "" if got == s.sha256 else
                    f"the file read differs from its pinned sha256 `{s.sha256}`")
        rows.append(SimpleNamespace(path=s.path, url=s.url, sha256=sha, note=note))
    return rows


def _size_category(n: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < bound:
            return label
    return "10M<n<100M"


def render_dataset_card(info: BenchmarkInfo, dd, report: Optional[Mapping[str, Any]] = None, *,
                        source: Optional[str] = None, ambiguity: str = "N",
                        template: str | Path | None = None) -> str:
    """The Markdown card (with YAML front matter) of a loaded benchmark, rendered as
    ``DatasetCard.from_template`` does but read back strictly (:func:`read_dataset_card`)."""
    import jinja2
    from huggingface_hub import DatasetCardData

    report = report or quality_report(dd, info.name)
    rows = {s: dd[s].num_rows for s in dd}
    license_id = next((v for k, v in _LICENSES.items() if info.license.startswith(k)), "other")
    data = DatasetCardData(license=license_id, pretty_name=info.name, task_categories=["text-classification"],
                           tags=["biology", "genomics", "dna", "genozoo"],
                           size_categories=[_size_category(sum(rows.values()))])
    first = dd[next(iter(dd))]
    names = list(getattr(first.features.get("label"), "names", []) or info.classes or [])
    description = first.info.description or ""
    split_text = description.split(" Split: ", 1)[1].rsplit(" Source: ", 1)[0] if " Split: " in description \
        else info.split_protocol
    provenance = description.rsplit(" Source: ", 1)[1].rstrip(".") if " Source: " in description else "n/a"
    lengths = {r["length"]["min"] for r in report["splits"].values()} | \
        {r["length"]["max"] for r in report["splits"].values()}
    length = f"{min(lengths)} nt" if len(lengths) == 1 else f"{min(lengths)}-{max(lengths)} nt"
    path = Path(template) if template else TEMPLATE
    if not path.is_file():
        raise UserError(f"dataset card template {path} not found; run genozoo from a checkout of the repository")
    fields = dict(
        name=info.name, description=info.description, task=info.task, classes=names, length=length, rows=rows,
        license=info.license, homepage=info.homepage, source_arg=source, ambiguity=ambiguity,
        extra_columns=[c for c in first.column_names if c not in ("sequence", "label", "id")], split_text=split_text,
        split_protocol=info.split_protocol, sources=_source_rows(info, first), notes=info.notes, provenance=provenance,
        report_md=report_markdown(report, heading_level=2), citation=info.citation, study=STUDY_CITATION)
    text = jinja2.Template(path.read_text(encoding="utf-8")).render(card_data=data.to_yaml(),
                                                                   **{**data.to_dict(), **fields})
    return str(read_dataset_card(text, f"the dataset card rendered from {path}"))
