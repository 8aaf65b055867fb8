"""Hot read statements run as their compiled SQL on SQLite's own connection.

A statement that is built once and read on every request (the home timeline's page) pays
SQLAlchemy's execution path each time: the compiled form looked up by its cache key, the
parameters put together and the ``IN`` lists expanded again, and every value of every
row passed through its type's processor in Python (``UTCDateTime`` wraps SQLite's date
parsing in two more calls). For forty rows of sixty columns that path cost more than
SQLite's answer: 680 µs a page against 270 µs for the same SQL run on the driver
(in-process, the benchmark's seed; docs/performance.md).

Here all of that is done once per statement: the SQL is compiled with its constant
``IN`` lists expanded, the order of its parameters kept, and a converter chosen for each
column whose type needs one; each read is then one ``execute`` on the driver's cursor
(``storage.sqlite_driver``: same connection, same transaction, inline reads and
deferred writes honoured) and a pass over the rows for the converted columns. Datetimes
are parsed by ``datetime.fromisoformat`` (SQLAlchemy stores them in SQLite as ISO text),
every other processed type by SQLAlchemy's own processor; a test compares the rows with
Core's for the same statement.

Listeners of the engine's ``before_cursor_execute`` event still see the statement (the
query-plan test reads the plans of what the app sends through them). Other databases,
and any error (which Core then raises translated, with the pool's
handling of a broken connection), go through Core.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlmodel.sql.sqltypes import UTCDateTime

from storage.sqlite_driver import Connection as SqliteConnection

Converter = Callable[[Any], Any]


def utc_datetime(value: str | None) -> datetime | None:
    """A datetime SQLAlchemy stored in SQLite (ISO text without an offset, meaning UTC),
    read as ``UTCDateTime`` reads it: aware, in UTC."""
    if value is None:
        return None
    try:  # a sixth of ``.replace(tzinfo=UTC)``'s time on 3.11 (150 against 930 ns)
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:  # text with an offset of its own
        return datetime.fromisoformat(value).astimezone(UTC)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    constants: dict[str, Any]
    order: tuple[str, ...]
    binders: dict[str, Converter]
    converters: tuple[tuple[int, Converter], ...]


def _converter(column_type: Any, dialect: Dialect) -> Converter | None:
    if isinstance(column_type, UTCDateTime):  # every ``datetime`` field of our models
        return utc_datetime
    processor: Converter | None = column_type.dialect_impl(dialect).result_processor(dialect, None)
    return processor


def _compile(stmt: Select[Any], dialect: Dialect, names: list[str]) -> _Compiled:
    compiled = stmt.compile(dialect=dialect)
    state = compiled.construct_expanded_state(dict.fromkeys(names))
    expanded = set(state.parameter_expansion)
    if expanded & set(names):
        raise ValueError(f"parameters that expand vary per call: {sorted(expanded & set(names))}")
    processors = state.processors
    binders = {name: processors[name] for name in names if processors.get(name)}
    constants = {k: v for k, v in state.parameters.items() if k not in names}
    for name, value in list(constants.items()):
        if processors.get(name) is not None:
            constants[name] = processors[name](value)
    converters = []
    for index, column in enumerate(stmt.selected_columns):
        convert = _converter(column.type, dialect)
        if convert is not None:
            converters.append((index, convert))
    order = tuple(state.positiontup or ())
    return _Compiled(state.statement, constants, order, binders, tuple(converters))


class PlainSelect:
    """A Core ``select`` of plain columns, built once, read as tuples. On SQLite through
    ``storage.sqlite_driver`` it runs as compiled SQL on the driver (see the module);
    elsewhere as Core. The parameters of every call must have the same names."""

    def __init__(self, stmt: Select[Any]) -> None:
        self.stmt = stmt
        self._compiled: _Compiled | None = None

    async def rows(self, session: AsyncSession, params: Mapping[str, Any]) -> list[Any]:
        connection = await session.connection()
        dialect = connection.dialect
        if dialect.name == "sqlite":
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            # Writes held back for this transaction (``deferred_writes``) go with Core's
            # statement, so that their errors are raised translated, never retried.
            if isinstance(driver, SqliteConnection) and not driver.deferred:
                compiled = self._compiled
                if compiled is None:
                    compiled = self._compiled = _compile(self.stmt, dialect, list(params))
                try:
                    return await _run(driver, compiled, params, connection.sync_connection)
                except sqlite3.Error:
                    pass  # Core runs it again: it raises the error translated, or succeeds
        return list((await connection.execute(self.stmt, dict(params))).all())


async def _run(
    driver: SqliteConnection, compiled: _Compiled, params: Mapping[str, Any], sync: Any
) -> list[Any]:
    values = {**compiled.constants, **params}
    for name, bind in compiled.binders.items():
        values[name] = bind(values[name])
    args = [values[name] for name in compiled.order]
    cursor = driver.cursor()
    try:
        if sync is not None and sync.dispatch.before_cursor_execute:
            # The engine's listeners (a query-plan test, a tracer) see the statement as
            # they see Core's, without an execution context.
            sync.dispatch.before_cursor_execute(sync, cursor, compiled.sql, args, None, False)
        await cursor.execute(compiled.sql, args)
        rows = await cursor.fetchall()
    finally:
        await cursor.close()
    converters = compiled.converters
    if not converters or not rows:
        return list(rows)
    columns = list(zip(*rows, strict=True))  # converted a column at a time: no per-row loop
    for index, convert in converters:
        columns[index] = tuple(map(convert, columns[index]))
    return list(zip(*columns, strict=True))
