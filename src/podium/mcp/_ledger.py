"""Who was spawned, and which runs were started, in one MCP scope: an append-only file.

The daemon forgets a killed agent (it is no longer listed) but not its cost,
and a nested run started by ``run_plan`` is a run of its own. This ledger in
``$PODIUM_HOME/mcp/<scope>.jsonl`` remembers both, so a scope's budget counts
everything it ever started, whichever ``podium mcp`` process started it.
Each entry is one short line written with a single ``O_APPEND`` write, so
processes appending at once never interleave.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .._errors import PodiumError
from .._names import check_name

__all__ = ["ScopeLedger", "ledger_path"]


def ledger_path(home: Path, scope: str) -> Path:
    return Path(home) / "mcp" / f"{check_name(scope, what='MCP scope')}.jsonl"


class ScopeLedger:
    def __init__(self, home: Path, scope: str) -> None:
        self.path = ledger_path(home, scope)

    def add_agent(self, name: str) -> None:
        self._append({"agent": name})

    def add_run(self, run_id: str) -> None:
        self._append({"run": run_id})

    def agents(self) -> list[str]:
        return self._values("agent")

    def runs(self) -> list[str]:
        return self._values("run")

    def _append(self, entry: dict[str, str]) -> None:
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise PodiumError(
                f"cannot record in {self.path}: {exc.strerror or exc}", path=str(self.path)
            ) from None

    def _values(self, key: str) -> list[str]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise PodiumError(f"cannot read {self.path}: {exc}", path=str(self.path)) from None
        found: list[str] = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn last line after a crash: everything before it counts
            value = entry.get(key) if isinstance(entry, dict) else None
            if isinstance(value, str) and value not in found:
                found.append(value)
        return found
