"""Rules and records shared between the server thread and the test thread.

The HTTP server runs on its own thread and event loop while tests add rules
and read records from theirs, so every access goes through one lock.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from typing import Any

from podium.testing._record import RecordedRequest
from podium.testing._rules import MatchView, Rule

__all__ = ["State"]


class State:
    def __init__(self, rules: Iterable[Rule], default_text: str) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._rules: list[Rule] = list(rules)
        self._fired: list[int] = [0] * len(self._rules)
        self._records: list[RecordedRequest] = []
        self._next_seq = 1
        self.default_text = default_text

    # ------------------------------------------------------------ rules

    def add_rule(self, rule: Rule) -> Rule:
        with self._cond:
            self._rules.append(rule)
            self._fired.append(0)
        return rule

    def clear_rules(self) -> None:
        with self._cond:
            self._rules.clear()
            self._fired.clear()

    @property
    def rules(self) -> list[Rule]:
        with self._cond:
            return list(self._rules)

    def choose(self, view: MatchView) -> tuple[int | None, Rule | None]:
        """First matching rule with firings left; counting it here keeps ``times`` exact."""
        with self._cond:
            for index, rule in enumerate(self._rules):
                if rule.times is not None and self._fired[index] >= rule.times:
                    continue
                if rule.matches(view):
                    self._fired[index] += 1
                    return index, rule
        return None, None

    # ------------------------------------------------------------ records

    def open_record(self, **fields: Any) -> int:
        with self._cond:
            seq = self._next_seq
            self._next_seq += 1
            self._records.append(RecordedRequest(seq=seq, **fields))
            self._cond.notify_all()
            return seq

    def update_record(self, seq: int, **changes: Any) -> None:
        with self._cond:
            for i in range(len(self._records) - 1, -1, -1):
                if self._records[i].seq == seq:
                    self._records[i] = dataclasses.replace(self._records[i], **changes)
                    break
            self._cond.notify_all()

    def records(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self._records)

    def reset_records(self) -> None:
        with self._cond:
            self._records.clear()
            self._cond.notify_all()

    def wait(
        self, predicate: Callable[[list[RecordedRequest]], bool], timeout: float
    ) -> list[RecordedRequest] | None:
        """Block until ``predicate(records)`` holds; None on timeout."""
        with self._cond:
            if self._cond.wait_for(lambda: predicate(self._records), timeout):
                return list(self._records)
            return None
