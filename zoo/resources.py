"""Where the parts of genozoo that are not Python live: the bundled hub of published weights (``hub/``), the card
templates (``cards/``), the Gradio space (``space/``) and the training recipes (``train/recipes/``).

In a checkout (and an editable install) they are the repository's own folders. A built wheel carries them inside
the package, as ``zoo/_bundle/<name>/`` (``setup.py`` copies them there at build time), so an installed genozoo
finds its published weights, templates and space with no checkout and no network. This module is the one place
that knows both layouts; everything else asks :func:`resource_dir`.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["BUNDLE_DIR", "CHECKOUT_DIR", "RESOURCES", "resource_dir"]

#: Inside an installed wheel: ``site-packages/zoo/_bundle``.
BUNDLE_DIR = Path(__file__).resolve().parent / "_bundle"
#: The repository root when genozoo runs from a checkout.
CHECKOUT_DIR = Path(__file__).resolve().parents[1]
#: The folders a wheel carries, as paths relative to the repository root (and to ``zoo/_bundle``).
RESOURCES = ("hub", "cards", "space", "train/recipes")


def resource_dir(name: str) -> Path:
    """The folder ``name`` (one of :data:`RESOURCES`): the copy packaged in the wheel when there is one, else the
    checkout's. The path may not exist (a checkout without ``hub/``); callers say what is missing."""
    if name not in RESOURCES:
        raise ValueError(f"unknown resource {name!r}; one of {', '.join(RESOURCES)}")
    packaged = BUNDLE_DIR / name
    return packaged if packaged.is_dir() else CHECKOUT_DIR / name
