"""``python -m rassim`` runs the command-line interface."""

from rassim.cli import main

raise SystemExit(main())
