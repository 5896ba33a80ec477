"""FakeAnthropic: the scriptable fake Anthropic API (Messages, token counting, Batches)."""

from __future__ import annotations

from collections.abc import Iterable

from podium.testing._app import FakeApp, Responder
from podium.testing._asgi import BaseApp
from podium.testing._batches import BatchRecord, BatchStore
from podium.testing._cache import PromptCache
from podium.testing._fake_server import FakeServer
from podium.testing._rules import Rule

__all__ = ["FakeAnthropic"]


class FakeAnthropic(FakeServer):
    """A fake Anthropic Messages API answering from ordered :class:`Rule` s.

    Unmatched requests get ``default_text``. Use as a context manager or call
    :meth:`start` / :meth:`stop`; point an SDK or the CLI at :attr:`base_url`.

    ``auto_cache``: when a rule sets no usage, report prompt-cache fields the
    way the real API would from the request's ``cache_control`` breakpoints
    (see ``podium.testing._cache``). Off by default because the Claude Code CLI
    marks its prompts for caching, and tests written before it count on
    ``input_tokens`` being the whole prompt.

    ``batch_delay``: seconds a Message Batch stays ``in_progress`` (0: it has
    ended by the first look after creation; None: until :meth:`end_batches`).
    """

    def __init__(
        self,
        rules: Iterable[Rule] | None = None,
        default_text: str = "OK",
        *,
        auto_cache: bool = False,
        batch_delay: float | None = 0.0,
    ) -> None:
        super().__init__(rules, default_text)
        self._cache = PromptCache()
        self._responder = Responder(self._state, self._cache if auto_cache else None)
        self._batches = BatchStore(batch_delay)

    def _make_app(self) -> BaseApp:
        return FakeApp(self._state, self._responder, self._batches)

    # ------------------------------------------------------------ prompt cache

    @property
    def auto_cache(self) -> bool:
        return self._responder.cache is not None

    @auto_cache.setter
    def auto_cache(self, value: bool) -> None:
        self._responder.cache = self._cache if value else None

    def clear_cache(self) -> None:
        """Forget every cached prompt prefix, as if the real cache had expired."""
        self._cache.clear()

    # ------------------------------------------------------------ batches

    @property
    def batch_delay(self) -> float | None:
        """Processing time of batches created from now on (see the class docstring)."""
        return self._batches.delay

    @batch_delay.setter
    def batch_delay(self, value: float | None) -> None:
        self._batches.delay = value

    def batches(self) -> list[BatchRecord]:
        """Every batch not deleted, oldest first, as it stands (nothing is processed here)."""
        return self._batches.all()

    def end_batches(self) -> list[BatchRecord]:
        """Process and end every unfinished batch now; returns all batches."""
        self._batches.advance(self._responder.answer_params, force=True)
        return self._batches.all()

    def expire_batches(self) -> list[BatchRecord]:
        """End every unfinished batch with its requests ``expired``; returns all batches."""
        self._batches.expire()
        return self._batches.all()
