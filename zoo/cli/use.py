"""``genozoo predict``, ``genozoo explain`` and ``genozoo finetune``: use a baseline on your own sequences.

Parsing and dispatch only; the work lives in :mod:`zoo.predict`, :mod:`zoo.explain` and :mod:`zoo.finetune`, so
Python users get the same results (the CLI's predictions equal ``model.predict``'s, digit for digit).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from zoo.cli import add_threads_option
from zoo.cli.dataopts import add_data_options
from zoo.cli.options import SEED_MAX, device, float_range, int_range, name_part

#: Bounds of the size options: far above any real use, far below what would exhaust memory before an error.
MAX_BATCH, MAX_SEQ_LEN = 100_000, 100_000

MODEL_HELP = ("the model: a published name (arch.tag, see `genozoo list --pretrained`), a model folder saved by "
              "genozoo (model.safetensors + config.json), a run folder of `genozoo train`, or a Hub repo id ORG/NAME")


def _model_options(p: argparse.ArgumentParser, help: str = MODEL_HELP) -> None:
    p.add_argument("model", help=help)
    p.add_argument("--allow-modified", action="store_true",
                   help="load a model folder whose weights do not match the sha256 in its config.json (or its "
                        "published record's); it is then treated as an unpublished weight, with a warning")


def _input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="auto", choices=["auto", "fasta", "csv", "tsv", "uci", "zeng", "lines"],
                   help="input format (default: guessed from the name and first line; .gz is detected; lines: one "
                        "sequence per line)")
    p.add_argument("--sequence-column", metavar="NAME",
                   help="CSV/TSV column holding the sequences (default: 'sequence', 'seq', ...)")
    p.add_argument("--id-column", metavar="NAME",
                   help="CSV/TSV column holding the ids (default: 'id' or 'name', else FILE-N, N counting the "
                        "sequences from 1)")
    p.add_argument("--device", default="auto", type=device,
                   help="where to run: auto (CUDA when present, else CPU), cpu, cuda, cuda:N, or mps where torch has "
                        "it; one that is not present is refused (default: auto)")
    add_threads_option(p)


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars only for a person watching a terminal (not in logs or pipes), and not with --quiet."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _max_length_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-length", type=int_range(1, 10**10), metavar="BP",
                   help="refuse sequences longer than this (default: 10x the model's input length); shorter "
                        "and longer ones are padded/cropped as the model declares, with a warning count")


# ---------------------------------------------------------------------------------------------- predict
def cmd_predict(args: argparse.Namespace) -> int:
    from zoo.predict import load_model, predict_file

    model = load_model(args.model, allow_modified=args.allow_modified)
    try:
        summary = predict_file(model, args.input, args.output, format=args.format,
                               sequence_column=args.sequence_column, id_column=args.id_column,
                               batch_size=args.batch_size, reverse_complement=args.reverse_complement,
                               device=args.device, max_length=args.max_length, progress=_progress(args))
    except BrokenPipeError:  # the reader of standard output (e.g. `| head`) has stopped: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    for msg in (summary.lengths.message(), summary.lengths.unreliable_message()):
        if msg is not None:
            _say(f"genozoo: warning: {msg}")
    if not args.quiet:
        where = "standard output" if args.output == "-" else args.output
        _say(f"predicted {summary.sequences:,} sequences in {summary.seconds:.1f} s "
             f"({summary.sequences_per_second:,.0f}/s on {summary.device}); wrote {where}")
    return 0


# ---------------------------------------------------------------------------------------------- explain
def _read_for_explain(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    from zoo.errors import UserError
    from zoo.io import open_input

    ids, seqs = [], []
    with open_input(args.input, format=args.format, sequence_column=args.sequence_column,
                    id_column=args.id_column, allow_literal=True) as inp:
        for ident, seq in inp:
            if len(ids) == args.max_sequences:
                raise UserError(f"input {args.input!r} holds more than {args.max_sequences} sequences; explain a "
                                "subset, or raise --max-sequences")
            ids.append(ident)
            seqs.append(seq)
    return ids, seqs


def cmd_explain(args: argparse.Namespace) -> int:
    from zoo.errors import UserError
    from zoo.outputs import all_or_nothing, check_outputs, refuse_input_as_output
    from zoo.predict import load_model

    if not args.output and not args.filters and not args.numbers:
        raise UserError("nothing to write; give -o LOGO.png, --numbers FILE.csv|json and/or --filters FILE.meme")
    from zoo.explain.logos import logo_format, numbers_format

    numbers = args.numbers
    if args.output:
        logo_format(args.output)  # a bad name is refused before minutes of computing, not after
        if numbers is None and (Path(args.output).is_file() or not os.path.lexists(args.output)):
            numbers = str(Path(args.output).with_suffix(".csv"))  # beside a logo file (not beside /dev/null)
    if numbers:
        numbers_format(numbers)
    outputs = {"the logo (-o)": args.output,
               "the numbers (--numbers)" if args.numbers else "the numbers beside the logo": numbers,
               "the filters (--filters)": args.filters}
    check_outputs(outputs)
    refuse_input_as_output(outputs, args.input)
    model = load_model(args.model, allow_modified=args.allow_modified)
    ids, seqs = _read_for_explain(args)
    attr = motifs = None
    with all_or_nothing():  # a failure writing the last file leaves none of them
        if args.output or numbers:
            from zoo.explain import attribute
            from zoo.explain.logos import draw_logos, write_numbers

            method = args.method
            if method is None:  # integrated gradients, or ism for a model without gradients to the bases
                from zoo.explain import supported_methods

                methods = supported_methods(model)
                method = "integrated_gradients" if "integrated_gradients" in methods else methods[0]
            attr = attribute(model, seqs, method, ids=ids, target=args.target, device=args.device,
                             n_steps=args.steps, max_length=args.max_length)
            if args.output:
                draw_logos(attr, args.output, max_sequences=args.max_logos)
            if numbers:
                write_numbers(attr, numbers)
        if args.filters:
            motifs = _explain_filters(args, model, seqs)
    if attr is not None:
        if args.output:
            _say(f"wrote the {attr.method} logo of {min(len(attr), args.max_logos)} sequence(s) to {args.output}")
        if numbers:
            _say(f"wrote the attributions of {len(attr)} sequence(s) to {numbers}")
        for i in range(min(len(attr), 5)):
            p = attr.peak(i)
            where = (f"strongest position {p + 1} ({attr.sequences[i][max(0, p - 5):p + 6]})" if attr.scores[i].any()
                     else "no position stands out (every attribution is 0)")
            _say(f"  {attr.ids[i]}: target {attr.label_names[attr.targets[i]]!r}, {where}")
    if motifs is not None:
        _report_filters(args, motifs)
    return 0


def _explain_filters(args: argparse.Namespace, model, seqs: list[str]) -> list:
    """The first convolution's filters as PWMs, matched to the motif databases --match names and written to
    --filters; returns them for :func:`_report_filters`."""
    from zoo.explain.motifs import filter_pwms, jaspar_motifs, match_motifs, write_meme

    motifs = filter_pwms(model, seqs, threshold=args.threshold, device=args.device)
    database = {}
    if args.match in ("builtin", "both"):
        from zoo.data import PWMS

        database.update(PWMS)
    if args.match in ("jaspar", "both"):
        database.update(jaspar_motifs())
    if database:
        match_motifs(motifs, database)
    write_meme(motifs, args.filters)
    return motifs


def _report_filters(args: argparse.Namespace, motifs: list) -> None:
    """Say where the filter PWMs went, and print the best-supported ones with their closest known motif."""
    used = [m for m in motifs if m.nsites]
    _say(f"wrote {len(used)} filter PWM(s) of {len(motifs)} filters to {args.filters} (MEME format)")
    for m in sorted(used, key=lambda m: -(m.matches[0].score if m.matches else m.nsites))[:10]:
        best = f"best match {m.matches[0].name} (r = {m.matches[0].score:.2f}, strand {m.matches[0].strand})" \
            if m.matches else ""
        print(f"{m.name}\t{m.consensus}\tsites {m.nsites}\t{best}")


# --------------------------------------------------------------------------------------------- finetune
def cmd_finetune(args: argparse.Namespace) -> int:
    import json

    from zoo.cli.dataopts import data_kwargs, parse_source
    from zoo.errors import UserError
    from zoo.finetune import finetune

    try:
        model_args = json.loads(args.model_args) if args.model_args else None
    except json.JSONDecodeError as e:
        raise UserError(f"--model-args is not JSON ({e.msg}); write it as '{{\"dense\": 32}}'") from None
    if model_args is not None and not args.from_scratch:
        raise UserError("--model-args sets the architecture of a model trained --from-scratch; a fine-tuned model "
                        "keeps its base model's")
    if model_args is not None and not isinstance(model_args, dict):
        raise UserError(f"--model-args must be a JSON object of constructor arguments such as '{{\"dense\": 32}}', "
                        f"not {args.model_args!r}")
    if args.from_scratch and args.compare_scratch:
        raise UserError("--compare-scratch trains a fine-tune and a model from scratch side by side; with "
                        "--from-scratch there is nothing to compare: drop one of them")
    if args.label_map is not None and not args.label_map.strip():
        raise UserError("--label-map is empty; write it as DATA_LABEL=MODEL_LABEL pairs, e.g. 0=negative,1=positive")
    result = finetune(args.model, parse_source(args.data), args.output, **data_kwargs(args),
                      label_map=args.label_map, num_classes=args.num_classes, seq_len=args.seq_len,
                      freeze_trunk=args.freeze_trunk, from_scratch=args.from_scratch or None,
                      compare_scratch=args.compare_scratch, model_args=model_args, epochs=args.epochs, lr=args.lr,
                      batch_size=args.batch_size, patience=args.patience, seed=args.seed, device=args.device,
                      source=args.source, base_model_id=args.base_model, tag=args.tag, quiet=args.quiet,
                      allow_modified=args.allow_modified, overwrite=args.overwrite)
    if result.from_scratch:
        _say(f"trained {result.model.arch} from scratch (fresh weights); labels {', '.join(result.label_names)}; "
             f"{result.seq_len} bp")
    else:
        _say(f"fine-tuned from {result.base_model or args.model}: {len(result.transferred)} tensors transferred, "
             f"{len(result.reinitialized)} started fresh; labels {', '.join(result.label_names)}; "
             f"{result.seq_len} bp")
    for split, metrics in result.metrics.items():
        print(f"{split}: " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    if result.scratch_metrics is not None:
        split = "test" if "test" in result.scratch_metrics else "validation"
        print(f"{split} from scratch (same architecture and budget): " +
              " ".join(f"{k} {v:.4f}" for k, v in result.scratch_metrics[split].items()))
        ft, sc = result.metrics[split].get("accuracy"), result.scratch_metrics[split].get("accuracy")
        if ft is not None and sc is not None:
            print(f"{split} accuracy: fine-tuned {ft:.4f} ({result.seconds:.0f} s), from scratch {sc:.4f} "
                  f"({result.scratch_seconds:.0f} s): {ft - sc:+.4f} from the pretrained weights")
    _say(f"wrote {result.output_dir} (publish it with `genozoo push {result.output_dir} --repo ORG/NAME`)")
    return 0


# ----------------------------------------------------------------------------------------------- parser
def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="class probabilities for the sequences of a FASTA/CSV file or stdin",
                       description="Predict class probabilities for every sequence of a FASTA / FASTA.gz / CSV / "
                                   "TSV file or standard input, streaming in batches (bounded memory). Writes a "
                                   "CSV: id, prob_<label> per class, predicted, flag (empty, or why the row's "
                                   "prediction carries no or little information: no_bases, the sequence holds no "
                                   "A, C, G or T; mostly_padding, bases fill less than half of the model's "
                                   "input).")
    _model_options(p)
    p.add_argument("input", help="FASTA, FASTA.gz, CSV or TSV file, or - for standard input")
    p.add_argument("-o", "--output", default="-",
                   help="output file: .csv (comma-separated), .tsv or .txt (tab-separated), optionally followed by "
                        ".gz (gzip-compressed); other extensions are refused (default: - for CSV on standard output)")
    _input_options(p)
    p.add_argument("--batch-size", type=int_range(1, MAX_BATCH), default=256,
                   help="sequences per batch (default: %(default)s)")
    p.add_argument("--rc", "--reverse-complement", dest="reverse_complement", action="store_true",
                   help="average each sequence's probabilities with its reverse complement's (exactly "
                        "strand-symmetric)")
    _max_length_option(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_predict)

    e = sub.add_parser("explain", help="per-nucleotide attributions (logo + numbers) and filter motifs",
                       description="Explain a model's predictions: per-nucleotide attributions by integrated "
                                   "gradients, gradient x input (saliency) or in-silico mutagenesis, drawn as a "
                                   "sequence logo and written as numbers; first-layer convolution filters as "
                                   "PWMs in MEME format, optionally matched to known motifs.")
    _model_options(e)
    e.add_argument("input", help="a DNA sequence, or a FASTA/CSV/TSV file (or - for standard input)")
    e.add_argument("-o", "--output", help="sequence logo of the attributions (.png, .svg or .pdf); the numbers "
                                          "go beside it as .csv unless --numbers says otherwise")
    e.add_argument("--numbers", metavar="FILE", help="write the attributions to FILE (.csv, .tsv or .json)")
    e.add_argument("--method", choices=["ig", "integrated_gradients", "saliency", "ism"],
                   help="ig: integrated gradients (default); saliency: gradient x input; ism: in-silico "
                        "mutagenesis (works for every model, also those without gradients to the bases, such as "
                        "the BERT and doc2vec models, whose default it is)")
    e.add_argument("--target", help="class to explain, by name or index (default: each sequence's prediction)")
    e.add_argument("--steps", type=int_range(1, 10_000), default=50,
                   help="integration steps of ig (default: %(default)s)")
    e.add_argument("--max-logos", type=int_range(1, 1_000), default=10,
                   help="sequences drawn in the logo (default: %(default)s)")
    e.add_argument("--max-sequences", type=int_range(1, 1_000_000), default=1000,
                   help="refuse inputs with more sequences than this (default: %(default)s)")
    e.add_argument("--filters", metavar="FILE.meme",
                   help="also export the first convolution's filters as PWMs (MEME format), aligned from the "
                        "input windows that activate each filter most (give many sequences for this)")
    e.add_argument("--match", choices=["none", "builtin", "jaspar", "both"], default="builtin",
                   help="match the filter PWMs against genozoo's built-in motifs, JASPAR CORE vertebrates "
                        "(needs pyjaspar) or both (default: %(default)s)")
    e.add_argument("--threshold", type=float_range(0, 1, lo_open=True), default=0.5,
                   help="a window counts for a filter when its activation exceeds this fraction of the filter's "
                        "maximum (default: %(default)s)")
    _max_length_option(e)
    _input_options(e)
    e.set_defaults(func=cmd_explain)

    f = sub.add_parser("finetune", help="fine-tune a baseline on your labelled sequences",
                       description="Fine-tune a model on your data: the classifier is replaced when the labels "
                                   "differ, length-dependent layers are rebuilt for a new sequence length (every "
                                   "weight whose shape still fits is kept), a validation split is held out, and "
                                   "a Hub-ready folder (weights, config.json, card naming the base model, data "
                                   "and metrics) is written.")
    _model_options(f, MODEL_HELP + "; with --from-scratch also a bare architecture name")
    f.add_argument("-o", "--output", required=True,
                   help="folder to write the fine-tuned model into (one that already holds a model is refused)")
    f.add_argument("--overwrite", action="store_true", help="replace the model already in --output")
    add_data_options(f, extra_help=", a folder saved with DatasetDict.save_to_disk, or a benchmark name (see "
                                   "`genozoo data list`)")
    f.add_argument("--label-map", metavar="DATA=MODEL,...",
                   help="rename the data's classes, e.g. 0=negative,1=positive; when they then are the base model's "
                        "classes its classifier is kept (same task)")
    f.add_argument("--from-scratch", action="store_true",
                   help="the same architecture with fresh weights, same data and budget (MODEL may then be a bare "
                        "architecture name): the honest comparison")
    f.add_argument("--compare-scratch", action="store_true",
                   help="also train the architecture from scratch with the same budget and print both test results")
    f.add_argument("--model-args", metavar="JSON",
                   help="constructor arguments of the architecture, with --from-scratch (e.g. '{\"dense\": 32}')")
    f.add_argument("--num-classes", type=int_range(2, 100_000),
                   help="expected number of classes (checked against the data)")
    f.add_argument("--seq-len", type=int_range(1, MAX_SEQ_LEN),
                   help="sequence length of the new model (default: the data's when all sequences share one, else "
                        "the base model's)")
    f.add_argument("--freeze-trunk", action="store_true",
                   help="train only the new classifier (and layers that had to start fresh)")
    f.add_argument("--epochs", type=int_range(1, 100_000), default=10, help="training epochs (default: %(default)s)")
    f.add_argument("--lr", type=float_range(0, 10, lo_open=True), default=1e-3,
                   help="Adam learning rate (default: %(default)s)")
    f.add_argument("--batch-size", type=int_range(1, MAX_BATCH), default=32, help="batch size (default: %(default)s)")
    f.add_argument("--patience", type=int_range(1, 100_000),
                   help="stop after this many epochs without a better validation loss")
    f.add_argument("--seed", type=int_range(0, SEED_MAX), default=0, help="random seed (default: %(default)s)")
    f.add_argument("--device", default="auto", type=device,
                   help="auto (CUDA when present), cpu, cuda, cuda:N, or mps where torch has it; one that is not "
                        "present is refused (default: auto)")
    add_threads_option(f)
    f.add_argument("--source", help="local copy of a benchmark's files (with a benchmark name)")
    f.add_argument("--base-model", metavar="ORG/NAME",
                   help="Hub repo id to record as base_model (default: from the base model's record or folder)")
    f.add_argument("--tag", type=name_part,
                   help="tag of the new weight, named ARCH.TAG (default: the output folder's name)")
    f.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    f.set_defaults(func=cmd_finetune)
