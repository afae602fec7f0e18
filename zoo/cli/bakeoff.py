"""``genozoo bakeoff``: which baseline for my data? Parses the options and dispatches to :mod:`zoo.bakeoff`, then
prints the leaderboard and the recommendation it wrote."""
from __future__ import annotations

import argparse
import sys
import warnings

from zoo.cli import add_threads_option
from zoo.cli.dataopts import add_data_options, data_kwargs, parse_source
from zoo.cli.options import SEED_MAX, device, float_range, int_range


def _seeds(text: str) -> int | list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()] if "," in text else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count such as 2 or seeds such as 0,1, not {text!r}") from None
    if isinstance(seeds, int) and not 1 <= seeds <= 100 or isinstance(seeds, list) and (
            not seeds or any(not 0 <= s <= SEED_MAX for s in seeds)):
        raise argparse.ArgumentTypeError(f"expected a count from 1 to 100 or seeds from 0 to {SEED_MAX}, not {text!r}")
    return seeds


def cmd_bakeoff(args: argparse.Namespace) -> int:
    from zoo.bakeoff import bakeoff, check_report_folder, leaderboard_markdown, recommend, write_report

    check_report_folder(args.output, args.overwrite)  # refused before minutes of training, not after

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    # The runs' warnings are shown once the report is written: a report that cannot be written is its one sentence.
    with warnings.catch_warnings(record=True) as said:
        result = bakeoff(parse_source(args.data), **data_kwargs(args), label_map=args.label_map,
                         models=args.models, epochs=args.epochs, seeds=args.seeds, scratch=args.scratch,
                         max_train=args.max_train or None, lr=args.lr, batch_size=args.batch_size,
                         seq_len=args.seq_len, metric=args.metric, device=args.device, quiet=True, progress=progress)
    files = write_report(result, args.output, overwrite=args.overwrite)
    for w in said:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    print(leaderboard_markdown(result))
    print(recommend(result))
    print("wrote " + ", ".join(str(f) for f in files), file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bakeoff", help="which baseline for my data? fine-tune several under one protocol and rank them",
        description="The study's question for your own data: fine-tune several published baselines (and, with "
                    "--scratch, train the same architectures from scratch) on the same splits with the same epochs, "
                    "learning rate, batch size and seeds, then write a leaderboard (mean ± sd over seeds, time, "
                    "parameters), a figure and a recommendation with its reasoning. The default (the best model of "
                    "each family, 3 epochs, 2 seeds, at most 5,000 training sequences) takes minutes on a laptop "
                    "CPU for 10,000 sequences.")
    add_data_options(p)
    p.add_argument("--models", default="best",
                   help="best (the best published model of each family, by mean rank over the published tasks), "
                        "all, family:NAME (e.g. family:deepram), or names: arch.tag, an architecture (its published "
                        "weight closest to your length; from scratch when it has none), a model folder, a pattern; "
                        "comma-separated (default: %(default)s)")
    p.add_argument("--epochs", type=int_range(1, 100_000), default=3,
                   help="training epochs per run (default: %(default)s)")
    p.add_argument("--seeds", type=_seeds, default=2,
                   help="a count N (seeds 0..N-1) or a list such as 0,1,2 (default: %(default)s)")
    p.add_argument("--scratch", action="store_true",
                   help="also train every architecture from scratch (fresh weights, same budget) to show what the "
                        "pretrained weights bring")
    p.add_argument("--max-train", type=int_range(0), default=5000,
                   help="subsample the training split to this many sequences (stratified; 0 = all) "
                        "(default: %(default)s)")
    p.add_argument("--label-map", metavar="DATA=MODEL,...",
                   help="rename the data's classes (e.g. 0=negative,1=positive) so models trained on the same task "
                        "keep their classifier")
    p.add_argument("--metric", default="accuracy", choices=["accuracy", "auroc", "mcc"],
                   help="test metric that ranks the models (default: %(default)s)")
    p.add_argument("--lr", type=float_range(0, 10, lo_open=True), default=1e-3,
                   help="Adam learning rate (default: %(default)s)")
    p.add_argument("--batch-size", type=int_range(1, 100_000), default=32,
                   help="batch size (default: %(default)s)")
    p.add_argument("--seq-len", type=int_range(1, 100_000),
                   help="model input length (default: the data's when all sequences share one, else each base "
                        "model's)")
    p.add_argument("--device", default="auto", type=device,
                   help="auto (CUDA when present), cpu, cuda or cuda:N (mps where torch has it) (default: auto)")
    p.add_argument("-o", "--output", default="bakeoff", help="folder for results.csv, leaderboard.md, "
                                                            "recommendation.md, bakeoff.png (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the bake-off already in --output (by default such a folder is refused)")
    p.add_argument("-q", "--quiet", action="store_true", help="no line per finished run")
    add_threads_option(p)
    p.set_defaults(func=cmd_bakeoff)
