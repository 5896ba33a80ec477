"""The price table: per-model token prices from one TOML file, merged with a user's own.

A model the table cannot price costs ``None``, never 0: an unknown cost must not
pass for a free one.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from .._errors import PriceTableError
from .._home import default_home
from .._records import Usage

__all__ = [
    "BUILTIN_SOURCE",
    "PRICES_ENV",
    "PRICES_FILE",
    "ModelPrice",
    "PriceTable",
    "default_price_table",
    "load_price_table",
]

BUILTIN_SOURCE = "built-in"
PRICES_FILE = "prices.toml"
PRICES_ENV = "PODIUM_PRICES"

_RATE_KEYS = ("input", "output", "cache_write", "cache_read")
_MODEL_KEYS = (*_RATE_KEYS, "batch_discount")
_TOP_KEYS = ("aliases", "models")
_DEFAULT_BATCH_DISCOUNT = 0.5
# Only a snapshot date is stripped (Anthropic's -YYYYMMDD, OpenAI's -YYYY-MM-DD, which is
# what its API reports back); anything looser would start guessing prices.
_DATED = re.compile(r"(?P<base>.+)-(?:\d{8}|\d{4}-\d{2}-\d{2})")


def _fail(message: str, **context: Any) -> NoReturn:
    raise PriceTableError(message, **context)


def _wanted(key: str, value: object) -> str | None:
    """What ``value`` should have been for ``key``, or None if it is fine."""
    want = "a number >= 0 and < 1" if key == "batch_discount" else "a number >= 0"
    # bool is an int, and TOML has inf/nan: neither is a price.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return want
    if value < 0 or (key == "batch_discount" and value >= 1):
        return want
    return None


@dataclass(frozen=True, kw_only=True)
class ModelPrice:
    """One model's prices in USD per million tokens; ``batch_discount`` is the
    fraction taken off under a Batch API."""

    model: str
    input: float
    output: float
    cache_write: float
    cache_read: float
    batch_discount: float = _DEFAULT_BATCH_DISCOUNT

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            _fail(f"ModelPrice.model must be a non-empty string, got {self.model!r}", key="model")
        for key in _MODEL_KEYS:
            value = getattr(self, key)
            want = _wanted(key, value)
            if want is not None:
                _fail(
                    f"price of {self.model!r}: {key} must be {want}, got {value!r}",
                    model=self.model,
                    key=key,
                )
            object.__setattr__(self, key, float(value))

    def cost(self, usage: Usage, *, batch: bool = False) -> float:
        """USD for ``usage``. ``usage.input_tokens`` are the uncached input tokens."""
        total = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_creation_input_tokens * self.cache_write
            + usage.cache_read_input_tokens * self.cache_read
        ) / 1_000_000
        return total * (1 - self.batch_discount) if batch else total


def _check_table(prices: Mapping[str, ModelPrice], aliases: Mapping[str, str], source: str) -> None:
    """Ids are unique ignoring case, aliases are not ids and point at a priced model."""
    seen: dict[str, str] = {}
    for model, price in prices.items():
        if not isinstance(model, str) or not model.strip():
            _fail(f"{source}: model id {model!r} must be a non-empty string", source=source)
        if not isinstance(price, ModelPrice):
            _fail(
                f"{source}: models.{model!r} must be a ModelPrice, got {price!r}",
                source=source,
                model=model,
            )
        if price.model != model:
            _fail(
                f"{source}: models.{model!r} holds the price of {price.model!r}",
                source=source,
                model=model,
                key="model",
            )
        other = seen.setdefault(model.lower(), model)
        if other != model:
            _fail(
                f"{source}: models.{other!r} and models.{model!r} name the same model "
                "(ids ignore case)",
                source=source,
                model=model,
            )
    seen_aliases: dict[str, str] = {}
    for alias, target in aliases.items():
        if not isinstance(alias, str) or not alias.strip():
            _fail(f"{source}: alias {alias!r} must be a non-empty string", source=source)
        if not isinstance(target, str) or not target.strip():
            _fail(
                f"{source}: aliases.{alias!r} must be a model id, got {target!r}",
                source=source,
                key=f"aliases.{alias}",
            )
        if alias.lower() in seen:
            _fail(
                f"{source}: aliases.{alias!r} is also a model id; an alias must not hide a model",
                source=source,
                model=seen[alias.lower()],
                key=f"aliases.{alias}",
            )
        if target.lower() not in seen:
            _fail(
                f"{source}: aliases.{alias!r} points to unknown model {target!r}",
                source=source,
                model=target,
                key=f"aliases.{alias}",
            )
        other = seen_aliases.setdefault(alias.lower(), alias)
        if other != alias:
            _fail(
                f"{source}: aliases.{other!r} and aliases.{alias!r} are the same alias "
                "(aliases ignore case)",
                source=source,
                key=f"aliases.{alias}",
            )


def _candidates(model: str) -> Iterator[str]:
    """The names ``model`` may be priced under, most specific first (lower case)."""
    forms = [model.lower()]
    tail = forms[0].rpartition("/")[2]  # provider/model as OpenAI-compatible servers name it
    if tail != forms[0]:
        forms.append(tail)
    for form in list(forms):
        bare = form.partition(":")[0]  # model:tag as Ollama names it
        if bare != form:
            forms.append(bare)
    yield from (form for form in forms if form)


class PriceTable:
    """Model prices and aliases, immutable once built. ``source`` says where they came from."""

    __slots__ = ("_alias_index", "_aliases", "_index", "_prices", "_source")

    _prices: dict[str, ModelPrice]
    _aliases: dict[str, str]
    _index: dict[str, ModelPrice]
    _alias_index: dict[str, str]
    _source: str

    def __init__(
        self,
        prices: Mapping[str, ModelPrice],
        aliases: Mapping[str, str] | None = None,
        source: str = BUILTIN_SOURCE,
    ) -> None:
        own_prices = dict(prices)
        own_aliases = dict(aliases or {})
        _check_table(own_prices, own_aliases, source)
        index = {model.lower(): price for model, price in own_prices.items()}
        # An alias is kept pointing at the id as the table spells it.
        canonical = {alias: index[target.lower()].model for alias, target in own_aliases.items()}
        object.__setattr__(self, "_prices", own_prices)
        object.__setattr__(self, "_aliases", canonical)
        object.__setattr__(self, "_index", index)
        object.__setattr__(
            self, "_alias_index", {alias.lower(): target for alias, target in canonical.items()}
        )
        object.__setattr__(self, "_source", source)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"PriceTable is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"PriceTable is immutable; cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"PriceTable(source={self._source!r}, models={len(self._prices)})"

    @property
    def source(self) -> str:
        return self._source

    @property
    def aliases(self) -> Mapping[str, str]:
        """Alias → model id, read-only."""
        return MappingProxyType(self._aliases)

    def models(self) -> list[str]:
        """The priced model ids, sorted."""
        return sorted(self._prices)

    def resolve(self, model: str) -> str:
        """The model id an alias stands for; anything else unchanged."""
        return self._alias_index.get(model.lower(), model)

    def lookup(self, model: str | None) -> ModelPrice | None:
        """The price of ``model``: an id or alias (any case), a dated id
        (``claude-sonnet-4-5-20250929``, ``gpt-4o-2024-08-06``), ``provider/model``
        or ``model:tag``.
        None when the table has no price for it."""
        if model is None:
            return None
        for name in _candidates(model):
            name = self._alias_index.get(name, name).lower()
            price = self._index.get(name)
            if price is None and (dated := _DATED.fullmatch(name)):
                price = self._index.get(dated.group("base"))
            if price is not None:
                return price
        return None

    def cost(self, model: str | None, usage: Usage, *, batch: bool = False) -> float | None:
        """USD for ``usage`` on ``model``, or None when the model has no price."""
        price = self.lookup(model)
        return None if price is None else price.cost(usage, batch=batch)

    def merged(self, other: PriceTable) -> PriceTable:
        """This table with ``other``'s models and aliases added or replacing these."""
        return self._merge(other._prices, other._aliases, other.source)

    def _merge(
        self, prices: Mapping[str, ModelPrice], aliases: Mapping[str, str], source: str
    ) -> PriceTable:
        new_ids = {model.lower() for model in prices}
        new_aliases = {alias.lower() for alias in aliases}
        merged_prices = {m: p for m, p in self._prices.items() if m.lower() not in new_ids}
        merged_prices.update(prices)
        # A model the other side defines wins over an alias of the same name here.
        merged_aliases = {
            a: t
            for a, t in self._aliases.items()
            if a.lower() not in new_aliases and a.lower() not in new_ids
        }
        merged_aliases.update(aliases)
        # Errors name the file being merged in: that is where a conflict comes from.
        _check_table(merged_prices, merged_aliases, source)
        return PriceTable(merged_prices, merged_aliases, f"{self._source} + {source}")

    @classmethod
    def from_data(
        cls, data: Mapping[str, Any], source: str, *, base: PriceTable | None = None
    ) -> PriceTable:
        """A table from parsed TOML. With ``base``, the result is ``base`` with these
        entries merged over it, and aliases may point at ``base``'s models."""
        prices, aliases = _parse(data, source)
        if base is not None:
            return base._merge(prices, aliases, source)
        return cls(prices, aliases, source)

    @classmethod
    def from_toml(cls, path: Path, *, base: PriceTable | None = None) -> PriceTable:
        """A table from a TOML file (see :meth:`from_data` for ``base``)."""
        source = str(path)
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError as exc:
            raise PriceTableError(f"{source}: no such price file", source=source) from exc
        except OSError as exc:
            raise PriceTableError(
                f"{source}: cannot read the price file: {exc.strerror or exc}", source=source
            ) from exc
        return cls.from_data(_load_toml(raw, source), source, base=base)


def _load_toml(raw: bytes, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PriceTableError(f"{source}: not UTF-8 text ({exc})", source=source) from exc
    except tomllib.TOMLDecodeError as exc:
        raise PriceTableError(f"{source}: invalid TOML: {exc}", source=source) from exc


def _parse(data: Mapping[str, Any], source: str) -> tuple[dict[str, ModelPrice], dict[str, str]]:
    if not isinstance(data, Mapping):
        _fail(f"{source}: expected a table at the top, got {data!r}", source=source)
    for key in data:
        if key not in _TOP_KEYS:
            _fail(
                f"{source}: unknown top-level key {key!r} (expected 'aliases' or 'models')",
                source=source,
                key=str(key),
            )
    models = data.get("models", {})
    if not isinstance(models, Mapping):
        _fail(f"{source}: models must be a table, got {models!r}", source=source, key="models")
    prices: dict[str, ModelPrice] = {}
    for model, entry in models.items():
        prices[model] = _parse_model(model, entry, source)
    aliases = data.get("aliases", {})
    if not isinstance(aliases, Mapping):
        _fail(f"{source}: aliases must be a table, got {aliases!r}", source=source, key="aliases")
    return prices, dict(aliases)


def _parse_model(model: object, entry: object, source: str) -> ModelPrice:
    if not isinstance(model, str) or not model.strip():
        _fail(f"{source}: model id {model!r} must be a non-empty string", source=source)
    where = f"{source}: models.{model!r}"
    if not isinstance(entry, Mapping):
        _fail(f"{where} must be a table of prices, got {entry!r}", source=source, model=model)
    for key in entry:
        if key not in _MODEL_KEYS:
            _fail(
                f"{where}.{key} is not a known key (expected one of {', '.join(_MODEL_KEYS)})",
                source=source,
                model=model,
                key=str(key),
            )
    values: dict[str, Any] = {}
    for key in _MODEL_KEYS:  # input first: the cache prices default to it
        if key in entry:
            value = entry[key]
        elif key in ("input", "output"):
            _fail(f"{where}.{key} is required", source=source, model=model, key=key)
        elif key == "batch_discount":
            value = _DEFAULT_BATCH_DISCOUNT
        else:
            value = values["input"]  # no surcharge, no discount unless the file says so
        want = _wanted(key, value)
        if want is not None:
            message = f"{where}.{key} must be {want}, got {value!r}"
            _fail(message, source=source, model=model, key=key)
        values[key] = value
    return ModelPrice(model=model, **values)


@functools.lru_cache(maxsize=1)
def default_price_table() -> PriceTable:
    """The price table shipped with podium (read once)."""
    raw = importlib.resources.files("podium.pricing").joinpath(PRICES_FILE).read_bytes()
    return PriceTable.from_data(_load_toml(raw, BUILTIN_SOURCE), BUILTIN_SOURCE)


def load_price_table(path: str | Path | None = None, *, home: Path | None = None) -> PriceTable:
    """The built-in table merged with the user's file: ``path`` if given, else
    ``$PODIUM_PRICES``, else ``<home>/prices.toml`` if it exists, else the built-in alone.
    A named file that does not exist is an error; a missing home file is not."""
    builtin = default_price_table()
    if path is not None:
        return _load_named(Path(path).expanduser(), builtin, via="")
    env = os.environ.get(PRICES_ENV)
    if env:
        return _load_named(Path(env).expanduser(), builtin, via=f" (named by ${PRICES_ENV})")
    home_file = (home if home is not None else default_home()) / PRICES_FILE
    if home_file.exists():
        return PriceTable.from_toml(home_file, base=builtin)
    return builtin


def _load_named(path: Path, builtin: PriceTable, *, via: str) -> PriceTable:
    if not path.exists():
        _fail(f"{path}: no such price file{via}", source=str(path))
    return PriceTable.from_toml(path, base=builtin)
