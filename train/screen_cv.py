"""The fifth screen (train/README.md): does a 3-seed ensemble beat one model, by k-fold cross-validation over a
benchmark's train + validation rows (its test rows untouched)?

For fold k the other folds are split 85/15 (stratified, seed k) into training and validation rows, the recipe is
trained with each seed into OUT/fold<k>/, and fold k's held-out rows are scored: single = the mean over the seeds
of the rows right, ensemble = the rows right by the seeds' mean logits. Resumable (finished runs are reused).

    python train/screen_cv.py train/recipes/genonet_small_pos32.splice.yaml --out runs/screen_cv --folds 0,1,2
    python train/screen_cv.py train/recipes/genonet_small_pos32.splice.yaml --out runs/screen_cv --folds 3,4
    python train/screen_cv.py train/recipes/genonet_small_pos32.splice.yaml --out runs/screen_cv --score
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def folds_of(recipe, k: int):
    """The pooled train + validation rows and their ``k`` stratified folds (shuffled, seed 0)."""
    import datasets
    from sklearn.model_selection import StratifiedKFold

    from zoo.recipes import load_data

    ds = load_data(recipe)
    pool = datasets.concatenate_datasets([ds["train"], ds["validation"]])
    y = np.array(pool["label"])
    return pool, y, list(StratifiedKFold(k, shuffle=True, random_state=0).split(np.zeros(len(y)), y))


def fold_data(pool, y, folds, k: int):
    import datasets
    from sklearn.model_selection import train_test_split

    rest, held = folds[k]
    train, validation = train_test_split(rest, test_size=0.15, stratify=y[rest], random_state=k)
    return datasets.DatasetDict(train=pool.select(train), validation=pool.select(validation), test=pool.select(held))


def logits_of(folder: Path, split) -> tuple[torch.Tensor, torch.Tensor]:
    from zoo.engine import _batch_encoder, prepare
    from zoo.recipes import load_run_model

    model, _ = load_run_model(folder)
    model.eval()
    data = prepare(split, model.encoding)
    encode = _batch_encoder(model)
    with torch.no_grad():
        out = [model.inference_forward(encode(data.codes[i:i + 512].numpy())) for i in range(0, len(data), 512)]
    return torch.cat(out), data.labels


def predicted(logits: torch.Tensor) -> torch.Tensor:
    return (logits.view(-1) > 0).long() if logits.shape[1] == 1 else logits.argmax(1)


def main(argv=None) -> None:
    from zoo.recipes import load_recipe, run, run_dir_for

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("recipe")
    p.add_argument("--out", default="runs/screen_cv")
    p.add_argument("--k", type=int, default=5, help="number of folds (default 5)")
    p.add_argument("--folds", default=None, help="train only these folds, e.g. 0,1,2 (default: all)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--score", action="store_true", help="score the finished folds instead of training")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    recipe = load_recipe(args.recipe, {"quiet": True})
    seeds = [int(s) for s in args.seeds.split(",")]
    pool, y, folds = folds_of(recipe, args.k)
    todo = range(args.k) if args.folds is None else [int(f) for f in args.folds.split(",")]
    if not args.score:
        for k in todo:
            data = fold_data(pool, y, folds, k)
            for seed in seeds:
                run(recipe, seed, Path(args.out) / f"fold{k}", resume=True, data=data)
                print(f"fold {k} seed {seed} done", flush=True)
        return
    single, ensemble, rows = 0.0, 0, 0
    for k in range(args.k):
        held = fold_data(pool, y, folds, k)["test"]
        outs = [logits_of(run_dir_for(recipe, s, Path(args.out) / f"fold{k}"), held) for s in seeds]
        labels = outs[0][1]
        right = [int((predicted(o) == labels).sum()) for o, _ in outs]
        both = int((predicted(torch.stack([o for o, _ in outs]).mean(0)) == labels).sum())
        print(f"fold {k}: {len(labels)} rows; single {right} (mean {np.mean(right):.2f}); ensemble {both}")
        single, ensemble, rows = single + float(np.mean(right)), ensemble + both, rows + len(labels)
    print(f"all {rows} rows: single {single / rows:.5f}, ensemble {ensemble / rows:.5f}, "
          f"difference {(ensemble - single) / rows:+.5f}")


if __name__ == "__main__":
    main()
