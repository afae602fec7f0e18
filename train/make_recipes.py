"""Generate train/recipes/<arch>.<tag>.yaml: every published architecture x the study's tasks.

The study's 13 CNN/RNN architectures get the study's settings (below); its NLP-style models the settings it
reports for them (LSTM baseline: Adam, batch 256; the two-stage models fit their unsupervised part first, then the
MLP); the transformers, which the study did not have (the BERTs and ``convformer_small``), AdamW with warm-up and a
cosine schedule.

    python train/make_recipes.py            # (re)write every recipe
    python train/make_recipes.py --check    # exit 1 if a committed recipe differs from what this script writes

Settings from the study (PAPER.md): Adam with the default learning rate 1e-3, 50 epochs, the epoch with the
lowest validation loss kept, batch 32 (splice, histone) or 512 (motif), three seeds. Added here: early stopping
after 10 epochs without a lower validation loss (the kept epoch is the same unless the validation loss would have
dropped again after 10 worse epochs; it saves most of the CPU time of overfitting models), except for the
DeepRAM recurrent models on histone, whose validation loss does fall again after long plateaus.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402

from zoo.grid import STUDY_ARCHS  # noqa: E402
from zoo.recipes import Recipe  # noqa: E402
from zoo.registry import create_model, study_kwargs  # noqa: E402

SHARED = "../shared/data"


def _zeng_task(experiment: str, factor: str, split: str) -> dict:
    """One Zeng et al. motif experiment as a tag of its own (the study pooled all 690 of them)."""
    return dict(task="motif", dataset=f"motif/{experiment}", source=f"{SHARED}/motif/{experiment}", data_args={},
                batch_size=512, split=f"Zeng et al. {factor} experiment {experiment}: {split}. The study pooled all "
                                      "690 experiments (131,100 training rows)")


TASKS = {
    "splice": dict(
        task="splice", dataset="splice", source=f"{SHARED}/splice", data_args={"protocol": "paper"}, batch_size=32,
        split="the study's protocol: stratified 75/25 train/test, then 15% of train as validation (scikit-learn, "
              "seed 3264; the study fixed no seed), ambiguity codes replaced as in the study: 2033/359/798 of the "
              "full UCI data (3190 rows)"),
    "histone_h3_gue": dict(
        task="histone", dataset="histone_h3_gue", source=f"{SHARED}/histone/H3", data_args={"protocol": "resplit"},
        batch_size=32,
        split="GUE's dev.csv + test.csv (1497 + 1497 rows; GUE's train.csv, 11971 rows, is not available here) "
              "pooled and re-split stratified 70/15/15 with seed 3264: 2095/449/450. The study trained on 10475 "
              "rows of the full H3 file (14965 rows)"),
    "motif_ctcf": _zeng_task(
        "wgEncodeAwgTfbsBroadDnd41CtcfUniPk", "CTCF",
        "only its test.data (19383 rows) is available here; rows with N dropped, stratified 70/15/15 with seed "
        "3264: 13567/2908/2908"),
    "motif_ezh2": _zeng_task(
        "wgEncodeAwgTfbsBroadDnd41Ezh239875UniPk", "EZH2",
        "its train.data (2681 rows) with 10% carved as validation (stratified, seed 3264) and its test.data "
        "untouched, rows with N dropped: 2413/268/671"),
}
STUDY = dict(optimizer="adam", lr=1e-3, epochs=50, patience=10, seeds=[0, 1, 2])
STUDY_NOTES = "study settings (Zhang et al. 2022): Adam 1e-3, 50 epochs, best epoch by validation loss"
#: Appended to STUDY_NOTES when the recipe keeps STUDY's patience.
EARLY_STOPPING_NOTE = "early stopping after 10 epochs without improvement added"
#: Models beyond the 13 CNN/RNNs: architecture -> (settings overriding STUDY, notes).
EXTRA = {
    "lstm_baseline": (dict(batch_size=256, epochs=400, patience=40),
                      "the study's LSTM baseline settings: Adam 1e-3, batch 256, early stopping (patience 40; the "
                      "study tried 5-100), at most 400 epochs"),
    "lstm_ae_mlp": (dict(batch_size=256, epochs=400, patience=40),
                    "the study's two stages: an LSTM autoencoder fitted on the training sequences (labels unused; "
                    "12,800 Adam steps of 32, the model's ae_steps and ae_batch_size), then the MLP on its frozen "
                    "codes (Adam 1e-3, batch 256, patience 40, at most 400 epochs; the study used SGD)"),
    "doc2vec_mlp": (dict(batch_size=256, epochs=100, patience=20),
                    "the study's two stages: PV-DBOW paragraph vectors of 3-mer words (gensim), then the MLP; the "
                    "weakest model of the study"),
    "bert_tiny_nt": (dict(optimizer="adamw", lr=5e-4, weight_decay=0.01, schedule="cosine", warmup_epochs=2),
                     "a small BERT trained from scratch (not in the study): AdamW 5e-4, weight decay 0.01, 2 "
                     "warm-up epochs then cosine decay, 50 epochs, early stopping after 10"),
    "bert_tiny_kmer3": (dict(optimizer="adamw", lr=5e-4, weight_decay=0.01, schedule="cosine", warmup_epochs=2),
                        "a small BERT on non-overlapping 3-mer tokens trained from scratch (not in the study): AdamW "
                        "5e-4, weight decay 0.01, 2 warm-up epochs then cosine decay, 50 epochs, early stopping "
                        "after 10"),
    "convformer_small": (dict(optimizer="adamw", lr=1e-3, weight_decay=0.05, schedule="cosine", warmup_epochs=2,
                              epochs=40),
                         "a convolutional stem before a small transformer encoder (not in the study): AdamW 1e-3, "
                         "weight decay 0.05, 2 warm-up epochs then cosine decay over 40 epochs, early stopping after "
                         "10"),
}
#: genozoo's own family (issue #25): one recipe, unchanged on every tag (only the data's length and classes differ).
GENONET = dict(optimizer="adamw", lr=2e-3, weight_decay=0.05, schedule="cosine", warmup_epochs=1, epochs=12,
               batch_size=64, patience=None, label_smoothing=0.05, ema_decay=0.99, shift_augment=0, rc_augment=0.0)
GENONET_NOTES = ("genozoo's own family, one recipe for every tag (issue #25): AdamW 2e-3, weight decay 0.05, 1 "
                 "warm-up epoch then cosine decay over 12 epochs (no early stopping: the schedule runs to its end), "
                 "batch 64, label smoothing 0.05, an exponential moving average of the weights (decay 0.99) is what "
                 "is evaluated and kept; best epoch by validation loss. No shift augmentation: shifts of up to 3 bp "
                 "cost splice seed 0 five points (validation 0.914 vs 0.955, test 0.905) because a splice site "
                 "sits at a fixed offset. One thread: about 0.06 / 0.10 / 0.64 CPU seconds per training step of "
                 "64 at 60 / 101 / 500 bp")
EXTRA["genonet_small"] = (GENONET, GENONET_NOTES)
EXTRA["genonet_small_pos32"] = (GENONET, GENONET_NOTES + "; genonet_small_pos32 is genonet_small with its position "
                                "branch averaged into at most 32 stretches (the same model on splice)")
EXTRA["genonet_small_pos32_x3"] = (GENONET, GENONET_NOTES + "; genonet_small_pos32_x3 is three genonet_small_pos32 "
                                   "trained side by side, each on its own loss, predicting their mean logits (three "
                                   "times the CPU; adopted by the fifth screen of train/README.md, 5-fold cross-validation on splice)")


_EZH2_BATCH = (dict(batch_size=64),
               "batch 64 on EZH2: the study's 512 gives 5 updates per epoch on its 2,413 training rows (the study "
               "pooled 131,100), and cnn_zeng_4_conv2d stayed at chance for 6 epochs")

_HISTONE_NO_PATIENCE = (
    dict(patience=None),
    "no early stopping on histone (the study's plain 50 epochs): with patience 10, two of three seeds of "
    "deepram_conv1d_recurrent_embed stopped at epoch 12 after a best epoch of 2 (test 0.53); run for 50 epochs, "
    "seed 2's best epoch was 34 (test 0.80; the study 0.82)")

#: Settings for one architecture on one task or tag: (architecture, task or tag) -> (settings, a sentence for the
#: notes); a tag's entry applies after its task's.
PER_TASK = {
    **{(arch, "motif_ezh2"): _EZH2_BATCH for arch in STUDY_ARCHS if arch.startswith(("cnn_zeng", "cnn_deepdbp"))},
    ("bert_tiny_nt", "motif"): (dict(batch_size=64),
                                "batch 64 on motif: at the study's 512 (27 updates per epoch on CTCF) it stayed at "
                                "chance for 8 epochs (and at batch 64 for 6 more: bert_tiny_kmer3 is the motif "
                                "transformer)"),
    ("bert_tiny_kmer3", "motif"): (dict(batch_size=64), "batch 64 on motif, as bert_tiny_nt"),
    ("convformer_small", "motif"): (dict(batch_size=64, epochs=15),
                                    "on motif batch 64, as the BERTs, and the cosine decay over 15 epochs (CPU "
                                    "budget: about 35 CPU-s an epoch on CTCF's 13,567 rows)"),
    **{(arch, "histone"): _HISTONE_NO_PATIENCE for arch in STUDY_ARCHS
       if arch.startswith("deepram") and "recurrent" in arch},
}


#: Architectures trained with GENONET unchanged on every tag (no per-task additions such as precise_bn).
GENONET_ARCHS = ("genonet_small", "genonet_small_pos32", "genonet_small_pos32_x3")

#: Precise BatchNorm statistics (``precise_bn`` batches per epoch) for models with BatchNorm, outside splice.
PRECISE_BN = (200, "precise BatchNorm statistics (recomputed over up to 200 training batches after each epoch): "
                   "an epoch here has a fifth of the study's steps, and Keras' momentum 0.99 left the running "
                   "statistics so far behind the weights that cnn_zeng_4_conv2d scored 0.51 on histone (0.70 with "
                   "batch statistics)")


def recipe_for(arch: str, tag: str) -> Recipe:
    t = dict(TASKS[tag])
    settings, notes = EXTRA.get(arch, ({}, STUDY_NOTES))
    whys = []
    for key in ((arch, t["task"]), (arch, tag)):
        if key in PER_TASK:
            extra, why = PER_TASK[key]
            settings, whys = {**settings, **extra}, [*whys, why]
    if arch not in EXTRA and settings.get("patience", STUDY["patience"]):
        whys.insert(0, EARLY_STOPPING_NOTE)
    notes = "; ".join([notes, *whys])
    model = create_model(arch, **study_kwargs(arch, t["task"]))
    if tag != "splice" and arch not in GENONET_ARCHS and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        settings, notes = {**settings, "precise_bn": PRECISE_BN[0]}, f"{notes}; {PRECISE_BN[1]}"
    t.update({k: v for k, v in settings.items() if k in t})
    return Recipe(arch=arch, tag=tag, encoding=model.encoding.to_dict(), **t,
                  **{**STUDY, **{k: v for k, v in settings.items() if k not in t}}, notes=notes)


def render(recipe: Recipe) -> str:
    return (f"# {recipe.name}: generated by train/make_recipes.py; run with\n"
            f"#   genozoo train train/recipes/{recipe.name}.yaml\n" + recipe.to_yaml())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(HERE / "recipes"), help="folder of the recipe files")
    p.add_argument("--check", action="store_true", help="only compare with the files on disk")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stale = []
    archs = [*STUDY_ARCHS, *EXTRA]
    for tag in TASKS:
        for arch in archs:
            recipe = recipe_for(arch, tag)
            path, text = out / f"{recipe.name}.yaml", render(recipe)
            if args.check:
                if not path.exists() or path.read_text() != text:
                    stale.append(path.name)
            else:
                path.write_text(text)
    if args.check:
        print("\n".join(f"stale: {s}" for s in stale) or "all recipes up to date")
        return 1 if stale else 0
    print(f"wrote {len(TASKS) * len(archs)} recipes to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
