"""The package version: the one place it is written (the build reads it from here).

A literal, not ``importlib.metadata``: every ``podium`` command sends it as its
User-Agent, and reading the installed metadata costs more than a warm turn's
round trip to the daemon.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
