"""``genozoo list`` and ``genozoo info``: the model catalogue and one architecture's layers."""
from __future__ import annotations

import argparse

from zoo.cli.options import int_range
from zoo.errors import UserError
from zoo.registry import GEOMETRIES


#: How errors name the options :func:`_geometry_args` reads ("... do not build ARCH: why").
_GEOMETRY_OPTIONS = "the options --geometry, --seq-len, --num-classes"


def _geometry_args(arch: str, args: argparse.Namespace) -> dict:
    from zoo.registry import study_kwargs

    kw = study_kwargs(arch, args.geometry or "splice")
    if args.seq_len:
        kw["seq_len"] = args.seq_len
    if args.num_classes:
        kw["num_classes"] = args.num_classes
    return kw


def _add_geometry(p: argparse.ArgumentParser, default: str = "splice") -> None:
    p.add_argument("--geometry", choices=sorted(GEOMETRIES),
                   help="build for one of the study's input geometries: splice (60 bp, 3 classes), histone "
                        f"(500 bp, binary) or motif (101 bp, binary; k-mer region 2). Default: {default}")
    p.add_argument("--seq-len", type=int_range(1, 100_000), help="override the sequence length of the geometry")
    p.add_argument("--num-classes", type=int_range(2, 100_000), help="override the number of classes of the geometry")


def cmd_list(args: argparse.Namespace) -> int:
    from zoo.registry import create_model_from_args, list_models, model_family, pretrained_cfg
    from zoo.study import TASK_OF_TAG
    from zoo.summary import describe_encoding, format_mean_sd, format_table

    names = list_models(args.pattern, pretrained=args.pretrained)
    if not names:
        kind = "published weights" if args.pretrained else "architectures"
        print(f"no {kind} match {args.pattern!r}")
        return 0
    if args.pretrained:
        given = [flag for flag, value in (("--geometry", args.geometry), ("--seq-len", args.seq_len),
                                          ("--num-classes", args.num_classes)) if value]
        if given:  # a published weight has its own geometry; these would silently describe nothing
            raise UserError(f"{', '.join(given)} build architectures at another geometry; published weights keep "
                            "their own, so drop them with --pretrained (or drop --pretrained)")
        rows = []
        for name in names:
            cfg = pretrained_cfg(name)
            acc = cfg.metrics.get("accuracy", {})
            metric = format_mean_sd(acc.get("mean"), acc.get("sd"), len(cfg.seeds) or None)
            size = f"{cfg.num_params * 4 / 2**20:.2f}" if cfg.num_params else "-"
            rows.append([name, TASK_OF_TAG.get(cfg.tag, cfg.tag), cfg.dataset, model_family(cfg.arch),
                         f"{cfg.num_params or 0:,}", metric, size])
        print(format_table(["name", "task", "dataset", "family", "params", "test accuracy", "MB (fp32)"], rows,
                           "llllrrr"))
        return 0
    rows, unbuilt = [], []
    for arch in names:
        try:
            model = create_model_from_args(arch, _GEOMETRY_OPTIONS, **_geometry_args(arch, args))
        except UserError:  # e.g. too short for its poolings: the others are still listed
            unbuilt.append(arch)
            rows.append([arch, model_family(arch), "-", "-"])
            continue
        rows.append([arch, model_family(arch), describe_encoding(model.encoding), f"{model.num_parameters():,}"])
    print(format_table(["architecture", "family", "encoding", f"params ({args.geometry or 'splice'})"], rows,
                       "lllr"))
    if unbuilt:
        print(f"(-: {', '.join(unbuilt)} cannot be built at this geometry; `genozoo info ARCH` with the same "
              "options says why)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from zoo.registry import create_model_from_args, model_family
    from zoo.summary import format_table, layer_table

    name = arch = args.model.split(".", 1)[0]
    if "." in args.model and args.geometry is None:
        # A published arch.tag: its own length, classes and constructor arguments (no weights are read).
        name = args.model
        model = create_model_from_args(name, _GEOMETRY_OPTIONS, num_classes=args.num_classes, seq_len=args.seq_len)
    else:
        model = create_model_from_args(arch, _GEOMETRY_OPTIONS, **_geometry_args(arch, args))
    doc = (type(model).__doc__ or "").strip().splitlines()
    print(f"{name}  (family {model_family(arch)}, class {type(model).__name__})")
    if doc:
        print(doc[0])
    enc = model.encoding
    shape = ", ".join(["N", *map(str, enc.shape())])
    print(f"input: {enc.kind} ({shape}), {model.seq_len} bp; "
          f"output: {model.num_outputs} logit(s) for {model.num_classes} classes\n")
    rows = [[r.name, r.kind, r.output_shape, f"{r.params:,}"] for r in layer_table(model)]
    print(format_table(["layer", "type", "output shape", "params"], rows, "lllr"))
    print(f"\ntrainable parameters: {model.num_parameters():,}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list architectures or published weights",
                       description="List registered architectures (with their encoding and parameter count for a "
                                   "geometry), or with --pretrained the published weights with their test metric.")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style name pattern, e.g. 'deepram_*' (default: all)")
    p.add_argument("--pretrained", action="store_true", help="list published arch.tag weights instead")
    _add_geometry(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="show an architecture's layers and parameter counts",
                       description="Print the layers of an architecture with their output shapes and trainable "
                                   "parameter counts, built for one of the study's geometries.")
    p.add_argument("model", help="architecture name, e.g. deepram_recurrent_onehot, or a published arch.tag "
                                 "(shown as published unless --geometry is given)")
    _add_geometry(p, "splice, or a published arch.tag's own")
    p.set_defaults(func=cmd_info)
