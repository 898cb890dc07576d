"""Changes to the catalog made by a principal: create, register and drop tables.

:class:`~dap_kernel.session.Session` takes these methods, so every door (CLI, magics, the Python
API, REST, pipelines) creates and registers tables through one governed, audited call: the grant
is checked for the caller, the table is owned by the caller, and the attempt (allowed, refused
or failed) is written to the audit chain like a query. :class:`~dap_kernel.catalog.Catalog`
itself knows no principal; calling it directly is for DAP's own code (demo data, quarantines).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog.models import TableInfo
from .catalog.store import Catalog
from .engine_choice import chosen_engine
from .engines.base import TABLE_ENGINE_OPTION, Engine
from .engines.clickhouse import ClickHouseEngine
from .engines.clickhouse_native import check_source
from .errors import DapError, QueryRefused
from .governance.audit import Change
from .governance.identity import Principal
from .governance.policy import Decision
from .lake import check_name, split_name
from .meta.store import redact_url
from .settings import ENGINES

if TYPE_CHECKING:
    from .lake import Data


class CatalogChanges:
    """Governed, audited writes to the catalog (a part of :class:`Session`)."""

    catalog: Catalog
    principal: Principal

    def check(self, action: str, securable: str) -> Decision:
        raise NotImplementedError  # pragma: no cover - Session's

    def require(self, action: str, securable: str) -> None:
        raise NotImplementedError  # pragma: no cover - Session's

    def audit_change(
        self, action: str, tables: Iterable[str] = (), *, statement: str = ""
    ) -> AbstractContextManager[Change]:
        raise NotImplementedError  # pragma: no cover - Session's

    def describe(self, table: str) -> TableInfo:
        raise NotImplementedError  # pragma: no cover - Session's

    def engine_for(self, name: str) -> Engine:
        raise NotImplementedError  # pragma: no cover - Session's

    def _require_new(self, name: str, replace: bool) -> str:
        """CREATE on the schema; replacing an existing table also needs MODIFY on it."""
        schema, table = split_name(name)
        qualified = f"{schema}.{table}"
        if replace and qualified in self.catalog.known_names():
            self.require("MODIFY", qualified)
        self.require("CREATE", schema)
        return qualified

    def _new_table(
        self, action: str, qualified: str, what: str, replace: bool, make: Callable[[], TableInfo]
    ) -> TableInfo:
        """One creation or registration: CREATE (and MODIFY to replace) checked, ``make``
        run, the attempt audited with the rows it brought."""
        with self.audit_change(action, (qualified,), statement=what) as c:
            self._require_new(qualified, replace)
            info = make()
            c.rows = info.row_count
        return info

    def create_table(
        self,
        name: str,
        data: Data,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        column_descriptions: dict[str, str] | None = None,
        column_tags: dict[str, list[str]] | None = None,
        replace: bool = False,
    ) -> TableInfo:
        """Write ``data`` as a new lake table owned by this principal (needs CREATE)."""
        qualified = "{}.{}".format(*split_name(name))
        return self._new_table(
            "create",
            qualified,
            f"create table {qualified}",
            replace,
            lambda: self.catalog.create_table(
                qualified,
                data,
                description=description,
                owner=self.principal.name,
                tags=tags,
                column_descriptions=column_descriptions,
                column_tags=column_tags,
                replace=replace,
            ),
        )

    def register_file(
        self,
        name: str,
        path: str | Path,
        *,
        format: str | None = None,
        options: dict[str, Any] | None = None,
        description: str = "",
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> TableInfo:
        """Register a CSV, Parquet or JSON file (or glob) as a table (needs CREATE)."""
        qualified = "{}.{}".format(*split_name(name))
        return self._new_table(
            "register",
            qualified,
            f"register {qualified} from file {path}",
            replace,
            lambda: self.catalog.register_file(
                qualified,
                path,
                format=format,
                options=options,
                description=description,
                owner=self.principal.name,
                tags=tags,
                replace=replace,
            ),
        )

    def register_database_table(
        self,
        name: str,
        url: str,
        source_table: str,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> TableInfo:
        """Register a table of a SQLite or PostgreSQL database (needs CREATE); the log keeps
        the URL without its password."""
        qualified = "{}.{}".format(*split_name(name))
        return self._new_table(
            "register",
            qualified,
            f"register {qualified} from {redact_url(url)} table {source_table}",
            replace,
            lambda: self.catalog.register_database_table(
                qualified,
                url,
                source_table,
                description=description,
                owner=self.principal.name,
                tags=tags,
                replace=replace,
            ),
        )

    def register_clickhouse_table(
        self,
        name: str,
        source_table: str,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> TableInfo:
        """Register ``source_table`` (``database.table``) of the workspace's ClickHouse server
        (``DAP_CLICKHOUSE_URL``); its statements run there, governed, on the live table.

        Needs MANAGE_GRANTS as well as CREATE: the engine reads it with DAP's own ClickHouse
        account, so registering hands the catalog that account's view of the table — a
        steward's decision, not an analyst's (an analyst could otherwise register a table
        another catalog name governs, as their own and unfiltered)."""
        qualified = "{}.{}".format(*split_name(name))
        database, table = check_source(source_table)
        location = f"{database}.{table}"

        def register() -> TableInfo:
            self.require("MANAGE_GRANTS", "*")
            engine = self.engine_for("clickhouse")
            if not isinstance(engine, ClickHouseEngine):  # a workspace's engines are its own
                raise DapError("the clickhouse engine of this workspace is not a server")
            native = engine.describe_native(location, self.catalog.exact_distinct_rows)
            return self.catalog.register_clickhouse_table(
                qualified,
                location,
                native,
                description=description,
                owner=self.principal.name,
                tags=tags,
                replace=replace,
            )

        what = f"register {qualified} from ClickHouse table {location}"
        return self._new_table("register", qualified, what, replace, register)

    def set_table_engine(self, name: str, engine: str | None) -> str | None:
        """Set (None: clear) the engine statements over ``name`` run on when they name none
        (:mod:`dap_kernel.engine_choice`); needs MODIFY on the table; audited."""
        if engine is not None and engine not in ENGINES:
            raise DapError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
        qualified = "{}.{}".format(*split_name(name))
        what = f"set engine of {qualified}: {engine or 'default'}"
        with self.audit_change("table_engine", (qualified,), statement=what):
            self.require("MODIFY", qualified)
            self.catalog.set_option(qualified, TABLE_ENGINE_OPTION, engine)
        return engine

    def set_schema_engine(self, schema: str, engine: str | None) -> str | None:
        """Set (None: clear) the engine statements over the tables of ``schema`` run on when
        neither they nor the table name one; needs MODIFY on the schema; audited."""
        schema = check_name(schema, "schema").lower()
        if engine is not None and engine not in ENGINES:
            raise DapError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
        what = f"set engine of schema {schema}: {engine or 'default'}"
        with self.audit_change("schema_engine", (), statement=what):
            self.require("MODIFY", schema)
            self.catalog.set_schema_option(schema, TABLE_ENGINE_OPTION, engine)
        return engine

    def engine_setting(self, name: str, *, schema: bool = False) -> tuple[str | None, str]:
        """The engine statements over table ``name`` (``schema``: over the tables of schema
        ``name``) run on when they name none, and whose setting it is (``"table"``,
        ``"schema"``; ``""``: none, ``DAP_ENGINE`` runs them). A table must be one the caller
        may see: an unknown or hidden one is reported alike."""
        if schema:
            owner = check_name(name, "schema").lower()
            return chosen_engine(None, self.catalog.schema_options(owner))
        info = self.describe(name)  # visibility; what the caller is shown leaves options out
        options = self.catalog.get(info.qualified_name).options
        return chosen_engine(options, self.catalog.schema_options(info.schema.lower()))

    def drop_table(self, name: str, *, purge: bool = False) -> None:
        """Remove a table from the catalog (``purge``: and a lake table's files).

        Only its owner or a holder of MANAGE_GRANTS may: dropping takes the table from
        everyone who reads it, which MODIFY (changing rows) does not.
        """
        qualified = "{}.{}".format(*split_name(name))
        what = f"drop table {qualified}" + (" (purge)" if purge else "")
        with self.audit_change("drop", (qualified,), statement=what):
            info = self.catalog.get(qualified)
            if info.owner != self.principal.name:
                decision = self.check("MANAGE_GRANTS", "*")
                if not decision.allowed:
                    raise QueryRefused(
                        f"{self.principal.name} may not drop {qualified}: only its owner "
                        f"({info.owner or 'none'}) or a grant manager may"
                    )
            self.catalog.drop(qualified, purge=purge)
