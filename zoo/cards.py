"""Model cards rendered from one metadata source: the published record (:class:`zoo.registry.PretrainedCfg`) and
the model's ``config.json``, through the template ``cards/model_card.md``.

The YAML front matter is ``huggingface_hub``'s :class:`~huggingface_hub.ModelCardData`: license, tags,
``library_name: genozoo``, ``datasets``, ``base_model`` (fine-tuned models) and a ``model-index`` with one
:class:`~huggingface_hub.EvalResult` per test metric (value = mean over seeds; ``args`` carry the standard
deviation, the number of seeds and the published seed's own value). The body has sections for intended use, the
input contract, the training recipe (the exact command), results beside the study's figure, limitations and
citations (the study, and the paper that introduced the architecture, from :data:`ARCH_PAPERS`).
"""
from __future__ import annotations

import fnmatch
import math
from pathlib import Path
from typing import Any, Mapping

from zoo.study import CITATION

__all__ = ["STUDY", "ARCH_PAPERS", "METRIC_TYPES", "TEMPLATE", "arch_paper", "eval_results", "card_data",
           "render_model_card", "rerender_card"]

TEMPLATE = Path(__file__).resolve().parents[1] / "cards" / "model_card.md"

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


def _dataset_repo(dataset: str | None) -> str | None:
    if not dataset:
        return None
    from zoo.hub import hub_org

    return dataset if "/" in dataset else f"{hub_org()}/{dataset}"


def _ordered(metrics: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``metrics.items()`` in the order of :data:`METRIC_TYPES` (others after, by name), however they are stored."""
    order = list(METRIC_TYPES)
    return sorted(metrics.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]))


def eval_results(cfg, dataset_name: str | None = None) -> list:
    """One :class:`~huggingface_hub.EvalResult` per test metric of the record ``cfg`` (mean over seeds)."""
    from huggingface_hub import EvalResult

    out = []
    n = len(cfg.seeds) or 1
    for metric, value in _ordered(cfg.metrics):
        value = value if isinstance(value, Mapping) else {"mean": value}
        mean = _num(value.get("mean"))
        if mean is None:
            continue  # an undefined metric is left out, never reported as a number
        mtype, mname = METRIC_TYPES.get(metric, (metric, metric))
        sd = _num(value.get("sd")) if n > 1 else None  # the sd of one run is undefined, not 0
        args = {k: round(v, 6) for k, v in (("sd", sd), ("seed_value", _num(value.get("seed_value"))))
                if v is not None}
        args["n_seeds"] = n
        if cfg.seed is not None:
            args["published_seed"] = cfg.seed
        out.append(EvalResult(
            task_type="text-classification", task_name="DNA sequence classification",
            dataset_type=_dataset_repo(cfg.dataset) or "unknown", dataset_name=dataset_name or cfg.dataset,
            dataset_config=cfg.split or None, dataset_split="test", dataset_revision=cfg.data_revision,
            metric_type=mtype, metric_name=f"{mname} (mean of {n} seed{'s' if n > 1 else ''})",
            metric_value=round(mean, 6), metric_args=args))
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
        tags=tags, datasets=[_dataset_repo(dataset)] if dataset else None,
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
                     "delta": None if study is None or mean is None else mean - study})
    return rows


def render_model_card(config: Mapping[str, Any], cfg=None, template: str | Path | None = None) -> str:
    """The full README.md of a model folder from its ``config.json`` dict and (for a published weight) its
    record ``cfg``. Models without a record get a card that says what is not known rather than inventing it."""
    from huggingface_hub import ModelCard

    from zoo.hub import repo_id_for

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
        num_params=getattr(cfg, "num_params", None), seeds=list(getattr(cfg, "seeds", ()) or ()),
        seed=getattr(cfg, "seed", None), recipe=getattr(cfg, "recipe", "") or "", notes=getattr(cfg, "notes", ""),
        license=data.license)
    path = Path(template) if template else TEMPLATE
    if not path.is_file():
        from zoo.errors import UserError

        raise UserError(f"model card template {path} not found; run genozoo from a checkout of the repository")
    return str(ModelCard.from_template(data, template_str=path.read_text(encoding="utf-8"), **kwargs))


def rerender_card(model_dir: str | Path, name: str | None = None) -> Path:
    """Re-render ``README.md`` of a model folder from its config.json and the registry record named in it (or
    ``name``), atomically. Returns the card's path."""
    import os

    from zoo.hub import CARD_NAME, CONFIG_NAME, WeightsNotFoundError, read_config
    from zoo.registry import is_model, pretrained_cfg

    folder = Path(model_dir)
    if not (folder / CONFIG_NAME).is_file():
        raise WeightsNotFoundError(f"{folder} has no {CONFIG_NAME}; give the folder of a saved genozoo model")
    config = read_config(folder / CONFIG_NAME)
    if "arch" not in config or "encoding" not in config:
        from zoo.hub import ContractMismatchError

        raise ContractMismatchError(f"{folder / CONFIG_NAME} lacks 'arch' or 'encoding'; re-save the model with "
                                    f"zoo.hub.save_model")
    if name:  # asked for by the user: an unknown name is an error
        cfg = pretrained_cfg(name)
    else:  # named in config.json: a model saved outside the registry renders without a record
        name = config.get("name")
        cfg = pretrained_cfg(name) if name and "." in name and is_model(name) else None
    text = render_model_card(config, cfg)
    from zoo.outputs import atomic_write_text

    atomic_write_text(folder / CARD_NAME, text)
    return folder / CARD_NAME
