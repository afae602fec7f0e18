"""``genozoo train``, ``genozoo evaluate`` and ``genozoo benchmark``: parse, then call zoo.recipes / zoo.grid.

Free ``--key=value`` arguments override recipe keys (``--epochs=5 --lr=3e-4 --model_args.dropout=0.2``); an
unknown key fails. Every command runs unchanged under ``torchrun --nproc_per_node=N`` (DistributedDataParallel).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo.cli import add_threads_option
from zoo.cli.dataopts import add_data_options
from zoo.cli.options import SEED_MAX, device, int_range

RECIPE_HELP = ("Free --key=value (or --key value) arguments override recipe keys, e.g. --epochs=5 --lr 3e-4 "
               "--batch_size=64 --patience=null --model_args.dropout=0.2; an unknown key is an error. Keys: the fields "
               "of a recipe (every run folder's recipe.yaml lists them all, resolved).")


def _recipe_path(ref: str) -> Path:
    """A recipe file, or a published name (``arch.tag``) looked up in train/recipes/."""
    from zoo.errors import UserError
    from zoo.grid import RECIPES_DIR

    path = Path(ref)
    if path.is_file():
        return path
    candidate = RECIPES_DIR / f"{ref}.yaml"
    if candidate.is_file():
        return candidate
    raise UserError(f"recipe {ref!r} is neither a file nor a name in {RECIPES_DIR}; give a YAML path or "
                    f"--arch and --dataset")


def cmd_train(args: argparse.Namespace) -> int:
    from zoo.engine import distributed_context
    from zoo.errors import UserError
    from zoo.recipes import load_recipe, parse_overrides, run, run_dir_for

    overrides = parse_overrides(getattr(args, "overrides", []))  # first: a malformed override is the error
    base = {k: v for k, v in (("arch", args.arch), ("source", args.source)) if v}
    base.update(_dataset(args))
    if args.quiet:
        base["quiet"] = True
    if args.recipe:
        recipe = load_recipe(_recipe_path(args.recipe), base | overrides)
    elif args.arch and "dataset" in base:
        recipe = load_recipe(None, overrides, **base)
    else:
        raise UserError("give a RECIPE, or both --arch and --dataset")
    seeds = [args.seed] if args.seed is not None else recipe.seeds
    rank, _, _ = distributed_context()
    for seed in seeds:
        metrics = run(recipe, seed, args.out, resume=args.resume, keep_checkpoint=args.keep_checkpoint)
        if rank == 0:
            test = metrics.get("test", metrics.get("validation", {}))
            shown = " ".join(f"{k} {v:.4f}" for k, v in test.items())
            print(f"{recipe.name} seed {seed}: best epoch {metrics['best_epoch']} | test {shown}")
            print(f"  run folder: {run_dir_for(recipe, seed, args.out)}")
    return 0


def _dataset(args: argparse.Namespace) -> dict:
    """``dataset`` (a benchmark name or folder), or for the user's own files ``dataset`` (their name), ``tag`` and
    ``data_args`` (what :func:`zoo.data.from_files` reads, kept in the run's recipe.yaml so the run can be
    repeated)."""
    import re

    from zoo.cli.dataopts import data_kwargs, parse_source
    from zoo.data.build import source_name
    from zoo.data.user import is_files
    from zoo.errors import UserError

    data = parse_source(args.data, "--dataset")
    extra = {k: v for k, v in data_kwargs(args).items() if v is not None and v != "auto"}
    if data is None:
        if extra:
            raise UserError("--test, --validation, --labels and the like go with --dataset FILE (or CLASS=FILE)")
        return {}
    if not is_files(data):
        if extra:
            raise UserError(f"--dataset {data!r} is a benchmark name or a data folder, which holds its splits and "
                            "labels; --test, --validation and --labels go with data files")
        return {"dataset": data}
    name = source_name(data)
    first = data if isinstance(data, str) else (data[0] if isinstance(data, list) else None)
    label = Path(first).name.split(".")[0] if first else "-".join(data)  # a file's stem, or the class names
    tag = re.sub(r"[^A-Za-z0-9_-]+", "-", label).strip("-")
    return {"dataset": name, "tag": tag or "mine", "data_args": {"train": data, **extra}}


def cmd_evaluate(args: argparse.Namespace) -> int:
    from zoo.outputs import json_text
    from zoo.recipes import evaluate_model

    result = evaluate_model(args.model, args.dataset, args.split, source=args.source, protocol=args.protocol,
                            batch_size=args.batch_size, device=args.device)
    print(f"genozoo: {result.scored}", file=sys.stderr)
    text = json_text(result)  # strict JSON: an undefined score is null, not NaN
    if args.output:
        from zoo.checkpoint import atomic_write_text

        atomic_write_text(args.output, text + "\n")
    print(text)
    return 0


def _seeds(text: str) -> int | list[int]:
    """``--seeds``: ``3`` (a count) or ``1,2`` (those seeds)."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()] if "," in text else int(text)
    except ValueError:
        seeds = None
    if seeds is None or seeds == [] or (seeds < 1 if isinstance(seeds, int) else min(seeds) < 0):
        raise argparse.ArgumentTypeError(f"expected a count of at least 1 such as 3, or seeds of 0 or more such as "
                                         f"1,2, not {text!r}")
    return seeds


def cmd_benchmark(args: argparse.Namespace) -> int:
    from zoo.grid import benchmark, summarize

    if args.summarize_only:
        summary = summarize(args.out, figures=not args.no_figures, report_dir=args.report, merge=args.merge)
    else:
        datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
        summary = benchmark(args.archs, datasets, args.seeds, out_dir=args.out, recipes_dir=args.recipes,
                            overrides=list(getattr(args, "overrides", [])) + (["--quiet=true"] if args.quiet
                                                                             else []),
                            quiet=args.quiet, figures=not args.no_figures, report_dir=args.report,
                            merge=args.merge)
    carried = f" ({summary['carried']} carried from {args.merge})" if args.merge else ""
    print(f"{summary['rows']} finished runs{carried} -> {summary['results']}, {summary['leaderboard']}")
    for fig in summary.get("figures", []):
        print(f"  figure: {fig}")
    for fig in summary.get("kept", []):
        print(f"  figure kept (some of its runs have no folder here): {fig}")
    for f in summary.get("failures", []):
        print(f"  FAILED {f['cell']}: {f['error']}")
    return 1 if summary.get("failures") else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", allow_abbrev=False, help="train a model from a recipe (or --arch/--dataset)",
        description="Train one architecture on one dataset, every seed of the recipe (or --seed), each into its "
                    "run folder OUT/<arch>.<tag>/seed<S>/ (resolved recipe, run.json with git commit and package "
                    "versions, per-epoch log, metrics.json, model.safetensors). Under torchrun it trains with "
                    "DistributedDataParallel.",
        epilog=RECIPE_HELP + " Examples: genozoo train cnn_zeng_2_conv2d.splice --epochs=5 (a published model's bundled recipe); "
               "genozoo train my_recipe.yaml; "
               "genozoo train --arch deepram_recurrent_onehot --dataset splice")
    p.add_argument("recipe", nargs="?", help="a recipe YAML file, or a published name arch.tag (its recipe "
                                             "is bundled with genozoo)")
    p.add_argument("--arch", help="architecture to train (without RECIPE: default settings)")
    add_data_options(p, data_flag="--dataset", required=False,
                     extra_help=", a zoo.data benchmark name, or a data folder (saved DatasetDict, or "
                                "train/validation/test CSV files with sequence,label columns)")
    p.add_argument("--source", help="where zoo.data reads the dataset from (a local folder or URL)")
    p.add_argument("--seed", type=int_range(0, SEED_MAX),
                   help="train only this seed (default: every seed of the recipe)")
    p.add_argument("--out", default="runs", help="parent folder of the run folders (default: %(default)s)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its last checkpoint (a finished run is kept as is); "
                        "ends exactly as an uninterrupted run with the same seed")
    p.add_argument("--keep-checkpoint", action="store_true",
                   help="keep the training state (checkpoints/) of a finished run, e.g. to train it further")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or per-epoch lines")
    add_threads_option(p)
    p.set_defaults(func=cmd_train, accepts_overrides=True)

    p = subparsers.add_parser(
        "evaluate", allow_abbrev=False, help="loss and metrics of a trained model on a dataset split",
        description="Evaluate a run folder (from genozoo train), a model folder (e.g. from genozoo finetune) or a "
                    "published model arch.tag on a dataset "
                    "split: loss, accuracy, balanced accuracy, macro F1, MCC, AUROC, AUPRC (JSON on standard output). "
                    "By default it scores the data and split protocol the run was trained with (a published model: "
                    "its committed recipe's) and says on standard error which split it scored.")
    p.add_argument("model", help="a run folder (holding recipe.yaml and model.safetensors), a model folder, a Hub "
                                 "repo id or a published name")
    p.add_argument("--dataset", help="a zoo.data benchmark name or a data folder (default: the data of the run's "
                                      "recipe, with its split protocol, so the test split is the run's own)")
    p.add_argument("--split", default="test", help="which split to score (default: %(default)s)")
    p.add_argument("--protocol", help="split protocol of the benchmark to score (default: the recipe's, e.g. 'paper' "
                                      "for the study's splice split; 'default' for the benchmark's standard split)")
    p.add_argument("--source", help="where zoo.data reads the dataset from: a local copy of its files, or null to "
                                    "download them (default: the recipe's)")
    p.add_argument("--batch-size", type=int_range(1, 100_000), default=512,
                   help="evaluation batch size (default: %(default)s)")
    p.add_argument("--device", default="auto", type=device,
                   help="auto (CUDA when present), cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--output", help="also write the JSON to this file")
    add_threads_option(p)
    p.set_defaults(func=cmd_evaluate)

    p = subparsers.add_parser(
        "benchmark", allow_abbrev=False, help="train the arch x dataset x seed grid and write the leaderboard",
        description="Train every architecture matching --archs on every dataset of --datasets with --seeds seeds, "
                    "skipping finished cells (re-run the same command to resume), then write OUT/results.csv, "
                    "OUT/leaderboard.md (mean ± sd, study figures, ranks) and OUT/figures/*.png (ROC and PR "
                    "curves, training dynamics, overfitting gap, ranks).",
        epilog=RECIPE_HELP + " Example: genozoo benchmark --archs study --datasets splice --seeds 3")
    p.add_argument("--archs", default="study",
                   help="comma-separated shell patterns of architectures; 'study' = the study's 13 "
                        "(default: %(default)s)")
    p.add_argument("--datasets", default="splice",
                   help="comma-separated recipe tags (splice, histone_h3_gue, motif_ctcf, motif_ezh2: uses "
                        "the bundled recipe <arch>.<tag>) or data names/folders (default: %(default)s)")
    p.add_argument("--seeds", type=_seeds, default=3,
                   help="seeds per cell: a count N (the recipe's first N seeds) or a list such as 1,2 or 2, (only those; "
                        "e.g. to add seeds to cells finished elsewhere) (default: %(default)s)")
    p.add_argument("--out", default="runs/benchmark", help="grid folder (default: %(default)s)")
    p.add_argument("--report", help="write results.csv, leaderboard.md and figures/ here instead of into --out "
                                    "(e.g. a folder you commit, while the run folders stay in --out)")
    p.add_argument("--merge", metavar="RESULTS_CSV",
                   help="keep the rows of an earlier results.csv (in a checkout: train/results/results.csv) for every "
                        "arch x tag x seed with no finished run in --out (a run here replaces its row), so a grid "
                        "continued on another machine extends the table")
    p.add_argument("--recipes", help="folder of recipe YAML files (default: the bundled recipes, train/recipes in a checkout)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    add_threads_option(p)
    p.add_argument("--summarize-only", action="store_true",
                   help="train nothing; rebuild results.csv, leaderboard and figures from finished runs in --out")
    p.set_defaults(func=cmd_benchmark, accepts_overrides=True)
