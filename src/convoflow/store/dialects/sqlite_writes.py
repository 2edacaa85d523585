"""Plain INSERT / UPDATE / DELETE statements straight to sqlite3 in the writer thread.

Why: once Graph sends and Meta's webhook were cheap, the SQLite writer thread (which runs
every write transaction: the webhook's routing and advance, the dispatcher's records) was
~80 % of the server's CPU per inbound message (BENCHMARKS.md, `bench/e2e.py`'s split by
thread), and for a small write SQLAlchemy's execution (execution context, parameter
processing, result set-up) cost more CPU than sqlite3 running it: 23.5 µs per statement
through SQLAlchemy, 10.6 µs this way. A write without RETURNING needs nothing of that but
its parameters, so each (statement, parameter names) is compiled once here, with
SQLAlchemy's own compiler and bind processors (the JSON and datetime types, the secret
columns' cipher), and then run on the driver's connection.

Taken only when it gives the same result: one dict of parameters or a list of dicts with
the same keys (executemany), a statement object seen before (a prebuilt one), no
RETURNING, no Python-side column defaults or onupdate (SQLAlchemy fills those in its
execution context), no expanding IN, no callable bind values. Everything else goes the usual way.
The `before_cursor_execute` listeners still run (db.py marks the transaction as having
written; benchmarks count statements). A single statement sqlite3 refuses changed
nothing (SQLite undoes a failed statement), so it is run again through SQLAlchemy, which
raises the error callers expect. An executemany is not one statement: sqlite3 keeps the
rows before the failing one (and a re-run would write them twice), so it runs inside a
savepoint that a failure rolls back, and sqlite3's error is raised as SQLAlchemy's.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.dml import UpdateBase

CACHE_ENTRIES = 512  # prebuilt statements are a few dozen; per-call ones are not kept long
_MISSING = object()


@dataclass(frozen=True, slots=True)
class _Plan:
    statement: Any  # held so that its id() cannot be reused while cached
    sql: str
    binds: tuple[tuple[str, Any, Any], ...]  # (parameter name, bind processor, fixed value)


class WriteResult:
    """What callers read from a write's result: the number of rows it changed."""

    __slots__ = ("rowcount",)

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount


class SqliteWrites:
    """The compiled plans of one writer connection (kept in its `info`)."""

    def __init__(self) -> None:
        self._plans: dict[tuple[int, tuple[str, ...]], _Plan | _Once] = {}

    def run(self, conn: sa.Connection, statement: Any, params: Any) -> WriteResult | None:
        """Run the write (one dict of parameters, or a list of dicts with the same keys:
        executemany) and return its WriteResult, or None: SQLAlchemy must run it."""
        if not isinstance(statement, UpdateBase):
            return None
        many = type(params) is list
        rows: list[dict[str, Any]] = params if many else [params]
        if not rows or type(rows[0]) is not dict:
            return None
        keys = tuple(rows[0])
        if many and any(type(row) is not dict or tuple(row) != keys for row in rows):
            return None
        plan = self._plan(conn, statement, keys)
        if plan is None:
            return None
        if many and not conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
            return None  # no transaction to hold the savepoint (writes always have one)
        values = [
            [
                (row[name] if fixed is _MISSING else fixed) if processor is None
                else processor(row[name] if fixed is _MISSING else fixed)
                for name, processor, fixed in plan.binds
            ]
            for row in rows
        ]  # fmt: skip
        if conn._has_events or conn.engine._has_events:
            shown = values if many else values[0]
            conn.dispatch.before_cursor_execute(conn, None, plan.sql, shown, None, many)
        driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
        if many:
            return WriteResult(_run_many(conn, driver, plan.sql, values))
        try:
            cursor = driver.execute(plan.sql, values[0])
        except sqlite3.Error:
            return None  # nothing changed: SQLAlchemy runs it again and raises its error
        return WriteResult(cursor.rowcount)

    def _plan(
        self, conn: sa.Connection, statement: UpdateBase, keys: tuple[str, ...]
    ) -> _Plan | None:
        key = (id(statement), keys)
        known = self._plans.get(key)
        if known is not None and known.statement is statement:
            if isinstance(known, _Plan):
                return known
            if known.compiled_next:
                plan = _compile(conn, statement, keys)
                self._plans[key] = plan if plan is not None else _Once(statement, False)
                return plan
            return None
        # Compiled at the second sight: a statement built for one call (a new object each
        # time) is left to SQLAlchemy's own compiled cache.
        if len(self._plans) >= CACHE_ENTRIES:
            self._plans.clear()
        self._plans[key] = _Once(statement, True)
        return None


def _run_many(
    conn: sa.Connection, driver: sqlite3.Connection, sql: str, values: list[list[Any]]
) -> int:
    """executemany, all rows or none: sqlite3 stops at a failing row with the earlier
    ones written, so the rows go in under a savepoint that a failure rolls back."""
    driver.execute("SAVEPOINT convoflow_many")
    try:
        cursor = driver.executemany(sql, values)
    except sqlite3.Error as exc:
        driver.execute("ROLLBACK TO convoflow_many")
        driver.execute("RELEASE convoflow_many")
        # Not re-run through SQLAlchemy (it would stop at the same row, earlier ones
        # written again): its exception class for sqlite3's error (IntegrityError, ...).
        raise sa.exc.DBAPIError.instance(
            sql, values, exc, sqlite3.Error, dialect=conn.dialect, ismulti=True
        ) from exc
    driver.execute("RELEASE convoflow_many")
    return cursor.rowcount


@dataclass(frozen=True, slots=True)
class _Once:
    """Seen once (compiled at the next sight), or not for this path (`compiled_next`
    False). Holds the statement so that its id() is not reused meanwhile."""

    statement: Any
    compiled_next: bool


def _compile(conn: sa.Connection, statement: UpdateBase, keys: tuple[str, ...]) -> _Plan | None:
    if statement._returning:
        return None
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(keys))
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.positiontup is None:
        return None
    processors = compiled._bind_processors
    binds = []
    for name in compiled.positiontup:
        bind = compiled.binds.get(name)
        if bind is None or bind.expanding or bind.callable is not None or bind.literal_execute:
            return None
        if name in keys:
            fixed = _MISSING
        elif bind.required:
            return None  # a parameter is missing: SQLAlchemy says which
        else:
            fixed = bind.value
        binds.append((name, processors.get(name), fixed))
    return _Plan(statement, str(compiled), tuple(binds))


def writes_of(conn: sa.Connection) -> SqliteWrites:
    """The plans of the writer's connection (its `info` lasts as long as it does)."""
    writes = conn.info.get("convoflow_sqlite_writes")
    if writes is None:
        writes = conn.info["convoflow_sqlite_writes"] = SqliteWrites()
    return writes
