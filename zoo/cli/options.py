"""Option types of the command line: every numeric or named option is range-checked while parsing.

Each factory returns an ``argparse`` ``type=`` function; a bad value becomes argparse's one-line error naming the
option (``genozoo predict: error: argument --batch-size: must be an integer from 1 to 1,000,000, not '0'``) and
exit status 2, before any model or file is touched. Commands of every group use these, so new options get the
same checks by writing ``type=int_range(1, 10_000)`` and the like.
"""
from __future__ import annotations

import argparse
import math
import re
from typing import Callable

__all__ = ["int_range", "float_range", "device", "name_part", "choice_list", "refuse_empty_outputs", "SEED_MAX",
           "OUTPUT_DESTS"]

#: numpy's and torch's seeds are unsigned 32-bit; a larger or negative seed fails deep inside them.
SEED_MAX = 2**32 - 1


def _fmt(v: float) -> str:
    return f"{v:,}" if isinstance(v, int) else f"{v:g}"


def int_range(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An integer in ``[lo, hi]`` (``hi=None``: no upper bound)."""
    what = f"an integer from {_fmt(lo)} to {_fmt(hi)}" if hi is not None else f"an integer of at least {_fmt(lo)}"

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def float_range(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Callable[[str], float]:
    """A finite number in the interval from ``lo`` to ``hi`` (open at an end when ``*_open``)."""
    what = (f"a number {'above' if lo_open else 'from'} {_fmt(lo)} and {'below' if hi_open else 'up to'} "
            f"{_fmt(hi)}")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from None
        if not math.isfinite(value) or value < lo or value > hi or (lo_open and value == lo) or \
                (hi_open and value == hi):
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}")
        return value

    parse.__name__ = "number"
    return parse


_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,3})?)$")


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` (or ``mps`` where torch has it): refused while parsing when it is not
    one of these or is not present on this machine (:func:`zoo.runtime.check_device`), before any work."""
    if not _DEVICE_RE.match(text):
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, not {text!r}")
    if text != "auto" and text != "cpu":
        from zoo.errors import UserError
        from zoo.runtime import check_device

        try:
            check_device(text)
        except UserError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return text


#: The destinations (``args.<dest>``) of the options that name an output file or folder, in every command.
OUTPUT_DESTS = ("output", "out", "report", "numbers", "filters", "card", "hub")


def refuse_empty_outputs(args: argparse.Namespace) -> str | None:
    """The error of a command whose output option is an empty string (``-o "$OUT"`` with ``OUT`` unset), which
    would otherwise write into the current folder: one sentence naming the option, or None when all are fine."""
    for dest in OUTPUT_DESTS:
        if getattr(args, dest, None) == "":
            flag = {"output": "-o/--output"}.get(dest, "--" + dest)
            return f"argument {flag}: the output path is empty (an unset shell variable?); give a file or folder name"
    return None


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def name_part(text: str) -> str:
    """A name that becomes part of a file or repo name (a tag): letters, digits, ``_ . -``; no path, no ``..``."""
    if not _NAME_RE.match(text) or ".." in text:
        raise argparse.ArgumentTypeError(f"must be letters, digits, '_', '.' or '-' (at most 96, no '..'), "
                                         f"not {text!r}")
    return text


def choice_list(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """A comma-separated list of names, each one of ``choices``."""
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in choices]
        if not items or bad:
            raise argparse.ArgumentTypeError(f"must be a comma-separated list of {', '.join(choices)}, "
                                             f"not {text!r}")
        return items

    return parse
