"""The prices command: the price table costs are computed from, and how to change it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._app import JsonFlag, app, print_json

if TYPE_CHECKING:
    from rich.text import Text

    from ..pricing import PriceTable

__all__ = ["price_rows"]

_OVERRIDE = (
    "override: a prices.toml in $PODIUM_HOME, or a file named by $PODIUM_PRICES "
    "(merged over the built-in table)"
)


def price_rows(table: PriceTable) -> list[dict[str, Any]]:
    """One entry per priced model, sorted, with the aliases that name it."""
    named: dict[str, list[str]] = {}
    for alias, model in table.aliases.items():
        named.setdefault(model, []).append(alias)
    rows = []
    for model in table.models():
        price = table.lookup(model)
        assert price is not None  # every listed model has a price
        rows.append(
            {
                "model": model,
                "input": price.input,
                "output": price.output,
                "cache_write": price.cache_write,
                "cache_read": price.cache_read,
                "batch_discount": price.batch_discount,
                "aliases": sorted(named.get(model, [])),
            }
        )
    return rows


def _rate(value: float) -> Text:
    from rich.text import Text

    return Text(f"{value:g}")


@app.command()
def prices(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            metavar="F",
            help="Merge this price file over the built-in table instead of the usual one.",
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Show the price table costs are computed from (USD per million tokens).

    A model missing from it has an unknown cost, shown as unknown, never as $0.
    """
    # Imported here: only this command needs the table.
    from ..pricing import load_price_table

    table = load_price_table(file)
    rows = price_rows(table)
    if json_out:
        print_json({"source": table.source, "unit": "USD per million tokens", "models": rows})
        return
    typer.echo(f"prices from {table.source}, USD per million tokens")
    typer.echo(_OVERRIDE)
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Simple borders: with a long model id the table still fits 80 columns uncut.
    out = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    out.add_column("model", no_wrap=True)
    for heading in ("input", "output", "cache write", "cache read", "batch"):
        out.add_column(heading, justify="right", no_wrap=True)
    out.add_column("aliases")
    for row in rows:
        out.add_row(
            Text(row["model"]),
            _rate(row["input"]),
            _rate(row["output"]),
            _rate(row["cache_write"]),
            _rate(row["cache_read"]),
            Text(f"-{row['batch_discount']:.0%}"),
            Text(", ".join(row["aliases"]) or "-"),
        )
    Console().print(out)
