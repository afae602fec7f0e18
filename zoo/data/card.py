"""Dataset cards rendered from one source: a benchmark's metadata, the loaded ``DatasetDict`` and its quality
report, through the template ``cards/dataset_card.md`` (Jinja, as ``huggingface_hub.DatasetCard`` renders it).

The YAML front matter is :class:`huggingface_hub.DatasetCardData` (license, task category, tags, size category,
pretty name), so the card is valid on the Hub.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from zoo.data.quality import quality_report, report_markdown
from zoo.data.registry import STUDY_CITATION, BenchmarkInfo
from zoo.errors import UserError
from zoo.resources import resource_dir

__all__ = ["TEMPLATE", "render_dataset_card"]

TEMPLATE = resource_dir("cards") / "dataset_card.md"
_LICENSES = {"CC BY 4.0": "cc-by-4.0", "Apache-2.0": "apache-2.0", "MIT": "mit"}


def _size_category(n: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < bound:
            return label
    return "10M<n<100M"


def render_dataset_card(info: BenchmarkInfo, dd, report: Optional[Mapping[str, Any]] = None, *,
                        source: Optional[str] = None, ambiguity: str = "N",
                        template: str | Path | None = None) -> str:
    """The Markdown card (with YAML front matter) of a loaded benchmark."""
    from huggingface_hub import DatasetCard, DatasetCardData

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
    card = DatasetCard.from_template(
        data, template_str=path.read_text(encoding="utf-8"), name=info.name, description=info.description,
        task=info.task, classes=names, length=length, rows=rows, license=info.license, homepage=info.homepage,
        source_arg=source, ambiguity=ambiguity,
        extra_columns=[c for c in first.column_names if c not in ("sequence", "label", "id")],
        split_text=split_text, split_protocol=info.split_protocol, sources=list(info.sources), notes=info.notes,
        provenance=provenance, report_md=report_markdown(report, heading_level=2), citation=info.citation,
        study=STUDY_CITATION)
    return str(card)
