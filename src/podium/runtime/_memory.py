"""What the machine has: total and available memory, from /proc/meminfo (Linux)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["MB", "default_max_warm", "mem_available", "mem_total"]

MB = 1024 * 1024
# An idle Claude Code CLI measured 190-280 MB RSS; 400 MB a process leaves room for
# the turn's own growth and for everything else on the machine.
_PER_PROCESS = 400 * MB
_MIN_DEFAULT, _MAX_DEFAULT = 2, 512
_FALLBACK_DEFAULT = 16  # where memory cannot be read

_MEMINFO = Path("/proc/meminfo")


def _meminfo(field: str) -> int | None:
    """One field of /proc/meminfo in bytes, or None where there is none."""
    try:
        text = _MEMINFO.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name == field:
            parts = rest.split()
            try:
                return int(parts[0]) * 1024  # always kB
            except (IndexError, ValueError):
                return None
    return None


def mem_total() -> int | None:
    return _meminfo("MemTotal")


def mem_available() -> int | None:
    """MemAvailable: what can be allocated without swapping, as the kernel estimates it."""
    return _meminfo("MemAvailable")


def default_max_warm() -> int:
    """``max_warm`` when none is set: total memory / 400 MB, clamped to 2..512."""
    total = mem_total()
    if total is None:
        return _FALLBACK_DEFAULT
    return max(_MIN_DEFAULT, min(_MAX_DEFAULT, total // _PER_PROCESS))
