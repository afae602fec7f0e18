"""The ``genozoo`` command line: it only parses and dispatches; the work lives in the library.

Each command group is a module here with a ``register(subparsers)`` function that adds its subcommands and sets
``func`` (called with the parsed namespace, returns an exit status). Failures follow :mod:`zoo.errors`: a user's
mistake (:class:`zoo.errors.UserError`, a bad option) prints one sentence and exits with status 2, an environment
failure (permissions, disk, device, memory) one sentence and status 1; ``--debug`` shows the traceback instead.
SIGTERM is turned into an exception in the main thread so that temporary files are removed on the way out.
Every command that computes takes ``--threads N`` (:func:`add_threads_option`); :func:`main` applies it (or
``$GENOZOO_THREADS``, or a default that does not oversubscribe, see :mod:`zoo.runtime`) before the command runs.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import warnings

GROUPS = ("models", "data", "train", "hub", "publish", "use", "bakeoff", "space")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``genozoo COMMAND: error: ...; see --help`` and status 2 (no usage dump)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def add_threads_option(p: argparse.ArgumentParser) -> None:
    """``--threads N`` for a command that computes; :func:`main` applies it through
    :func:`zoo.runtime.configure_threads`. A command serving several requests at once sets ``concurrency`` on
    its namespace, and each request then gets a share of the default."""
    from zoo.cli.options import int_range

    p.add_argument("--threads", type=int_range(0, 4096), metavar="N",
                   help="CPU threads for the computation (default: $GENOZOO_THREADS, else the CPUs not kept busy "
                        "by other processes, shared among concurrent workers; 0 = that default)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="genozoo",
        description="Pretrained neural-network baselines for genomic DNA sequence classification: list and inspect "
                    "models, load benchmarks, predict, fine-tune, explain, compare baselines on your data (bakeoff), "
                    "try them in the browser (space), train and publish.",
        epilog="Run `genozoo COMMAND --help` for the options of a command.",
    )
    from zoo import __version__

    parser.add_argument("--version", action="version", version=f"genozoo {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of any error (also: GENOZOO_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        try:
            module = importlib.import_module(f"zoo.cli.{group}")
        except ModuleNotFoundError as e:
            if e.name == f"zoo.cli.{group}":
                continue  # command group not written yet
            raise
        module.register(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"genozoo: warning: {' '.join(str(message).split())}", file=file or sys.stderr)


def _terminate(signum, frame) -> None:
    from zoo.errors import Terminated

    raise Terminated()


def run(argv: list[str] | None = None) -> int:
    """The program's entry point (the ``genozoo`` script, ``python -m zoo``): :func:`main`, then an exit without the
    interpreter's last garbage collections over torch's objects, which cost 0.3-0.4 s after every command that
    loaded torch. The command has finished and closed its outputs and the process ends next; atexit handlers,
    stream flushing and thread joins still run. Code calling :func:`main` in-process is left alone."""
    status = main(argv)
    if "torch" in sys.modules:
        import gc

        gc.freeze()  # everything now alive is left to the process's end instead of being traversed first
    return status


def _joined_overrides(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--epochs 5`` as ``--epochs=5`` where ``--epochs`` is a recipe key and not an option of the command (the
    form every other option takes; argparse would otherwise read the 5 as the command's recipe file)."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    if not argv or argv[0] not in commands or not commands[argv[0]].get_default("accepts_overrides"):
        return argv
    from zoo.recipes import is_recipe_key

    own = commands[argv[0]]._option_string_actions
    out: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token.startswith("--") and "=" not in token and token not in own and is_recipe_key(token[2:]):
            value = next(tokens, None)
            if value is None or value.startswith("--"):
                out += [token] + ([value] if value is not None else [])  # refused as "--key=value" later
                continue
            token = f"{token}={value}"
        out.append(token)
    return out


def main(argv: list[str] | None = None) -> int:
    from zoo.errors import Terminated, classify

    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    parser = build_parser()
    argv = _joined_overrides(parser, list(sys.argv[1:] if argv is None else argv))
    # Commands that take free ``--key=value`` overrides (e.g. ``genozoo train``) set ``accepts_overrides``.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not getattr(args, "accepts_overrides", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = extra
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from zoo.cli.options import refuse_empty_outputs

    if (problem := refuse_empty_outputs(args)) is not None:  # `-o ''` would write into the current folder
        print(f"genozoo {args.command}: error: {problem}", file=sys.stderr)
        return 2
    if getattr(args, "label_names", None):  # every command reading labelled data: a class named twice, refused now
        from zoo.data.user import check_label_names
        from zoo.errors import UserError

        try:
            check_label_names([n.strip() for n in args.label_names.split(",") if n.strip()])
        except UserError as e:
            print(f"genozoo {args.command}: error: {e}", file=sys.stderr)
            return 2
    debug = args.debug or os.environ.get("GENOZOO_DEBUG", "") not in ("", "0")
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (main() called from a worker): leave signals alone
        pass
    shown = warnings.showwarning
    try:
        if not debug:  # a library warning is one line too, not a file name, line number and source line
            warnings.showwarning = _one_line_warning
        if hasattr(args, "threads"):  # the commands that compute; importing torch is for them only
            from zoo.runtime import configure_threads

            configure_threads(args.threads, workers=getattr(args, "concurrency", 1) or 1)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("genozoo: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("genozoo: terminated", file=sys.stderr)
        return 143
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:
        verdict = classify(e)
        if verdict is None or debug:
            raise  # a genuine bug (or --debug): the traceback is what a report needs
        message, status = verdict
        print(f"genozoo: error: {' '.join(message.split())}", file=sys.stderr)
        return status
    finally:
        warnings.showwarning = shown
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
