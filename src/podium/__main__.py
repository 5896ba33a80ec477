"""``python -m podium``: the same as the ``podium`` console script (``up`` runs the daemon so)."""

from podium.cli import run

run()
