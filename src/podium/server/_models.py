"""Request bodies of the HTTP API, validated at the edge.

Only shape is checked here (types, unknown fields, positive timeouts); names,
models and prompts are checked by the runtime so every front gives the same
messages.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AskBody", "BroadcastBody", "ForkBody", "RelayBody", "RunBody", "SpawnBody"]


class _Body(BaseModel):
    # A misspelt field is an error, not a silently ignored option.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SpawnBody(_Body):
    name: str
    model: str | None = None
    system_prompt: str | None = None
    cwd: str | None = None
    backend: str = "claude-code"
    options: dict[str, Any] = Field(default_factory=dict)


class ForkBody(_Body):
    new: str
    model: str | None = None


class _Submit(_Body):
    timeout: float | None = Field(default=None, gt=0, description="turn limit in seconds")
    wait: bool = Field(default=False, description="answer with the finished request")
    wait_timeout: float | None = Field(
        default=None, ge=0, description="with wait: give up waiting (not the request) after this"
    )


class AskBody(_Submit):
    prompt: str


class RelayBody(_Submit):
    source: str = Field(alias="from")
    to: str
    prompt: str


class BroadcastBody(_Body):
    prompt: str
    exclude: list[str] = Field(default_factory=list)
    timeout: float | None = Field(default=None, gt=0)


class RunBody(_Body):
    # Budget and plan are checked by the run engine, like prompts by the runtime.
    request: str
    team: str = Field(description="team file (podium.toml) or its directory, absolute")
    cwd: str | None = None
    plan: dict[str, Any] | list[Any] | None = Field(
        default=None, description="a plan to run instead of asking the orchestrator"
    )
    plan_file: str | None = None
    budget_usd: float | None = None
