"""Storage behind one protocol: SQLite is the embedded default."""

from ._protocol import Store
from ._sqlite import SQLiteStore

__all__ = ["SQLiteStore", "Store"]
