"""``python -m zoo`` runs the ``genozoo`` command line."""
from zoo.cli import run

raise SystemExit(run())
