"""Entry point for ``python -m podium.testing``."""

from podium.testing._cli import main

raise SystemExit(main())
