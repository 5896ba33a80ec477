"""The price table: what a turn costs, where prices come from, and how a bad file is reported."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from podium._errors import PodiumError, UsageError, error_from_dict
from podium._records import Usage
from podium.pricing import (
    ModelPrice,
    PriceTable,
    PriceTableError,
    default_price_table,
    load_price_table,
)

# 1k uncached in, 500 out, 2k written to the cache, 10k read from it.
USAGE = Usage(
    input_tokens=1_000,
    output_tokens=500,
    cache_creation_input_tokens=2_000,
    cache_read_input_tokens=10_000,
)
# Sonnet 4.5: 1000*3 + 500*15 + 2000*3.75 + 10000*0.30 = 21000 USD per million.
SONNET_COST = 0.021

SHIPPED = {
    # model: (input, output, cache_write, cache_read)
    "claude-opus-4-1": (15.0, 75.0, 18.75, 1.5),
    "claude-opus-4-5": (5.0, 25.0, 6.25, 0.5),
    "claude-sonnet-4-6": (3.0, 15.0, 3.75, 0.30),
    "claude-sonnet-4-5": (3.0, 15.0, 3.75, 0.30),
    "claude-sonnet-4": (3.0, 15.0, 3.75, 0.30),
    "claude-opus-4-6": (5.0, 25.0, 6.25, 0.5),
    "claude-haiku-4-5": (1.0, 5.0, 1.25, 0.10),
    "claude-3-5-haiku": (0.8, 4.0, 1.0, 0.08),
    "gpt-4o": (2.5, 10.0, 2.5, 1.25),
    "gpt-4o-mini": (0.15, 0.60, 0.15, 0.075),
    "gpt-4.1": (2.0, 8.0, 2.0, 0.5),
    "gpt-4.1-mini": (0.4, 1.6, 0.4, 0.1),
}


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PODIUM_PRICES", raising=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- costs ---------------------------------------------------------------------------------


def test_sonnet_cost_counts_every_kind_of_token() -> None:
    table = default_price_table()
    assert table.cost("claude-sonnet-4-5", USAGE) == pytest.approx(SONNET_COST)
    price = table.lookup("claude-sonnet-4-5")
    assert price is not None
    assert price.cost(USAGE) == pytest.approx(SONNET_COST)


def test_batch_halves_the_cost() -> None:
    table = default_price_table()
    assert table.cost("sonnet", USAGE, batch=True) == pytest.approx(SONNET_COST / 2)


def test_cache_tokens_are_priced_at_their_own_rates() -> None:
    table = default_price_table()
    # A cache read is a tenth of an uncached input token; a write is 1.25x.
    read = table.cost("sonnet", Usage(cache_read_input_tokens=1_000_000))
    write_ = table.cost("sonnet", Usage(cache_creation_input_tokens=1_000_000))
    plain = table.cost("sonnet", Usage(input_tokens=1_000_000))
    assert plain == pytest.approx(3.0)
    assert write_ == pytest.approx(3.75)
    assert read == pytest.approx(0.30)


def test_model_price_batch_discount_is_its_own() -> None:
    price = ModelPrice(
        model="m", input=1.0, output=1.0, cache_write=1.0, cache_read=1.0, batch_discount=0.25
    )
    assert price.cost(Usage(input_tokens=1_000_000), batch=True) == pytest.approx(0.75)


def test_unknown_model_costs_none_not_zero() -> None:
    table = default_price_table()
    assert table.cost("llama3.1:8b", USAGE) is None
    assert table.cost("qwen2.5-coder", USAGE) is None
    assert table.cost(None, USAGE) is None
    assert table.lookup(None) is None


def test_zero_usage_on_a_known_model_is_zero() -> None:
    assert default_price_table().cost("haiku", Usage()) == 0.0


# --- lookups -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("sonnet", "claude-sonnet-4-6"),
        ("opus", "claude-opus-4-6"),
        ("haiku", "claude-haiku-4-5"),
        ("Sonnet", "claude-sonnet-4-6"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("CLAUDE-SONNET-4-20250514", "claude-sonnet-4"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("openrouter/openai/gpt-4.1", "gpt-4.1"),
        ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("gpt-4o:latest", "gpt-4o"),
        ("GPT-4.1-mini", "gpt-4.1-mini"),
    ],
)
def test_lookup_finds_aliases_dated_ids_and_prefixed_names(name: str, model: str) -> None:
    price = default_price_table().lookup(name)
    assert price is not None
    assert price.model == model


@pytest.mark.parametrize(
    "name",
    [
        "claude-sonnet",  # a family is not a model
        "claude-sonnet-4-5-2025",  # not a date
        "claude-sonnet-4-5-20250929-v1",  # only the date suffix is stripped
        "gpt-4o-audio-preview",
        "gpt-4",
        "sonnet-20250929",
        "openai/",
        "",
    ],
)
def test_lookup_does_not_guess(name: str) -> None:
    assert default_price_table().lookup(name) is None


def test_resolve_maps_aliases_only() -> None:
    table = default_price_table()
    assert table.resolve("opus") == "claude-opus-4-6"
    assert table.resolve("OPUS") == "claude-opus-4-6"
    assert table.resolve("gpt-4o") == "gpt-4o"
    assert table.resolve("my-local-model") == "my-local-model"


# --- the shipped file ----------------------------------------------------------------------


def test_shipped_table_has_every_listed_model_at_its_price() -> None:
    table = default_price_table()
    assert table.source == "built-in"
    assert set(SHIPPED) <= set(table.models())
    assert table.models() == sorted(table.models())
    for model, (inp, out, write_, read) in SHIPPED.items():
        price = table.lookup(model)
        assert price is not None, model
        got = (price.input, price.output, price.cache_write, price.cache_read)
        assert got == pytest.approx((inp, out, write_, read)), model
        assert price.batch_discount == 0.5, model


def test_shipped_aliases_point_at_claude_models() -> None:
    aliases = default_price_table().aliases
    assert set(aliases) == {"opus", "sonnet", "haiku"}
    assert aliases["sonnet"] == "claude-sonnet-4-6"
    assert aliases["haiku"] == "claude-haiku-4-5"
    assert aliases["opus"].startswith("claude-opus-")


def test_shipped_table_has_no_local_models() -> None:
    assert not [m for m in default_price_table().models() if not m.startswith(("claude", "gpt"))]


def test_default_table_is_read_once() -> None:
    assert default_price_table() is default_price_table()


# --- immutability and merging --------------------------------------------------------------


def test_table_cannot_be_changed() -> None:
    table = default_price_table()
    with pytest.raises(AttributeError):
        table.source = "elsewhere"  # type: ignore[misc]
    with pytest.raises(TypeError):
        table.aliases["opus"] = "claude-opus-4-1"  # type: ignore[index]
    table.models().clear()
    assert "gpt-4o" in table.models()
    price = table.lookup("gpt-4o")
    assert price is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        price.input = 0.0  # type: ignore[misc]


def test_merged_overrides_and_extends() -> None:
    base = default_price_table()
    local = ModelPrice(model="llama3", input=0.0, output=0.0, cache_write=0.0, cache_read=0.0)
    cheap = ModelPrice(model="gpt-4o", input=1.0, output=2.0, cache_write=1.0, cache_read=0.5)
    other = PriceTable({"llama3": local, "gpt-4o": cheap}, {"opus": "gpt-4o"}, source="mine")
    merged = base.merged(other)
    assert merged.lookup("llama3") == local
    assert merged.lookup("gpt-4o") == cheap
    assert merged.resolve("opus") == "gpt-4o"
    assert merged.lookup("claude-sonnet-4-5") == base.lookup("claude-sonnet-4-5")
    assert "mine" in merged.source
    # Neither side changed.
    assert base.lookup("llama3") is None
    assert base.resolve("opus") == "claude-opus-4-6"


def test_constructor_checks_aliases() -> None:
    price = ModelPrice(model="m", input=1.0, output=1.0, cache_write=1.0, cache_read=1.0)
    with pytest.raises(PriceTableError, match=r"'fast'.*unknown model 'nope'"):
        PriceTable({"m": price}, {"fast": "nope"}, source="code")


def test_model_price_rejects_bad_numbers() -> None:
    with pytest.raises(PriceTableError, match="batch_discount"):
        ModelPrice(model="m", input=1, output=1, cache_write=1, cache_read=1, batch_discount=1)
    with pytest.raises(PriceTableError, match="output"):
        ModelPrice(model="m", input=1, output=-1, cache_write=1, cache_read=1)


# --- loading a user's file -----------------------------------------------------------------

USER_FILE = """
[models."claude-sonnet-4-5"]
input = 2.0
output = 10.0
cache_write = 2.5
cache_read = 0.2

[models."llama3.1:8b"]
input = 0
output = 0
"""


@pytest.mark.usefixtures("no_env")
def test_home_file_overrides_one_price_adds_a_local_model_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    path = write(home / "prices.toml", USER_FILE)
    table = load_price_table(home=home)
    assert str(path) in table.source
    sonnet = table.lookup("claude-sonnet-4-5-20250929")
    assert sonnet is not None
    assert (sonnet.input, sonnet.output, sonnet.cache_write, sonnet.cache_read) == (
        2.0,
        10.0,
        2.5,
        0.2,
    )
    assert table.cost("claude-sonnet-4-5", Usage(input_tokens=1_000_000)) == pytest.approx(2.0)
    # The alias still names the shipped model, whose price the user left alone.
    assert table.cost("sonnet", Usage(input_tokens=1_000_000)) == pytest.approx(3.0)
    # The local model is now priced (at zero, as the user said) instead of unknown.
    assert table.cost("llama3.1:8b", USAGE) == 0.0
    # Everything else is the built-in price.
    builtin = default_price_table()
    for model in SHIPPED:
        if model != "claude-sonnet-4-5":
            assert table.lookup(model) == builtin.lookup(model)
    assert table.aliases == builtin.aliases


@pytest.mark.usefixtures("no_env")
def test_user_file_defaults_cache_prices_to_input(tmp_path: Path) -> None:
    path = write(tmp_path / "p.toml", '[models."my-model"]\ninput = 4\noutput = 8\n')
    price = load_price_table(path).lookup("my-model")
    assert price == ModelPrice(
        model="my-model", input=4.0, output=8.0, cache_write=4.0, cache_read=4.0, batch_discount=0.5
    )


@pytest.mark.usefixtures("no_env")
def test_user_alias_may_point_at_a_built_in_model(tmp_path: Path) -> None:
    path = write(tmp_path / "p.toml", '[aliases]\nopus = "claude-opus-4-1"\nfast = "haiku-x"\n')
    with pytest.raises(PriceTableError, match="unknown model 'haiku-x'"):
        load_price_table(path)
    write(path, '[aliases]\nopus = "claude-opus-4-1"\n')
    table = load_price_table(path)
    assert table.resolve("opus") == "claude-opus-4-1"
    assert table.cost("opus", Usage(output_tokens=1_000_000)) == pytest.approx(75.0)


@pytest.mark.usefixtures("no_env")
def test_without_any_user_file_the_built_in_table_is_used(tmp_path: Path) -> None:
    table = load_price_table(home=tmp_path / "empty-home")
    assert table.source == "built-in"
    assert table.models() == default_price_table().models()


def test_home_defaults_to_podium_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PODIUM_PRICES", raising=False)
    monkeypatch.setenv("PODIUM_HOME", str(tmp_path / "state"))
    write(tmp_path / "state" / "prices.toml", USER_FILE)
    assert load_price_table().cost("llama3.1:8b", USAGE) == 0.0


def test_env_file_wins_over_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    write(home / "prices.toml", '[models."gpt-4o"]\ninput = 100\noutput = 100\n')
    env_file = write(tmp_path / "env-prices.toml", '[models."gpt-4o"]\ninput = 7\noutput = 9\n')
    monkeypatch.setenv("PODIUM_PRICES", str(env_file))
    table = load_price_table(home=home)
    price = table.lookup("gpt-4o")
    assert price is not None
    assert (price.input, price.output) == (7.0, 9.0)
    assert str(env_file) in table.source


def test_explicit_path_wins_over_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = write(tmp_path / "env.toml", '[models."gpt-4o"]\ninput = 7\noutput = 9\n')
    explicit = write(tmp_path / "explicit.toml", '[models."gpt-4o"]\ninput = 1\noutput = 2\n')
    monkeypatch.setenv("PODIUM_PRICES", str(env_file))
    price = load_price_table(str(explicit)).lookup("gpt-4o")
    assert price is not None
    assert (price.input, price.output) == (1.0, 2.0)


def test_missing_named_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.toml"
    monkeypatch.delenv("PODIUM_PRICES", raising=False)
    with pytest.raises(PriceTableError, match=r"nope\.toml") as excinfo:
        load_price_table(missing)
    assert excinfo.value.context["source"] == str(missing)
    monkeypatch.setenv("PODIUM_PRICES", str(missing))
    with pytest.raises(PriceTableError, match=r"nope\.toml.*PODIUM_PRICES"):
        load_price_table(home=tmp_path)


# --- validation ----------------------------------------------------------------------------

GOOD = "input = 1\noutput = 2\n"


@pytest.mark.parametrize(
    ("body", "model", "key", "fragment"),
    [
        ('[models."gpt-4o"]\ninput = "cheap"\noutput = 2\n', "gpt-4o", "input", "got 'cheap'"),
        ('[models."gpt-4o"]\ninput = -1\noutput = 2\n', "gpt-4o", "input", "got -1"),
        ('[models."gpt-4o"]\ninput = 1\noutput = true\n', "gpt-4o", "output", "got True"),
        ('[models."gpt-4o"]\ninput = 1\noutput = inf\n', "gpt-4o", "output", "got inf"),
        ('[models."m"]\noutput = 2\n', "m", "input", "is required"),
        ('[models."m"]\ninput = 2\n', "m", "output", "is required"),
        (f'[models."m"]\n{GOOD}cache_read = -0.1\n', "m", "cache_read", "got -0.1"),
        (f'[models."m"]\n{GOOD}cache_write = [1]\n', "m", "cache_write", "got [1]"),
        (f'[models."m"]\n{GOOD}batch_discount = 1\n', "m", "batch_discount", "< 1, got 1"),
        (f'[models."m"]\n{GOOD}batch_discount = -0.5\n', "m", "batch_discount", "got -0.5"),
        (f'[models."m"]\n{GOOD}price = 3\n', "m", "price", "not a known key"),
        ("[models]\nm = 3\n", "m", None, "must be a table"),
    ],
)
def test_model_errors_name_file_model_and_key(
    tmp_path: Path, body: str, model: str, key: str | None, fragment: str
) -> None:
    path = write(tmp_path / "prices.toml", body)
    with pytest.raises(PriceTableError) as excinfo:
        PriceTable.from_toml(path)
    message = str(excinfo.value)
    assert str(path) in message
    assert f"models.'{model}'" in message
    if key is not None:
        assert f"models.'{model}'.{key}" in message
        assert excinfo.value.context["key"] == key
    assert fragment in message
    assert excinfo.value.context["model"] == model
    assert excinfo.value.context["source"] == str(path)


def test_error_message_reads_as_documented() -> None:
    data = {"models": {"gpt-4o": {"input": "cheap", "output": 1}}}
    with pytest.raises(PriceTableError) as excinfo:
        PriceTable.from_data(data, "prices.toml")
    assert str(excinfo.value) == (
        "prices.toml: models.'gpt-4o'.input must be a number >= 0, got 'cheap'"
    )


def test_alias_to_unknown_model_names_file_alias_and_model(tmp_path: Path) -> None:
    path = write(tmp_path / "prices.toml", f'[aliases]\nfast = "gpt-9"\n[models."m"]\n{GOOD}')
    with pytest.raises(PriceTableError) as excinfo:
        PriceTable.from_toml(path)
    message = str(excinfo.value)
    assert str(path) in message
    assert "aliases.'fast'" in message
    assert "'gpt-9'" in message
    assert excinfo.value.context["model"] == "gpt-9"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"model": {}}, "unknown top-level key 'model'"),
        ({"models": [1]}, "models must be a table"),
        ({"aliases": "opus"}, "aliases must be a table"),
        ({"aliases": {"fast": 3}, "models": {"m": {"input": 1, "output": 1}}}, "aliases.'fast'"),
        (
            {"models": {"M": {"input": 1, "output": 1}, "m": {"input": 1, "output": 1}}},
            "name the same model",
        ),
        (
            {"aliases": {"m": "m"}, "models": {"m": {"input": 1, "output": 1}}},
            "also a model id",
        ),
    ],
)
def test_table_shape_errors_name_the_file(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PriceTableError) as excinfo:
        PriceTable.from_data(data, "my-prices.toml")
    assert str(excinfo.value).startswith("my-prices.toml: ")
    assert fragment in str(excinfo.value)


def test_invalid_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.toml", '[models."gpt-4o"]\ninput = 1\noutput = = 2\n')
    with pytest.raises(PriceTableError) as excinfo:
        PriceTable.from_toml(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: invalid TOML")
    assert "line 3" in message


@pytest.mark.usefixtures("no_env")
def test_invalid_home_file_is_reported_not_ignored(tmp_path: Path) -> None:
    write(tmp_path / "prices.toml", '[models."x"]\ninput = "free"\noutput = 0\n')
    with pytest.raises(PriceTableError, match=r"prices\.toml: models\.'x'\.input"):
        load_price_table(home=tmp_path)


def test_price_table_error_is_a_usage_error_that_survives_the_wire() -> None:
    error = PriceTableError("p.toml: bad", source="p.toml", model="m", key="input")
    assert isinstance(error, UsageError)
    assert isinstance(error, PodiumError)
    rebuilt = error_from_dict(error.to_dict())
    assert type(rebuilt) is PriceTableError
    assert rebuilt.context == {"source": "p.toml", "model": "m", "key": "input"}
    assert rebuilt.code == "price_table_error"
