"""``shared``: the agent works in the project directory as it is.

No copy, no launcher, nothing to commit or tear down. Whatever the agent may
change is up to its tools (analysis workers get read-only tools in their profiles).
"""

from __future__ import annotations

from pathlib import Path

from ._protocol import IsolationMode, IsolationSpec, Workspace, register_isolator

__all__ = ["SharedIsolator"]


class SharedIsolator:
    """The project directory as is."""

    mode = IsolationMode.SHARED

    async def prepare(
        self,
        *,
        agent: str,
        project: Path,
        state_dir: Path,
        results_dir: Path,
        spec: IsolationSpec,
        api_base_url: str | None,
        config_dir: Path | None = None,
    ) -> Workspace:
        return Workspace(mode=self.mode, cwd=project, project=project, results_dir=results_dir)

    async def finish_task(self, ws: Workspace, *, message: str) -> str | None:
        return None

    async def release(self, ws: Workspace, *, force: bool = False) -> None:
        return None


ISOLATOR = SharedIsolator()
register_isolator(ISOLATOR)
