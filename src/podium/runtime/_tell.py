"""``tell``: a message for an agent's running turn, or an ordinary request when it has none.

A Claude Code turn takes the message in its next API call (after the tool that
is running, if any) and still ends with one result; the request records it under
``meta["steering"]`` and a ``told`` event names it. A backend that cannot take a
message mid-turn (the API backends) gets an ordinary request queued behind the
running one, and the result says so (``mode: asked`` with a ``reason``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .._names import check_prompt
from .._records import EventKind
from .._tell import TellMode, TellResult
from ..backends import SteerableSession

if TYPE_CHECKING:
    from ._actor import AgentActor
    from ._host import Runtime

__all__ = ["tell"]


async def tell(runtime: Runtime, actor: AgentActor | None, name: str, text: str) -> TellResult:
    """Steer ``text`` into ``name``'s running request, else ask it. ``actor`` is the
    runtime's live actor for the agent (None when it has none)."""
    check_prompt(text)
    agent = await runtime.store.get_agent(name)
    reason: str | None = None
    if actor is not None and actor.current is not None:
        session = actor.session
        running = actor.current
        if isinstance(session, SteerableSession):
            # Listed before the write: the turn may end while it is under way.
            entry = {"text": text, "at": time.time()}
            actor.steering.append(entry)
            if await session.steer(text):
                await runtime.emit(
                    EventKind.TOLD,
                    agent=agent.name,
                    request_id=running,
                    data={"text": text, "chars": len(text)},
                )
                return TellResult(mode=TellMode.STEERED, request=await runtime.poll(running))
            # The turn ended in the meantime: the message is a request of its own.
            if entry in actor.steering:
                actor.steering.remove(entry)
        else:
            reason = (
                f"the {agent.backend} backend cannot take a message mid-turn: "
                f"queued after {running}"
            )
    request = await runtime.ask(agent.name, text)
    return TellResult(mode=TellMode.ASKED, request=request, reason=reason)
