"""``python -m zoo`` runs the ``genozoo`` command line."""
from zoo.cli import main

raise SystemExit(main())
