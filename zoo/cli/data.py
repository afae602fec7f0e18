"""``genozoo data list|info|report|push``: the benchmark catalogue, one benchmark's metadata, its quality report and
dataset card, and publishing it to a Hub dataset repo. The work lives in :mod:`zoo.data` and :mod:`zoo.hub`."""
from __future__ import annotations

import argparse
import json
import sys

from zoo.cli.dataopts import add_data_options
from zoo.cli.options import SEED_MAX, int_range
from zoo.errors import UserError


def _load(args: argparse.Namespace):
    from zoo.data import load_benchmark

    return load_benchmark(args.name, source=args.source, cache_dir=args.cache_dir, revision=args.revision,
                          protocol=args.protocol, seed=args.seed, ambiguity=args.ambiguity,
                          progress=sys.stderr.isatty())


def cmd_list(args: argparse.Namespace) -> int:
    from zoo.data import list_benchmarks
    from zoo.summary import format_table

    if args.family is not None:
        families = sorted({i.family for i in list_benchmarks()})
        if args.family not in families:
            raise UserError(f"--family {args.family!r} is not a benchmark family; the families are "
                            f"{', '.join(families)}")
    infos = list_benchmarks(args.pattern, family=args.family)
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=1))
        return 0
    if not infos:
        print(f"no benchmarks match {args.pattern!r}" + (f" in family {args.family}" if args.family else ""))
        return 0
    rows = [[i.name, i.family, ", ".join(i.classes) if i.classes else "(from data)",
             i.length if i.length is not None else "-", f"{i.size:,}" if i.size else "-",
             "pinned" if i.sources and all(s.sha256 for s in i.sources) else
             ("partly" if any(s.sha256 for s in i.sources) else ("hub rev" if i.hub_repo else "unverified"))]
            for i in infos]
    print(format_table(["name", "family", "classes", "length", "rows", "sha256"], rows, "llllrl"))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from zoo.data import benchmark_info

    info = benchmark_info(args.name)
    if args.json:
        print(json.dumps(info.to_dict(), indent=1))
        return 0
    fields = [("name", info.name), ("task", info.task), ("description", info.description),
              ("classes", ", ".join(info.classes) if info.classes else "read from the data"),
              ("length", info.length if info.length is not None else "read from the data"),
              ("rows", f"{info.size:,}" if info.size else "unknown until loaded"), ("license", info.license),
              ("split protocol", info.split_protocol), ("protocols", ", ".join(info.protocols)),
              ("hub repo", info.hub_repo or "-"), ("homepage", info.homepage or "-"), ("citation", info.citation)]
    width = max(len(k) for k, _ in fields)
    for k, v in fields:
        print(f"{k.ljust(width)}  {v}")
    print("sources:")
    for s in info.sources:
        print(f"  {s.name}: {s.url}\n    sha256 {s.sha256 or 'not pinned (unverified)'}")
    if info.notes:
        print(f"notes: {info.notes}")
    return 0


def _own_info(name: str, dd):
    """Card metadata for the user's own files: what is known from the files, nothing invented."""
    from zoo.data.registry import BenchmarkInfo

    names = tuple(dd["train"].features["label"].names)
    split = (dd["train"].info.description or "").split(" Split: ", 1)[-1].rstrip(".")
    return BenchmarkInfo(name=name, task="your own data", description=f"Sequences from {name}.", classes=names,
                         length=None, size=sum(d.num_rows for d in dd.values()), license="not stated",
                         citation="", split_protocol=split, family="own")


def _card(args, dd, report=None) -> str:
    from zoo.data import benchmark_info
    from zoo.data.card import render_dataset_card

    info = _own_info(args.name, dd) if getattr(args, "data", None) else benchmark_info(args.name)
    return render_dataset_card(info, dd, report, source=args.source, ambiguity=args.ambiguity or "N")


def _load_report_data(args: argparse.Namespace):
    """A benchmark by NAME, or the user's own files (--data and friends, read by zoo.data.from_files)."""
    from zoo.cli.dataopts import data_kwargs, parse_source

    if not args.name and not args.data:
        raise UserError("name what to report on: a benchmark NAME (see `genozoo data list`) or your own files "
                        "with --data FILE (or --data CLASS=FILE ...)")
    if args.name and args.data:
        raise UserError("give a benchmark NAME or your own files with --data FILE (or --data CLASS=FILE ...), "
                        "not both")
    if not args.data:
        return _load(args)
    from zoo.data import from_files
    from zoo.data.build import source_name

    train = parse_source(args.data)
    kwargs = data_kwargs(args)
    args.name = source_name(train)
    return from_files(train, kwargs.pop("validation"), kwargs.pop("test"), ambiguity=args.ambiguity or "N",
                      seed=args.seed if args.seed is not None else 3264, **kwargs)


def cmd_report(args: argparse.Namespace) -> int:
    from zoo.data.quality import quality_report, report_markdown

    dd = _load_report_data(args)
    report = quality_report(dd, args.name)
    if args.card:
        _write(args.card, _card(args, dd, report))
        print(f"dataset card written to {args.card}", file=sys.stderr)
    print(json.dumps(report, indent=1) if args.json else report_markdown(report), end="" if not args.json else "\n")
    return 0


def _write(path: str, text: str) -> None:
    from zoo.outputs import atomic_write_text

    atomic_write_text(path, text)


def cmd_push(args: argparse.Namespace) -> int:
    if bool(args.repo_id) == bool(args.repo_flag):
        raise UserError("name the Hub dataset repo once: `genozoo data push NAME ORG/NAME` or `--repo ORG/NAME`")
    args.repo_id = args.repo_id or args.repo_flag
    from zoo.hub import push_dataset

    dd = _load(args)
    url = push_dataset(dd, args.repo_id, _card(args, dd), private=args.private, revision=args.hub_revision)
    print(url)
    return 0


def _add_load_options(p: argparse.ArgumentParser, optional_name: bool = False) -> None:
    p.add_argument("name", nargs="?" if optional_name else None,
                   help="benchmark name (see `genozoo data list`), e.g. splice, histone_h3, motif/<experiment>" +
                        (" (or give your own files with --data)" if optional_name else ""))
    p.add_argument("--source", help="a local file or folder holding the benchmark's files (works offline; nothing "
                                    "is downloaded or cached)")
    p.add_argument("--cache-dir", help="cache folder for downloads and Arrow files (default: $GENOZOO_CACHE/data "
                                       "or ~/.cache/genozoo/data)")
    p.add_argument("--revision", help="Hub revision (branch, tag or commit) for Hub-mirror benchmarks")
    p.add_argument("--protocol", help="split protocol, one of those `genozoo data info NAME` lists")
    p.add_argument("--seed", type=int_range(0, SEED_MAX),
                   help="seed of the fixed-seed split (default: the study's 3264)")
    p.add_argument("--ambiguity", choices=["N", "splice", "keep"],
                   help="IUPAC ambiguity codes: N (default), splice (the study's N->A D->T S->C R->G) or keep")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="benchmarks: list, inspect, quality report, publish",
                       description="Benchmarks as datasets: every one loads as train/validation/test with columns "
                                   "sequence, label, id; downloads are sha256-verified and cached.")
    dsub = p.add_subparsers(dest="data_command", metavar="COMMAND")

    q = dsub.add_parser("list", help="list the benchmarks with their metadata",
                        description="List the benchmarks (the study's, Genomic Benchmarks gb/, GUE gue/, Nucleotide "
                                    "Transformer nt/ and Zeng motif/ experiments).")
    q.add_argument("pattern", nargs="?", default="*", help="glob over names, e.g. 'histone_*' (default: all)")
    q.add_argument("--family", help="only this family: study, gue, gb, nt or motif")
    q.add_argument("--json", action="store_true", help="print the full metadata as JSON")
    q.set_defaults(func=cmd_list)

    q = dsub.add_parser("info", help="metadata of one benchmark: classes, length, license, citation, split "
                                     "protocol, source URLs and sha256",
                        description="Show the metadata of one benchmark (nothing is downloaded).")
    q.add_argument("name", help="benchmark name, e.g. splice")
    q.add_argument("--json", action="store_true", help="print the metadata as JSON")
    q.set_defaults(func=cmd_info)

    q = dsub.add_parser("report", help="load a benchmark and report class balance, lengths, N content, duplicates "
                                       "and leakage between splits",
                        description="Load a benchmark (downloading it if needed), or your own files (--data, in "
                                    "every layout `genozoo finetune` takes), and print its quality report; "
                                    "--card also writes the dataset card.")
    _add_load_options(q, optional_name=True)
    add_data_options(q, required=False)
    q.add_argument("--card", metavar="OUT.md", help="also write the dataset card (Markdown with YAML front matter)")
    q.add_argument("--json", action="store_true", help="print the report as JSON instead of Markdown")
    q.set_defaults(func=cmd_report)

    q = dsub.add_parser("push", help="publish a benchmark to a Hub dataset repo (parquet + dataset card)",
                        description="Load a benchmark and upload it as parquet with its dataset card, so "
                                    "`datasets.load_dataset(REPO_ID)` works without a loading script. Needs a token "
                                    "(HF_TOKEN or `hf auth login`).")
    _add_load_options(q)
    q.add_argument("repo_id", nargs="?", help="the Hub dataset repo to create or update, e.g. my-org/splice")
    q.add_argument("--repo", dest="repo_flag", metavar="ORG/NAME", help="the same as REPO_ID, as an option")
    q.add_argument("--private", action="store_true", help="create the repo as private")
    q.add_argument("--hub-revision", help="branch of the dataset repo to push to (default: main)")
    q.set_defaults(func=cmd_push)

    def _help(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_help)
