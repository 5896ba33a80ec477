"""Naming what went wrong when an actor hits an error nobody planned for."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

__all__ = ["describe_failure", "is_disk_full"]

# SQLite says this (SQLITE_FULL) where the OS would say ENOSPC.
_SQLITE_FULL = "database or disk is full"


def is_disk_full(exc: BaseException) -> bool:
    """True if ``exc`` (or what caused it) means the disk or the quota is full."""
    seen: set[int] = set()
    cursor: BaseException | None = exc
    while cursor is not None and id(cursor) not in seen:
        seen.add(id(cursor))
        if isinstance(cursor, OSError) and cursor.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(cursor, sqlite3.OperationalError) and _SQLITE_FULL in str(cursor):
            return True
        cursor = cursor.__cause__ or cursor.__context__
    return False


def describe_failure(exc: BaseException, home: Path) -> str:
    """One line for a request's error: the cause, and for a full disk, where."""
    detail = f"{type(exc).__name__}: {exc}"
    if is_disk_full(exc):
        return (
            f"no space left on device: podium could not write its state under "
            f"PODIUM_HOME ({home}); free space there and ask again ({detail})"
        )
    return detail
