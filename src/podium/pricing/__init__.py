"""What a model's tokens cost, from one data file users can update.

``default_price_table()`` is the shipped ``prices.toml``; ``load_price_table()`` merges
the user's own file over it (an explicit path, ``$PODIUM_PRICES``, or
``<podium home>/prices.toml``). A model the table cannot price costs ``None``, never 0.
"""

from .._errors import PriceTableError
from ._table import ModelPrice, PriceTable, default_price_table, load_price_table

__all__ = ["ModelPrice", "PriceTable", "PriceTableError", "default_price_table", "load_price_table"]
