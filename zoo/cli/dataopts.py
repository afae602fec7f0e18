"""The data options shared by every command that reads a user's labelled data (``finetune``, ``bakeoff``,
``train --dataset``, ``data report``): ``--data`` / ``--validation`` / ``--test`` (each repeatable, a file or
``CLASS=FILE``), ``--labels`` (one per data file), ``--label-names``, ``--format`` and the CSV column names. Parsing
only: :func:`zoo.data.from_files` does the reading.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from zoo.errors import UserError

LAYOUTS = ("a FASTA/CSV/TSV file (FASTA labels in the headers, CSV in a column, or --labels), CLASS=FILE for a file "
           "per class (repeat it: {flag} A=a.fa {flag} B=b.fa), or several files (repeat {flag})")


def add_data_options(p: argparse.ArgumentParser, *, data_flag: str = "--data", required: bool = True,
                     extra_help: str = "") -> None:
    """Add the data options; ``data_flag`` names the training data's flag (``--dataset`` for ``train``)."""
    p.add_argument(data_flag, dest="data", action="append", required=required, metavar="FILE|CLASS=FILE",
                   help=f"training data: {LAYOUTS.format(flag=data_flag)}{extra_help}; without --test it is split "
                        "70/15/15")
    p.add_argument("--validation", action="append", metavar="FILE|CLASS=FILE",
                   help="separate validation data, in the same forms (needs --test)")
    p.add_argument("--test", action="append", metavar="FILE|CLASS=FILE",
                   help="separate test data, in the same forms (validation is then carved from the training data)")
    p.add_argument("--labels", action="append", metavar="FILE",
                   help=f"a labels file per data file, in the order of {data_flag}, --validation, --test: one label per "
                        "line, 'ID LABEL' lines, or a 0/1 matrix with one column per class")
    p.add_argument("--label-names", metavar="A,B,...",
                   help="class names in order (they name the columns of a 0/1 labels matrix; default: the matrix "
                        "header, else 0..k-1; for other labels the sorted distinct labels)")
    if not any(a.dest == "format" for a in p._actions):
        p.add_argument("--format", default="auto", choices=["auto", "fasta", "csv", "tsv", "uci", "zeng", "lines"],
                       help="file format (default: guessed from the name and first line; .gz is detected)")
    if not any(a.dest == "label_column" for a in p._actions):
        p.add_argument("--label-column", metavar="NAME", help="CSV/TSV column holding the labels (default: "
                                                              "'label', 'class', ...)")
    if not any(a.dest == "sequence_column" for a in p._actions):
        p.add_argument("--sequence-column", metavar="NAME",
                       help="CSV/TSV column holding the sequences (default: 'sequence', 'seq', ...)")


def parse_source(values: list[str] | None, flag: str = "--data") -> Any:
    """Repeated ``FILE`` or ``CLASS=FILE`` values as one source: None, a string (one file, a folder or a benchmark
    name), a list of files, or ``{class: [files]}``."""
    if not values:
        return None
    classes: dict[str, list[str]] = {}
    plain: list[str] = []
    for value in values:
        name, sep, path = value.partition("=")
        if sep and not os.path.exists(value) and name.strip() and path.strip():
            classes.setdefault(name.strip(), []).append(path.strip())
        else:
            plain.append(value)
    if classes and plain:
        raise UserError(f"{flag} mixes class files ({next(iter(classes))}={classes[next(iter(classes))][0]}) with "
                        f"plain files ({plain[0]}); give CLASS=FILE for every file, or no class at all")
    if classes:
        return classes
    return plain[0] if len(plain) == 1 else plain


def data_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`zoo.data.user.load_data` / :func:`zoo.data.from_files` from the options."""
    names = [n.strip() for n in args.label_names.split(",") if n.strip()] if args.label_names else None
    return dict(validation=parse_source(args.validation, "--validation"), test=parse_source(args.test, "--test"),
                labels=(args.labels[0] if len(args.labels) == 1 else list(args.labels)) if args.labels else None,
                label_names=names, format=args.format, label_column=args.label_column,
                sequence_column=args.sequence_column)
