"""Model cards rendered from one metadata source: the published record (:class:`zoo.registry.PretrainedCfg`) and
the model's ``config.json``, through the template ``cards/model_card.md``.

The YAML front matter is ``huggingface_hub``'s :class:`~huggingface_hub.ModelCardData`, written as the Hub reads
it: license, tags, ``library_name: genozoo``, ``pipeline_tag: text-classification``, ``datasets`` (only ids of real
Hub datasets; other data is named in the text with its URL and sha256), ``base_model`` (fine-tuned models) and a
``model-index`` with, per test metric, the value of the weights the folder ships ("this weight, seed S") and the
mean ± sd over seeds (``args``: sd and the number of seeds), each named as what it is; ``dataset.config`` is short
and ``dataset.revision`` is set only for a git revision. The body has sections for intended use, the input
contract, the training recipe (the exact command), results beside the study's figure, limitations and citations
(the study, and the paper that introduced the architecture, from :data:`ARCH_PAPERS`).
"""
from __future__ import annotations

import fnmatch
import math
import re
from pathlib import Path
from typing import Any, Mapping

from zoo.data.splits import RESPLIT_MARK, RESPLIT_NOTE, is_test_resplit
from zoo.resources import resource_dir
from zoo.registry import repo_id_for
from zoo.study import CITATION

__all__ = ["STUDY", "ARCH_PAPERS", "METRIC_TYPES", "TEMPLATE", "arch_paper", "hub_datasets", "data_sources",
           "eval_results", "card_data",
           "render_model_card"]

TEMPLATE = resource_dir("cards") / "model_card.md"

#: The study every card cites.
STUDY = CITATION

#: Architecture name pattern (or ``family:<name>``) -> the paper that introduced the architecture.
ARCH_PAPERS: dict[str, dict[str, str]] = {
    "cnn_nguyen_*": {
        "text": "Nguyen et al. (2016). DNA sequence classification by convolutional neural network. Journal of "
                "Biomedical Science and Engineering 9(5):280-286.",
        "url": "https://doi.org/10.4236/jbise.2016.95021"},
    "cnn_zeng_*": {
        "text": "Zeng, Edwards, Liu & Gifford (2016). Convolutional neural network architectures for predicting "
                "DNA-protein binding. Bioinformatics 32(12):i121-i127.",
        "url": "https://doi.org/10.1093/bioinformatics/btw255"},
    "cnn_deepdbp": {
        "text": "Shadab, Alam Khan, Neezi, Adilina & Shatabda (2020). DeepDBP: deep neural networks for "
                "identification of DNA-binding proteins. Informatics in Medicine Unlocked 19:100318.",
        "url": "https://doi.org/10.1016/j.imu.2020.100318"},
    "deepram_*": {
        "text": "Trabelsi, Chaabane & Ben-Hur (2019). Comprehensive evaluation of deep learning architectures for "
                "prediction of DNA/RNA sequence binding specificities. Bioinformatics 35(14):i269-i277.",
        "url": "https://doi.org/10.1093/bioinformatics/btz339"},
    "lstm_*": {
        "text": "Hochreiter & Schmidhuber (1997). Long short-term memory. Neural Computation 9(8):1735-1780.",
        "url": "https://doi.org/10.1162/neco.1997.9.8.1735"},
    "doc2vec*": {
        "text": "Le & Mikolov (2014). Distributed representations of sentences and documents. ICML 2014.",
        "url": "https://arxiv.org/abs/1405.4053"},
    "family:transformer": {
        "text": "Devlin, Chang, Lee & Toutanova (2019). BERT: pre-training of deep bidirectional transformers for "
                "language understanding. NAACL 2019.",
        "url": "https://arxiv.org/abs/1810.04805"},
    "family:genonet": {
        "text": "genozoo's own architecture (issue #25), not from a paper. Its parts follow Quang & Xie (2016), DanQ: "
                "a hybrid convolutional and recurrent deep neural network for quantifying the function of DNA "
                "sequences, Nucleic Acids Research 44(11):e107 (convolution, then a bidirectional recurrent layer), "
                "and Kelley et al. (2018), Sequential regulatory activity prediction across chromosomes with "
                "convolutional neural networks, Genome Research 28:739-750 (residual dilated convolutions).",
        "url": "https://doi.org/10.1093/nar/gkw226"},
    "family:convformer": {
        "text": "genozoo's own small transformer (issue #25), not from a paper: a convolutional stem before "
                "self-attention layers (Vaswani et al. (2017), Attention is all you need, NeurIPS 2017), as in "
                "Avsec et al. (2021), Effective gene expression prediction from sequence by integrating long-range "
                "interactions, Nature Methods 18:1196-1203 (Enformer).",
        "url": "https://doi.org/10.1038/s41592-021-01252-x"},
}

#: genozoo metric name -> (model-index metric type, display name).
METRIC_TYPES: dict[str, tuple[str, str]] = {
    "accuracy": ("accuracy", "Accuracy"),
    "balanced_accuracy": ("balanced_accuracy", "Balanced accuracy"),
    "f1_macro": ("f1", "F1 (macro)"),
    "mcc": ("matthews_correlation", "Matthews correlation"),
    "auroc": ("roc_auc", "AUROC"),
    "auprc": ("average_precision", "AUPRC"),
    "loss": ("loss", "Loss"),
}


def arch_paper(arch: str, family: str = "") -> dict[str, str] | None:
    """The paper that introduced ``arch`` (matched by name pattern, then by family), or None if not known."""
    for pattern, paper in ARCH_PAPERS.items():
        if fnmatch.fnmatchcase(arch, pattern) or (family and pattern == f"family:{family}"):
            return paper
    return None


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


_HF_DATASET_URL = re.compile(r"https://huggingface\.co/datasets/([\w.-]+/[\w.-]+)/")
_GIT_REVISION = re.compile(r"[0-9a-f]{40}")


def _benchmark(dataset: str | None):
    """The catalogue entry of a benchmark name, or None (a file name, in-memory data, or nothing recorded)."""
    if not dataset:
        return None
    from zoo.data import benchmark_info

    try:
        return benchmark_info(dataset)
    except Exception:  # noqa: BLE001 - not in the catalogue: fine-tuning data named by its file
        return None


def hub_datasets(dataset: str | None) -> list[str]:
    """The Hub dataset ids the data of ``dataset`` really lives in: the benchmark's Hub repo, or the repos its
    source files are downloaded from. Only these go into the card's ``datasets`` (the Hub links them); a benchmark
    from elsewhere (UCI, ENCODE) or a user's file is named in the card text with its origin instead."""
    info = _benchmark(dataset)
    if info is None:
        return []
    ids = [info.hub_repo] if info.hub_repo else []
    ids += [m.group(1) for s in info.sources if (m := _HF_DATASET_URL.match(s.url or ""))]
    return sorted(set(ids))


def data_sources(dataset: str | None) -> list[dict[str, Any]]:
    """Where the data of ``dataset`` comes from, for the card text: each source file's URL and pinned sha256."""
    info = _benchmark(dataset)
    return [] if info is None else [{"url": s.url, "sha256": s.sha256, "name": s.name} for s in info.sources]


def _dataset_type(dataset: str) -> tuple[str, str | None]:
    """model-index ``dataset.type`` and a short ``dataset.config``: the Hub id when the data is a Hub dataset,
    else genozoo's benchmark family (``motif``) with the member (the experiment) as config."""
    hub = hub_datasets(dataset)
    family, _, member = dataset.partition("/")
    if hub:
        return hub[0], member or None
    return family, member or None


def _ordered(metrics: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``metrics.items()`` in the order of :data:`METRIC_TYPES` (others after, by name), however they are stored."""
    order = list(METRIC_TYPES)
    return sorted(metrics.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]))


def eval_results(cfg, dataset_name: str | None = None) -> list:
    """The card's ``model-index`` results for the record ``cfg``: per test metric, the value of the weights this
    folder ships (its own seed) and, with several seeds, the mean ± sd over them, each named as what it is."""
    from huggingface_hub import EvalResult

    out = []
    n = len(cfg.seeds) or 1
    dtype, config = _dataset_type(cfg.dataset or "unknown")
    revision = cfg.data_revision if cfg.data_revision and _GIT_REVISION.fullmatch(cfg.data_revision) else None
    common = dict(task_type="text-classification", task_name="DNA sequence classification", dataset_type=dtype,
                  dataset_name=dataset_name or cfg.dataset or "unknown", dataset_config=config,
                  dataset_split="test", dataset_revision=revision)
    seed = f"seed {cfg.seed}" if cfg.seed is not None else "its seed"
    for metric, value in _ordered(cfg.metrics):
        value = value if isinstance(value, Mapping) else {"mean": value}
        mean = _num(value.get("mean"))
        own = _num(value.get("seed_value"))
        if own is None and n == 1:
            own = mean  # one seed: the mean is that weight's own value
        mtype, mname = METRIC_TYPES.get(metric, (metric, metric))
        if own is not None:  # an undefined metric is left out, never reported as a number
            out.append(EvalResult(**common, metric_type=mtype, metric_name=f"{mname} (this weight, {seed})",
                                  metric_value=round(own, 6)))
        if n > 1 and mean is not None:
            sd = _num(value.get("sd"))
            out.append(EvalResult(**common, metric_type=mtype, metric_name=f"{mname} (mean ± sd over {n} seeds)",
                                  metric_value=round(mean, 6),
                                  metric_args={"sd": round(sd, 6), "n_seeds": n} if sd is not None else {"n_seeds": n}))
    return out


def card_data(config: Mapping[str, Any], cfg=None):
    """The card's YAML front matter as :class:`~huggingface_hub.ModelCardData`."""
    from huggingface_hub import ModelCardData

    name = (cfg.name if cfg is not None else None) or config.get("name") or config["arch"]
    tags = sorted({"genozoo", "genomics", "dna", "sequence-classification", config.get("family") or "",
                   config["arch"], f"encoding-{config['encoding']['kind']}"} - {""})
    dataset = (cfg.dataset if cfg is not None else None) or config.get("dataset")
    results = eval_results(cfg) if cfg is not None and cfg.metrics else None
    return ModelCardData(
        license=((cfg.license if cfg is not None else None) or "mit").lower(), library_name="genozoo",
        tags=tags, datasets=hub_datasets(dataset) or None, pipeline_tag="text-classification",
        base_model=config.get("base_model") or getattr(cfg, "base_model", None) or None,
        model_name=name if results else None, eval_results=results)


def _results_rows(cfg) -> list[dict[str, Any]]:
    rows = []
    several = cfg is not None and len(cfg.seeds or ()) > 1
    for metric, value in _ordered(cfg.metrics if cfg is not None else {}):
        value = value if isinstance(value, Mapping) else {"mean": value}
        study = _num(cfg.paper_metrics.get(metric)) if cfg.paper_metrics else None
        mean = _num(value.get("mean"))
        rows.append({"metric": METRIC_TYPES.get(metric, (metric, metric))[1], "mean": mean,
                     "sd": _num(value.get("sd")) if several else None,  # one run has no spread, not a zero one
                     "seed_value": _num(value.get("seed_value")), "study": study,
                     "delta": None if study is None or mean is None else mean - study,
                     "note": f" {RESPLIT_MARK}" if is_test_resplit(cfg.split) else ""})
    return rows


def check_record_fits(config: Mapping[str, Any], cfg) -> None:
    """Refuse to render the record ``cfg`` (its metrics, data and name) onto the card of a model whose config.json
    (``config``) is another model: another architecture, another recorded name or another number of classes.
    One sentence (a :class:`zoo.errors.UserError`), so ``genozoo card DIR --name OTHER`` cannot graft another
    model's results onto a folder."""
    from zoo.errors import UserError

    problems = []
    if cfg.arch != config.get("arch"):
        problems.append(f"its architecture is {config.get('arch')!r}, not {cfg.arch!r}")
    own = config.get("name")
    if isinstance(own, str) and own and own != cfg.name:
        problems.append(f"its config.json names the model {own!r}")
    classes = config.get("num_classes")
    if isinstance(classes, int) and cfg.num_classes and classes != cfg.num_classes:
        problems.append(f"it has {classes} classes, not {cfg.num_classes}")
    if problems:
        raise UserError(f"the record {cfg.name!r} is not this model's ({'; '.join(problems)}), so its metrics "
                        "and data would be another model's; leave out --name to render the folder's own record")


def render_model_card(config: Mapping[str, Any], cfg=None, template: str | Path | None = None) -> str:
    """The full README.md of a model folder from its ``config.json`` dict and (for a published weight) its
    record ``cfg``. Models without a record get a card that says what is not known rather than inventing it."""
    from huggingface_hub import ModelCard

    if cfg is not None:
        check_record_fits(config, cfg)
    data = card_data(config, cfg)
    name = (cfg.name if cfg is not None else None) or config.get("name") or config["arch"]
    paper = arch_paper(config["arch"], config.get("family") or "")
    kwargs = dict(
        name=name, arch=config["arch"], family=config.get("family") or "", cfg=cfg,
        repo_id=repo_id_for(cfg) if cfg is not None else None, encoding=config["encoding"],
        label_names=list(config.get("label_names") or []), seq_len=config.get("seq_len"),
        dataset=(cfg.dataset if cfg is not None else None) or config.get("dataset"),
        split=(cfg.split if cfg is not None else None) or config.get("split"),
        data_revision=(cfg.data_revision if cfg is not None else None) or config.get("data_revision"),
        base_model=data.base_model, rows=_results_rows(cfg), arch_paper=paper, study=STUDY,
        sources=data_sources((cfg.dataset if cfg is not None else None) or config.get("dataset")),
        num_params=getattr(cfg, "num_params", None), seeds=list(getattr(cfg, "seeds", ()) or ()),
        seed=getattr(cfg, "seed", None), recipe=getattr(cfg, "recipe", "") or "", notes=getattr(cfg, "notes", ""),
        license=data.license, resplit_note=RESPLIT_NOTE)
    path = Path(template) if template else TEMPLATE
    if not path.is_file():
        from zoo.errors import UserError

        raise UserError(f"model card template {path} not found; reinstall genozoo (its wheel carries the templates)")
    return str(ModelCard.from_template(data, template_str=path.read_text(encoding="utf-8"), **kwargs))
