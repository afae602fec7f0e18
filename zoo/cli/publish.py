"""``genozoo publish`` (training runs -> bundled hub + records) and ``genozoo verify`` (reference predictions)."""
from __future__ import annotations

import argparse

from zoo.cli import add_threads_option
from zoo.cli.options import float_range, int_range


def cmd_publish(args: argparse.Namespace) -> int:
    from pathlib import Path

    from zoo.errors import UserError
    from zoo.publish import hub_size_mb, publish, records_path, update_readme
    from zoo.registry import PRETRAINED_JSON

    if args.hub is not None and not args.hub.strip():
        raise UserError("--hub is empty; give the folder to publish into, or leave it out for the bundled hub")
    records = records_path(args.hub)
    if args.readme:  # refused before any weight is written, not after
        if not Path(args.readme).is_file():
            raise UserError(f"--readme {args.readme!r} is not a file; give the README whose leaderboard block to "
                            "regenerate (e.g. README.md)")
        if records != Path(PRETRAINED_JSON):
            raise UserError(f"--readme regenerates the leaderboard from the bundled records, but --hub {args.hub!r} "
                            f"keeps its records in {records}; publish into the bundled hub (no --hub) to update "
                            "the README")
    tags = [t for t in (args.tags or "").split(",") if t]
    published, refreshed, kept = publish(args.runs, args.names or None, hub_root=args.hub, org=args.org,
                                         registry_path=records, top=args.top, tags=tags or None,
                                         progress=not args.quiet, merge=args.merge, force=args.force)
    for k in kept:
        print(f"{k.name}: kept the published weight (mean validation {k.metric} {k.published:.3f} over "
              f"{k.published_seeds} seed(s)); the new runs score {k.new:.3f} over {k.new_seeds} seed(s), lower "
              f"(--force replaces it)")
    for cfg in published:
        acc = cfg.metrics.get("accuracy", {})
        print(f"{cfg.name}: seed {cfg.seed}, test accuracy {acc.get('mean', float('nan')):.3f} ± "
              f"{acc.get('sd', 0):.3f} over {len(cfg.seeds)} seed(s), {cfg.num_params:,} parameters")
    for cfg in refreshed:
        print(f"{cfg.name}: kept seed {cfg.seed} (its run folder is not here); metrics refreshed over "
              f"{len(cfg.seeds)} seed(s) from {args.merge}")
    if args.readme:
        import zoo.registry as registry

        registry._pretrained.clear(); registry._pretrained_loaded = False  # re-read the records just written
        update_readme(args.readme)
        print(f"updated the leaderboard in {args.readme}")
    size = hub_size_mb(args.hub)
    if records != Path(PRETRAINED_JSON):
        print(f"published {len(published)} model(s) into {args.hub} ({size:.1f} MB), records in {records}; the "
              f"installed zoo is unchanged: use them with GENOZOO_HUB_DIR={args.hub} GENOZOO_PRETRAINED={records}")
        return 0
    print(f"published {len(published)} model(s); the bundled hub holds {size:.1f} MB")
    if size > args.budget_mb:
        print(f"genozoo: warning: the bundled hub exceeds its {args.budget_mb} MB budget")
        return 1
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from zoo.errors import UserError
    from zoo.publish import verify
    from zoo.registry import list_models

    names = list_models(pretrained=True) if args.all else args.models
    if not names:
        raise UserError("name a published model (e.g. deepram_recurrent_onehot.splice) or pass --all")
    failed = 0
    for name in names:
        result = verify(name, atol=args.atol)
        print(("ok    " if result["ok"] else "FAIL  ") + result["message"])
        failed += not result["ok"]
    print(f"{len(names) - failed} of {len(names)} model(s) reproduce their reference predictions")
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("publish", help="publish the best seed of finished runs into the bundled hub",
                       description="For every arch.tag with finished runs under RUNS (a `genozoo benchmark` "
                                   "--out folder), write the best seed by validation accuracy into "
                                   "hub/<org>/<arch>.<tag>/ (weights, config, card, reference predictions) and its "
                                   "record (test metrics as mean ± sd over seeds) into zoo/pretrained.json.")
    p.add_argument("runs", help="folder of finished runs, e.g. runs/benchmark")
    p.add_argument("names", nargs="*", help="arch.tag names to publish (default: every one found)")
    p.add_argument("--tags", help="comma-separated recipe tags to publish from (default: all found)")
    p.add_argument("--top", type=int_range(1, 1_000), metavar="K",
                   help="per tag, publish only the K best non-transformer models by mean validation accuracy, plus "
                        "every transformer baseline (the zoo publishes all of splice and the five best of the other "
                        "tasks)")
    p.add_argument("--merge", metavar="RESULTS_CSV",
                   help="an earlier results.csv (e.g. train/results/results.csv) whose rows count for cells with "
                        "no run folder under RUNS when choosing the --top K; such names keep their published record")
    p.add_argument("--hub", help="hub folder to publish into (default: the bundled hub/, or $GENOZOO_HUB_DIR); the "
                                 "records of another folder go to its own pretrained.json, never into the installed "
                                 "zoo/pretrained.json")
    p.add_argument("--org", help="Hub organization (default: $GENOZOO_HUB_ORG or genozoo)")
    p.add_argument("--budget-mb", type=float_range(0, 100_000, lo_open=True), default=60.0,
                   help="size budget of the bundled hub (default: 60)")
    p.add_argument("--force", action="store_true",
                   help="replace a published weight even when the new runs have a lower mean validation accuracy "
                        "(by default it is kept, and the output says so)")
    p.add_argument("--readme", help="also regenerate the leaderboard block of this README (e.g. README.md)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_threads_option(p)
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("verify", help="check published models against their reference predictions",
                       description="Load each published model and recompute the probabilities stored beside its "
                                   "weights (reference.json) for a fixed set of generated sequences; exit status 1 "
                                   "if any differs by more than the tolerance.")
    p.add_argument("models", nargs="*", help="published arch.tag names")
    p.add_argument("--all", action="store_true", help="verify every published model")
    p.add_argument("--atol", type=float_range(0, 1),
                   help="absolute tolerance on probabilities (default: the one stored, 1e-5)")
    add_threads_option(p)
    p.set_defaults(func=cmd_verify)
