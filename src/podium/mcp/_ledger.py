"""Who was spawned, which runs were started and what each call may spend, in one MCP scope.

The daemon forgets a killed agent (it is no longer listed) but not its cost,
and a nested run started by ``run_plan`` is a run of its own. This ledger in
``$PODIUM_HOME/mcp/<scope>.jsonl`` remembers both, so a scope's budget counts
everything it ever started, whichever ``podium mcp`` process started it. It
also keeps each request's per-call cap, which the daemon knows nothing of, so
every server process of the scope judges an overrun the same way.
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

    def add_cap(self, request_id: str, cap_usd: float) -> None:
        self._append({"request": request_id, "cap_usd": round(cap_usd, 6)})

    def agents(self) -> list[str]:
        return self._values("agent")

    def runs(self) -> list[str]:
        return self._values("run")

    def caps(self) -> dict[str, float]:
        """Request id -> the most that request may spend (USD)."""
        found: dict[str, float] = {}
        for entry in self._entries():
            request_id, cap = entry.get("request"), entry.get("cap_usd")
            if isinstance(request_id, str) and isinstance(cap, int | float):
                found.setdefault(request_id, float(cap))
        return found

    def _append(self, entry: dict[str, str | float]) -> None:
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
        found: list[str] = []
        for entry in self._entries():
            value = entry.get(key)
            if isinstance(value, str) and value not in found:
                found.append(value)
        return found

    def _entries(self) -> list[dict[str, object]]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise PodiumError(f"cannot read {self.path}: {exc}", path=str(self.path)) from None
        entries: list[dict[str, object]] = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn last line after a crash: everything before it counts
            if isinstance(entry, dict):
                entries.append(entry)
        return entries
