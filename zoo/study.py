"""The study genozoo is built on, as data: its citation, its architectures, its tasks and its reported figures.

Zhang, Cheng & Solis-Lemus (2022), BMC Bioinformatics 23:125 (PAPER.md). One place for what the cards cite and
what the leaderboard, the published records and the README compare against.
"""
from __future__ import annotations

CITATION = {
    "text": "Zhang, Cheng & Solis-Lemus (2022). Towards a robust out-of-the-box neural network model for genomic "
            "data. BMC Bioinformatics 23:125.",
    "url": "https://doi.org/10.1186/s12859-022-04660-8",
    "bibtex": "@article{zhang2022robust,\n  title={Towards a robust out-of-the-box neural network model for "
              "genomic data},\n  author={Zhang, Zhaoyi and Cheng, Songyang and Solis-Lemus, Claudia},\n  "
              "journal={BMC Bioinformatics},\n  volume={23},\n  pages={125},\n  year={2022},\n  "
              "doi={10.1186/s12859-022-04660-8}\n}",
}

#: The study's test accuracy and AUROC (macro one-vs-rest on splice; single runs) per model and task; None where
#: the paper reports no figure.
RESULTS: dict[str, dict[str, tuple[float, float | None]]] = {
    "cnn_deepdbp": {"splice": (.931, .989), "histone": (.512, .500), "motif": (.499, .500)},
    "cnn_nguyen_2_conv2d": {"splice": (.950, .990), "histone": (.789, .855), "motif": (.659, .722)},
    "cnn_nguyen_conv1d_2_conv2d": {"splice": (.939, .990), "histone": (.799, .883), "motif": (.712, .787)},
    "cnn_zeng_2_conv2d": {"splice": (.640, .798), "histone": (.751, .839), "motif": (.644, .703)},
    "cnn_zeng_3_conv2d": {"splice": (.848, .936), "histone": (.747, .836), "motif": (.687, .757)},
    "cnn_zeng_4_conv2d": {"splice": (.900, .975), "histone": (.797, .881), "motif": (.681, .752)},
    "cnn_zeng_4_conv2d_l2": {"splice": (.947, .987), "histone": (.799, .878), "motif": (.698, .772)},
    "deepram_conv1d_embed": {"splice": (.843, .947), "histone": (.812, .882), "motif": (.740, .821)},
    "deepram_conv1d_onehot": {"splice": (.841, .953), "histone": (.823, .898), "motif": (.761, .844)},
    "deepram_conv1d_recurrent_embed": {"splice": (.944, .987), "histone": (.824, .902), "motif": (.756, .838)},
    "deepram_conv1d_recurrent_onehot": {"splice": (.937, .992), "histone": (.871, .947), "motif": (.777, .861)},
    "deepram_recurrent_embed": {"splice": (.877, .964), "histone": (.857, .930), "motif": (.742, .823)},
    "deepram_recurrent_onehot": {"splice": (.927, .986), "histone": (.865, .944), "motif": (.768, .851)},
    # NLP-style models: LSTM baseline with Adam, batch 256; the best of the variants the study tried otherwise.
    "lstm_baseline": {"splice": (.803, None), "histone": (.854, .919), "motif": (.717, .792)},
    "lstm_ae_mlp": {"splice": (.810, None), "histone": (.783, .838), "motif": (.572, .600)},
    "doc2vec_mlp": {"splice": (.539, None), "histone": (.600, None), "motif": (.529, None)},
}

#: The study's 13 CNN/RNN architectures (the `study` pattern of the benchmark grid).
ARCHS: tuple[str, ...] = tuple(a for a in RESULTS if a.startswith(("cnn_", "deepram_")))

#: Which study column (task) a published tag compares with.
TASK_OF_TAG = {"splice": "splice", "histone_h3_gue": "histone", "motif_ctcf": "motif", "motif_ezh2": "motif"}


def study_figures(arch: str, tag: str) -> dict[str, float]:
    """The study's test figures for ``arch`` on the task of ``tag`` as ``{"accuracy": .., "auroc": ..}``."""
    acc, auroc = RESULTS.get(arch, {}).get(TASK_OF_TAG.get(tag, tag), (None, None))
    return {k: v for k, v in (("accuracy", acc), ("auroc", auroc)) if v is not None}
