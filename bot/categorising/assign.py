"""Assigning categories to items: explicit tags, else keyword rules, else the best digest category.

(Placeholder until the categorising stage lands: explicit tags, else every digest category.)
"""

from __future__ import annotations

from dataclasses import replace

from bot.categorising.table import CategoryTable
from bot.model import Digest


def categorise(digest: Digest, table: CategoryTable) -> Digest:
    items = tuple(
        replace(item, categories=item.tags, category_rule="tag")
        if item.tags
        else replace(item, categories=digest.categories, category_rule="digest")
        for item in digest.items
    )
    return replace(digest, items=items)
