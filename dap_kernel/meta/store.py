"""Opening the metadata database: engine setup, SQLite pragmas, migrations on first use."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Select, create_engine, event, inspect
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from ..errors import MetaStoreError
from .prepared import Prepared, prepare

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def redact_url(url: str) -> str:
    """Hide the password of a database URL so it can appear in messages and logs.

    >>> redact_url("postgresql://dap:s3cret@db:5432/dap")
    'postgresql://dap:***@db:5432/dap'
    """
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def _normalise_url(url: str) -> str:
    # psycopg 3 is the driver we ship; plain postgresql:// would look for psycopg2.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _transactional_sqlite_engine(url: str) -> Engine:
    """An engine whose transactions include DDL, for migrations on SQLite.

    Python's sqlite3 driver opens a transaction only before INSERT/UPDATE/DELETE, so the
    CREATE and ALTER statements of a migration ran one by one in autocommit: a process killed
    half-way left some new tables and the old revision number, and every later start failed
    with "table already exists". Here the driver leaves transactions alone and the engine
    begins each one itself (``BEGIN IMMEDIATE``: one migrator at a time), so an upgrade
    commits whole or not at all, as on PostgreSQL.
    """
    engine = create_engine(_normalise_url(url), poolclass=NullPool)

    def connect(dbapi_connection: Any, record: Any) -> None:
        _sqlite_pragmas(dbapi_connection, record)
        dbapi_connection.isolation_level = None  # the driver issues no BEGIN/COMMIT of its own

    def begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "connect", connect)
    event.listen(engine, "begin", begin)
    return engine


def newest_revision() -> str:
    """The newest migration's revision: migrations are ``NNNN_what.py`` with revision
    ``"NNNN"`` (tests/kernel/test_meta.py checks this against Alembic's own head)."""
    found = [p.name[:4] for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")]
    return max(found)


def _revision_of(connection: Connection) -> str | None:
    """The database's Alembic revision (None before the first migration)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return None if row is None else str(row[0])


class MetaStore:
    """The metadata database behind the catalog, identities and the audit log."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = self._create_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._compiled: dict[Select[Any], Prepared] = {}

    @staticmethod
    def _create_engine(url: str) -> Engine:
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(
                    parents=True, exist_ok=True
                )
            # Pre-ping guards against dropped server connections; a SQLite file has none. A
            # service's threads (queries, metadata requests, audit, shared writes) outnumber the
            # default 5 pooled SQLite connections: each one more was opened and closed per use.
            sqlite = url.startswith("sqlite")
            engine = create_engine(
                _normalise_url(url),
                pool_pre_ping=not sqlite,
                **(
                    {"pool_size": 16}
                    if url.startswith("sqlite:///") and ":memory:" not in url
                    else {}
                ),
            )
        except (ArgumentError, NoSuchModuleError, ValueError) as e:
            raise MetaStoreError(
                f"DAP_META_URL={redact_url(url)!r} is not a usable database URL "
                "(expected sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB)"
            ) from e
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        return engine

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent, cheap when current:
        a database at the newest revision is answered without loading Alembic at all)."""
        engine = self.engine
        try:
            with engine.connect() as probe:
                if _revision_of(probe) == newest_revision():
                    return
            self._upgrade()
        except OperationalError as e:
            raise MetaStoreError(
                f"cannot open the metadata database {redact_url(self.url)}: "
                f"{str(e.orig).strip().splitlines()[0]}"
            ) from e

    def _upgrade(self) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        engine = self.engine
        try:
            if engine.dialect.name == "sqlite":
                engine = _transactional_sqlite_engine(self.url)
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")  # a no-op if another process just did it
        finally:
            if engine is not self.engine:
                engine.dispose()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core connection in one transaction, for hot paths where the ORM costs too much."""
        try:
            with self.engine.begin() as con:
                yield con
        except OperationalError as e:
            raise MetaStoreError(
                f"metadata database {redact_url(self.url)} failed: "
                f"{str(e.orig).strip().splitlines()[0]}"
            ) from e

    def first_row(
        self, sql: str | Select[Any], params: Mapping[str, Any] | None = None
    ) -> tuple[Any, ...] | None:
        """The first row of a SELECT, read on a pooled driver connection: for the reads of
        every request (the policy version, the API key), which a Core connection's begin and
        commit made ~4x dearer (86 against 20 µs on SQLite here). A Core ``Select`` (with
        ``bindparam``s for ``params``) is compiled once (:mod:`.prepared`) and its row reads
        as Core's would, by column name and with Core's conversions."""
        dbapi = self.engine.dialect.loaded_dbapi
        prepared = None if isinstance(sql, str) else self._prepared(sql)
        try:
            con = self.engine.raw_connection()
            try:
                cursor = con.cursor()
                try:
                    if prepared is None:
                        cursor.execute(sql)
                    else:
                        cursor.execute(prepared.sql, prepared.parameters(params or {}))
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            finally:
                con.close()  # back to the pool, which rolls the read's transaction back
        except (OperationalError, dbapi.Error) as e:
            text = str(getattr(e, "orig", None) or e).strip()
            first = text.splitlines()[0] if text else type(e).__name__
            raise MetaStoreError(f"metadata database {redact_url(self.url)} failed: {first}") from e
        if row is None:
            return None
        return tuple(row) if prepared is None else prepared.convert(row)

    def _prepared(self, statement: Select[Any]) -> Prepared:
        prepared = self._compiled.get(statement)
        if prepared is None:  # two threads may both compile it: the same result either way
            prepared = self._compiled[statement] = prepare(statement, self.engine.dialect)
        return prepared

    def ping(self) -> None:
        """Raise :class:`MetaStoreError` unless the database answers (health checks)."""
        try:
            with self.engine.connect() as con:
                con.exec_driver_sql("SELECT 1")
        except OperationalError as e:
            raise MetaStoreError(
                f"metadata database {redact_url(self.url)} does not answer: "
                f"{str(e.orig).strip().splitlines()[0]}"
            ) from e

    def table_names(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except OperationalError as e:
            session.rollback()
            raise MetaStoreError(
                f"metadata database {redact_url(self.url)} failed: "
                f"{str(e.orig).strip().splitlines()[0]}"
            ) from e
        except SQLAlchemyError:
            session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
