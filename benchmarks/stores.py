"""The store of a benchmark's checks when it is a database (``--store URL``) rather than a SQLite
file in the temporary folder: read and changed through SQLAlchemy, refused unless it holds
none of ctwatch's tables, and its tables dropped after the runs that created them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))

from ctwatch.logs import mask_url  # noqa: E402
from ctwatch.store.tables import metadata  # noqa: E402
from ctwatch.urls import database_url  # noqa: E402


@contextmanager
def engine_of(store: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url(store), poolclass=sa.NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def counts(store: str, queries: tuple[str, ...]) -> list[int]:
    """The one number each query counts."""
    with engine_of(store) as engine, engine.connect() as conn:
        return [conn.execute(sa.text(query)).scalar_one() for query in queries]


def refuse_tables(store: str) -> None:
    """Exit, saying why, when the database holds ctwatch's tables: the benchmark drops them."""
    with engine_of(store) as engine:
        found = sorted(set(sa.inspect(engine).get_table_names()) & set(metadata.tables))
    if found:
        raise SystemExit(f"--store {mask_url(store)}: holds ctwatch's tables "
                         f"({', '.join(found)}); give an empty database: the benchmark drops "
                         "the tables it creates")


def drop_tables(store: str) -> None:
    with engine_of(store) as engine:
        metadata.drop_all(engine)


def change_moments(store: str, columns: dict[str, tuple[str, ...]],
                   change: Callable[[str | None], str | None]) -> None:
    """Replace each value of ``columns`` (by table) with ``change`` of it, in one transaction."""
    with engine_of(store) as engine, engine.begin() as conn:
        for name, moments in columns.items():
            table = metadata.tables[name]
            key = next(iter(table.primary_key.columns))
            found = conn.execute(sa.select(key, *(table.c[m] for m in moments))).all()
            if found:
                conn.execute(table.update().where(key == sa.bindparam("row_key")), [
                    {"row_key": row[0],
                     **{m: change(v) for m, v in zip(moments, row[1:], strict=True)}}
                    for row in found])
