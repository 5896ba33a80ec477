"""A frozen record without :mod:`dataclasses`, for the modules every command imports.

``dataclasses`` imports ``inspect`` (with ``ast``, ``dis`` and ``tokenize``), which
costs a ``podium ask`` more than its round trip to a warm agent. A subclass lists
its fields in ``__slots__`` and sets them in its own keyword-only ``__init__``
with :meth:`Frozen._set`; it then compares, hashes, prints, copies and refuses
assignment as a ``@dataclass(frozen=True)`` of the same fields would.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Frozen"]


class Frozen:
    """Equality, hash, repr and immutability over the fields named in ``__slots__``."""

    __slots__: tuple[str, ...] = ()

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def _asdict(self) -> dict[str, Any]:
        """The fields as a dict, in their order (as ``dataclasses.asdict``, not recursive)."""
        return {name: getattr(self, name) for name in self.__slots__}

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Frozen) and other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self) -> tuple[Any, ...]:
        # copy and pickle rebuild through __init__: the default sets slots by assignment.
        return _rebuild, (type(self), self._asdict())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


def _rebuild(cls: type[Frozen], fields: dict[str, Any]) -> Frozen:
    return cls(**fields)
