"""Schema steps that check before they act, for migrations a database may have partly had already.

Databases made before migrations existed carry whatever tables and columns their version of hoth-geo
created. They are adopted at revision 0001, so a later migration can meet a change it is about to make
already in place; these steps then do nothing instead of failing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = [
    "has_table",
    "has_column",
    "has_index",
    "create_table_if_missing",
    "add_column_if_missing",
    "create_index_if_missing",
]


def _inspector():
    return sa.inspect(op.get_bind())


def has_table(name: str) -> bool:
    """True when the migrated database has table ``name``."""
    return _inspector().has_table(name)


def has_column(table: str, column: str) -> bool:
    """True when ``table`` exists and has ``column``."""
    return has_table(table) and column in {c["name"] for c in _inspector().get_columns(table)}


def has_index(table: str, name: str) -> bool:
    """True when ``table`` exists and has the index ``name``."""
    return has_table(table) and name in {i["name"] for i in _inspector().get_indexes(table)}


def create_table_if_missing(name: str, *elements, indexes: tuple[tuple[str, list[str]], ...] = ()) -> None:
    """Create the table and its indexes (name, columns) unless the table exists."""
    if has_table(name):
        return
    op.create_table(name, *elements)
    for index_name, columns in indexes:
        op.create_index(index_name, name, columns, unique=False)


def add_column_if_missing(table: str, column: sa.Column) -> None:
    """Add ``column`` to ``table`` unless a database upgraded by hand already has it."""
    if not has_column(table, column.name):
        with op.batch_alter_table(table) as batch:
            batch.add_column(column)


def create_index_if_missing(name: str, table: str, columns: list[str], *, unique: bool = False) -> None:
    """Create the index unless it exists already."""
    if not has_index(table, name):
        op.create_index(name, table, columns, unique=unique)
