"""The one governed query path: identity → policy → rewrite → engine → audit.

Magics, the CLI, REST handlers, dashboards and scheduled runs all end up in
:meth:`Session.sql`. A :class:`Workspace` holds what is shared (metadata store, lake, engine,
catalog, audit log); a :class:`Session` is a workspace seen by one principal, cheap to create
per request.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import polars as pl
import pyarrow as pa
from sqlalchemy.exc import SQLAlchemyError

from .admission import effective_timeout
from .catalog import Catalog, TableInfo
from .catalog.governed import GovernedCatalog
from .catalog.resolve import CatalogResolver, InputResolver
from .changes import CatalogChanges
from .deadlines import shared_deadlines
from .engine_choice import engine_of_rows
from .engine_errors import with_suggestion
from .engines import ENGINES, create_engine
from .engines.base import Engine
from .engines.cancels import EarlyCancels
from .errors import (
    ConfigError,
    DapError,
    QueryCancelled,
    QueryFailed,
    QueryRefused,
    QueryTimeout,
)
from .governance.admin import PolicyAdmin
from .governance.apikeys import ApiKeys
from .governance.audit import AuditEvent, AuditLog, Change, audited
from .governance.enforce import MaskKey, governed_message
from .governance.identity import Principal, local_principal
from .governance.policy import Decision, GrantPolicy, Policy, TablePolicy
from .governance.secrets import SecretStore
from .governance.statement import Governed, Governor, ResolvedPolicies, Trail
from .lake import Lake
from .meta import MetaStore
from .results import QueryResult as QueryResult  # where the front doors import it from
from .results import ResultCache, cache_key
from .run_reads import RunReads, versions_read
from .settings import Settings
from .statement_inputs import as_of_point, to_table
from .writes import is_write, run_write

# The secret-store entry of the hash-mask key (not a connector secret: no spec may name it).
MASK_KEY_SECRET = "dap-internal:mask-key"


class Workspace:
    """Everything one DAP home holds, opened once per process."""

    def __init__(self, settings: Settings, *, policy: Policy | None = None) -> None:
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.meta = MetaStore(settings.meta_url)
        self.meta.migrate()
        self.lake = Lake(settings.lake_dir)
        self._engines: dict[str, Engine] = {}
        self._engines_lock = threading.Lock()
        self._cancels = EarlyCancels()  # handed to an engine opened after them
        # The engine of queries that name none (DAP_ENGINE), and the embedded DuckDB engine
        # that profiles sources for the catalog's statistics (the same one by default).
        self.engine: Engine = self.engine_named(settings.engine)
        self.local_engine: Engine = self.engine_named("duckdb")
        self.secrets = SecretStore(
            self.meta, settings.home / "secrets.key", env_keys=settings.secret_key
        )
        self.apikeys = ApiKeys(self.meta, settings.provider_identity_max_age_s)
        self.catalog = Catalog(
            self.meta,
            self.lake,
            self.local_engine,
            secrets=self.secrets,
            exact_distinct_rows=settings.exact_distinct_rows,
        )
        self.audit = AuditLog(self.meta, statement_max_chars=settings.audit_sql_max_chars)
        self.policy: Policy = policy or GrantPolicy(self.meta)
        self.resolved_policies = ResolvedPolicies()
        self.results = ResultCache(
            max_bytes=int(settings.result_cache_mb * 2**20), ttl_s=settings.result_cache_ttl_s
        )

    def catalog_version(self) -> int | None:
        """The metadata version the running statement read, when it provably follows the
        catalog: the workspace's grant policy reads ``policy_state.version`` once per statement
        (afresh from the database, whatever process wrote last), and every catalog write bumps
        that version in its own transaction. The catalog reuses the rows it read under one
        version (:meth:`~dap_kernel.catalog.resolve.CatalogBindings.lookup`). Any other policy
        (single-user embedders, tests) gives None: the catalog is read for every statement.
        """
        policy = self.policy
        if type(policy) is GrantPolicy and policy.meta is self.meta:
            return policy.version()  # the statement's pinned snapshot: no second read
        return None

    def resolved_policy(self, principal: Principal, table: str) -> TablePolicy | None:
        """How ``principal`` sees ``table``, with its own values bound (cached per version)."""
        return self.resolved_policies.get(self.policy, principal, table)

    def engine_named(self, name: str | None) -> Engine:
        """The workspace's engine called ``name`` (None: the default, ``DAP_ENGINE``), opened
        on first use and kept: one per process, as engines hold their bound relations."""
        name = name or self.settings.engine
        if name not in ENGINES:
            raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
        with self._engines_lock:
            engine = self._engines.get(name)
            if engine is None:
                engine = create_engine(
                    name,
                    lake_dir=self.settings.lake_dir,
                    threads=self.settings.threads,
                    memory_limit=self.settings.memory_limit,
                    spark_master=self.settings.spark_master,
                    spark_remote=self.settings.spark_remote,
                    clickhouse_url=self.settings.clickhouse_url,
                )
                for query_id in self._cancels.recent():  # it may be the one they meant
                    engine.cancel(query_id)
                self._engines[name] = engine
            return engine

    def open_engines(self) -> list[Engine]:
        """The engines opened so far (a cancel or a shutdown reaches every one)."""
        with self._engines_lock:
            return list(self._engines.values())

    def cancel(self, query_id: str) -> bool:
        """Cancel ``query_id`` on whichever engine runs it, or will: a query still being
        governed may be bound for an engine not opened yet."""
        with self._engines_lock:
            self._cancels.note(query_id)
            engines = list(self._engines.values())
        return any([engine.cancel(query_id) for engine in engines])

    def progress(self, query_id: str) -> float | None:
        for engine in self.open_engines():
            value = engine.progress(query_id)
            if value is not None:
                return value
        return None

    def governor(self, engine: Engine | None = None) -> Governor:
        """What the govern step needs of this workspace, made per statement (the policy may be
        replaced): policy, resolved policies, the engine's private names and dialect (the
        secured statement is written in it), the hash-mask key."""
        engine = engine or self.engine
        return Governor(
            self.policy,
            self.resolved_policies,
            engine.names,
            engine.dialect,
            mask_key=lambda: self.mask_key,
            shown=lambda sql: self.shown_sql(sql, engine),
        )

    @functools.cached_property
    def mask_key(self) -> MaskKey:
        """The key of ``hash`` masks: random per workspace, kept in the encrypted secret store
        (created on first use), so every process of one workspace hashes alike."""
        if MASK_KEY_SECRET not in self.secrets.names():
            with contextlib.suppress(SQLAlchemyError):  # another process created it first
                self.secrets.add(MASK_KEY_SECRET, os.urandom(32).hex())
        # A key that does not decrypt (a wrong or lost secret key) is an error, never replaced:
        # a new one would silently change every hash mask, and the old one would be gone.
        secret = self.secrets.get(MASK_KEY_SECRET)
        return MaskKey.from_secret(bytes.fromhex(secret))

    def shown_sql(self, sql: str, engine: Engine | None = None) -> str:
        """Engine SQL as it may be shown or logged: without the engine's private names and
        without the hash-mask key."""
        sql = (engine or self.engine).names.scrub(sql)
        key = self.__dict__.get("mask_key")  # only if this process has read it
        if isinstance(key, MaskKey):
            sql = sql.replace(key.inner, "…").replace(key.outer, "…")
        return sql

    def admin(self, actor: str | None = None) -> PolicyAdmin:
        """Change users, groups, grants, filters and masks (recorded as ``actor``).

        Once multi-user mode is on, only holders of MANAGE_GRANTS (admins, stewards) may.
        """
        name = actor or self.settings.user
        self.require_manager(name)
        return PolicyAdmin(self.meta, self.audit, name)

    def require_manager(self, name: str) -> None:
        """Refuse administrative reads and changes to anyone without MANAGE_GRANTS."""
        if not self.policy.check(Principal(name=name), "MANAGE_GRANTS", "*").allowed:
            raise QueryRefused(f"{name} may not administer DAP: MANAGE_GRANTS is needed")

    def session(self, principal: Principal | None = None, *, channel: str = "python") -> Session:
        """``channel`` names the front door (magic, cli, rest, …) in the audit log."""
        return Session(self, principal or local_principal(self.settings), channel=channel)

    def close(self) -> None:
        self.audit.close()
        for engine in self.open_engines():
            engine.close()
        self.meta.dispose()


class Session(CatalogChanges):
    """A workspace as seen by one principal: the governed core.

    Queries here, catalog writes in :class:`~dap_kernel.changes.CatalogChanges`. The features
    (ingest, lineage, quality, export) sit above it and take it as a parameter;
    :class:`~dap_kernel.local.LocalClient` puts them together as the in-process client.
    """

    def __init__(self, workspace: Workspace, principal: Principal, channel: str = "python") -> None:
        self.workspace = workspace
        self.principal = principal
        self.channel = channel
        self.catalog = workspace.catalog

    # -- the governed path ------------------------------------------------------------------

    def sql(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        limit: int | None = None,
        as_of: int | str | datetime | None = None,
        inputs: Mapping[str, pa.Table | pl.DataFrame] | None = None,
        engine: str | None = None,
    ) -> pl.DataFrame:
        """Run one governed query and return a polars DataFrame."""
        return self.query(
            sql, params, limit=limit, as_of=as_of, inputs=inputs, engine=engine
        ).to_polars()

    def query(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        limit: int | None = None,
        query_id: str | None = None,
        on_batch: Callable[[int], None] | None = None,
        cache: bool = False,
        timeout_s: float | None = None,
        as_of: int | str | datetime | None = None,
        inputs: Mapping[str, pa.Table | pl.DataFrame] | None = None,
        engine: str | None = None,
    ) -> QueryResult:
        """Run one governed query and return the Arrow result with its timing.

        ``cache=True`` answers a repeated statement (same rewritten SQL, parameters and table
        versions) from the workspace's result cache: what dashboards and reports want.
        ``timeout_s`` lowers ``DAP_QUERY_TIMEOUT`` for this query (never past
        ``DAP_MAX_QUERY_TIMEOUT``). ``as_of`` (a Delta version number or a point in time)
        reads every table as it was then. ``inputs`` are the caller's own tables, visible to
        this one statement by name (a pipeline's batch). ``engine`` names the engine that runs
        it (default ``DAP_ENGINE``): the same governed statement, transpiled to its dialect.
        ``CREATE TABLE … AS SELECT`` and ``INSERT INTO … SELECT`` write lake tables (governed
        read, one commit, lineage recorded).
        """
        if is_write(sql):
            return run_write(
                self,
                sql,
                params,
                query_id=query_id,
                timeout_s=timeout_s,
                inputs=inputs,
                engine=engine,
            )
        query_id = query_id or uuid.uuid4().hex
        started = time.perf_counter()
        runner = self.workspace.engine_named(engine)
        travel = as_of_point(as_of)
        resolver = self._resolver(inputs, query_id)
        own = resolver.input_tables if isinstance(resolver, InputResolver) else set()
        pins = self._pins if travel is None else ()
        trail = Trail()  # what the audit records if the statement stops partway
        try:
            runner, governed = self._govern(
                sql, params, runner, resolver, own, travel, pins, trail, choose=engine is None
            )
            table, cached = self._run(
                sql,
                governed,
                resolver,
                query_id,
                limit,
                on_batch,
                timeout_s,
                cache and not own,
                runner,
            )
        except DapError as e:
            self.audit_statement(
                sql,
                trail.tables,
                "refused" if isinstance(e, QueryRefused) else "failed",
                reason=_on_engine(f"{e.code}: {e.message}", runner),
                started=started,
                rewritten=trail.shown_sql,
            )
            raise
        elapsed_ms = (time.perf_counter() - started) * 1000
        tables, shown = governed.tables, governed.shown_sql
        self.audit_statement(
            sql,
            tables,
            "allowed",
            rows=table.num_rows,
            started=started,
            rewritten=shown,
            reason=_on_engine("", runner),
        )
        return QueryResult(table, query_id, elapsed_ms, tables, shown, cached=cached)

    def _govern(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None,
        runner: Engine,
        resolver: CatalogResolver | InputResolver,
        own: set[str],
        travel: tuple[str, str] | None,
        pins: tuple[tuple[str, int], ...],
        trail: Trail,
        *,
        choose: bool,
    ) -> tuple[Engine, Governed]:
        """The secured statement for ``runner``, or (``choose``: the statement named no engine)
        for the engine its tables are set to (:mod:`.engine_choice`), governed again in that
        engine's dialect. One policy version for both."""
        ws = self.workspace
        with ws.policy.pinned():
            governed = ws.governor(runner).govern(
                sql, params, self.principal, resolver, own=own, as_of=travel, pins=pins, trail=trail
            )
            if not choose:
                return runner, governed
            catalog = resolver.inner if isinstance(resolver, InputResolver) else resolver
            chosen = engine_of_rows(catalog.rows)  # the rows govern read: no second read
            if chosen is None or chosen == runner.name:
                return runner, governed
            runner = ws.engine_named(chosen)
            governed = ws.governor(runner).govern(
                sql, params, self.principal, resolver, own=own, as_of=travel, pins=pins, trail=trail
            )
            return runner, governed

    def _resolver(
        self, inputs: Mapping[str, pa.Table | pl.DataFrame] | None, query_id: str
    ) -> CatalogResolver | InputResolver:
        """The names one statement reads: the catalog's, and the caller's own input tables."""
        catalog = self.catalog.resolver(self.workspace.catalog_version)
        if not inputs:
            return catalog
        tables = {name: to_table(data) for name, data in inputs.items()}
        return InputResolver(catalog, tables, query_id[:16])

    def _run(
        self,
        sql: str,
        governed: Governed,
        resolver: CatalogResolver | InputResolver,
        query_id: str,
        limit: int | None,
        on_batch: Callable[[int], None] | None,
        timeout_s: float | None,
        cache: bool,
        engine: Engine,
    ) -> tuple[pa.Table, bool]:
        """The engine step: bind what the statement reads, answer from the result cache or run
        it, word an engine error for what the caller may see. Also whether it was cached."""
        ws = self.workspace
        prepared, bound = governed.prepared, governed.params
        bindings = resolver.bindings()
        bindings += [self.catalog.binding_at(t) for t in prepared.travels]
        if self.principal.run:  # what its re-run as recorded reads
            RunReads(ws.meta).record(self.principal.run, versions_read(governed.tables, bindings))
        # Keyed by the engine and its SQL without the engine's private token, so that every
        # process of a service finds the same key (the token differs per process); no answer
        # crosses engines.
        shared_sql = f"{engine.name}:{engine.names.scrub(prepared.sql)}"
        key = cache_key(shared_sql, (bound, limit), bindings) if cache else None
        cached = ws.results.get(key) if key is not None else None
        if cached is not None:
            return cached, True
        engine.bind(bindings)
        try:
            table = self._execute(engine, prepared.sql, bound, query_id, limit, on_batch, timeout_s)
        except QueryFailed as e:
            failed = with_suggestion(e, sql, lambda: self._visible_columns(governed.tables))
            raise (
                QueryFailed(governed_message(failed)) if governed.restricted else failed
            ) from None
        finally:
            if isinstance(resolver, InputResolver):
                for binding in resolver.input_bindings():
                    engine.unbind(binding)
        if key is not None:
            ws.results.put(key, table)
        return table, False

    def _visible_columns(self, tables: Sequence[str]) -> dict[str, list[str]]:
        """The columns the caller sees in each table (named in a did-you-mean, nothing else)."""
        principal = self.workspace.policy.principal_details(self.principal)
        seen: dict[str, list[str]] = {}
        for t in tables:
            policy = self.workspace.resolved_policy(principal, t)
            if policy is not None and policy.columns:  # as its secured source shows it
                seen[t] = [name for name, _ in policy.columns]
            else:
                with contextlib.suppress(DapError):  # dropped meanwhile: nothing to suggest
                    seen[t] = [c.name for c in self.catalog.get(t).columns]
        return seen

    @functools.cached_property
    def _pins(self) -> tuple[tuple[str, int], ...]:
        """Table versions this session must read: those of the run it re-runs as recorded
        (:mod:`dap_kernel.run_reads`), read once per session; none for any other caller."""
        if not self.principal.run:
            return ()
        return tuple(sorted(RunReads(self.workspace.meta).pins(self.principal.run).items()))

    def _execute(
        self,
        engine: Engine,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None,
        query_id: str,
        limit: int | None,
        on_batch: Callable[[int], None] | None,
        timeout_s: float | None = None,
    ) -> pa.Table:
        """Run on the engine, stopped after ``DAP_QUERY_TIMEOUT`` seconds when that is set."""
        # The caller may lower the timeout, never raise it past the configured maximum.
        timeout = effective_timeout(timeout_s, self.workspace.settings)
        if timeout <= 0:
            return engine.execute(sql, params, query_id=query_id, limit=limit, on_batch=on_batch)
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()  # before cancelling: the query may fail the moment it is interrupted
            engine.cancel(query_id)

        deadline = shared_deadlines().after(timeout, stop)  # one watchdog thread, not a Timer
        try:
            return engine.execute(sql, params, query_id=query_id, limit=limit, on_batch=on_batch)
        except QueryCancelled as e:
            if timed_out.is_set():
                raise QueryTimeout(
                    f"the query ran longer than {timeout:g} s (the query timeout) and was stopped"
                ) from e
            raise
        finally:
            deadline.cancel()

    def cancel(self, query_id: str) -> bool:
        return self.workspace.cancel(query_id)

    def progress(self, query_id: str) -> float | None:
        return self.workspace.progress(query_id)

    def audit_statement(
        self,
        sql: str,
        tables: Sequence[str],
        decision: str,
        *,
        started: float,
        reason: str = "",
        rows: int | None = None,
        rewritten: str = "",
        action: str = "query",
    ) -> None:
        """Record one statement (a query or a write) and its outcome in the audit log."""
        self.workspace.audit.record(
            AuditEvent(
                principal=self.principal.name,
                action=action,
                decision=decision,
                statement=sql,
                tables=tuple(tables),
                reason=reason,
                row_count=rows,
                elapsed_ms=(time.perf_counter() - started) * 1000,
                channel=self.channel,
                rewritten_sha256=hashlib.sha256(rewritten.encode()).hexdigest()
                if rewritten
                else "",
            )
        )

    def audit_change(
        self, action: str, tables: Iterable[str] = (), *, statement: str = ""
    ) -> AbstractContextManager[Change]:
        """Audit a change of data made in the block, in the same chain as queries.

        >>> with session.audit_change("ingest", ["main.sales"], statement="…") as change:
        ...     change.rows = load()  # doctest: +SKIP

        The record says allowed, refused (a :class:`QueryRefused` left the block) or failed
        (any other error); ``change.touch(table)`` names more tables the change wrote.
        """
        change = Change(action, list(tables), statement)
        return audited(self.workspace.audit, self.principal.name, self.channel, change)

    def engine_for(self, name: str) -> Engine:
        """The workspace's engine called ``name`` (what a catalog change asks a server)."""
        return self.workspace.engine_named(name)

    def check(self, action: str, securable: str) -> Decision:
        """May this principal do ``action`` on ``securable``? (REST access/check, the lab UI)."""
        return self.workspace.policy.check(self.principal, action, securable)

    def require(self, action: str, securable: str) -> None:
        """Raise :class:`QueryRefused` unless this principal may ``action`` the securable."""
        decision = self.check(action, securable)
        if not decision.allowed:
            raise QueryRefused(decision.reason)

    @property
    def governed_catalog(self) -> GovernedCatalog:
        """The catalog as this principal may see it (the reads every front door shows).

        :attr:`catalog` is the workspace's own, for the core's writes and bindings; what a
        person is shown of it comes from here: only tables they may read, no columns beyond
        their grant, no statistics of masked columns or of a row-filtered table.
        """
        return GovernedCatalog(self.catalog, self.workspace.policy, self.principal)

    def visible_tables(self, term: str = "") -> list[TableInfo]:
        """The tables this principal may read, as it may see them, or a search of them."""
        return self.governed_catalog.search(term)

    def describe(self, table: str) -> TableInfo:
        """One table as this principal may see it (:class:`QueryRefused` if it may not read
        it): what ``%dap describe``, ``dap catalog show`` and ``dap.catalog.get`` print."""
        return self.governed_catalog.get(table)

    def whoami(self) -> dict[str, Any]:
        return {
            "user": self.principal.name,
            "kind": self.principal.kind,
            "source": self.principal.source,
            "groups": sorted(self.principal.groups),
            "roles": sorted(self.principal.roles),
            "home": str(self.workspace.settings.home),
            "engine": self.workspace.settings.engine,
            "policy": type(self.workspace.policy).__name__,
        }


def _on_engine(reason: str, engine: Engine) -> str:
    """The audit reason of a statement, naming the engine unless it ran on the embedded
    default (DuckDB): which engine answered is part of what was decided."""
    if engine.name == "duckdb":
        return reason
    return f"{reason} (engine {engine.name})" if reason else f"engine {engine.name}"


_default: Workspace | None = None
_default_lock = threading.Lock()


def default_workspace() -> Workspace:
    """The process-wide workspace from ``DAP_*`` settings, opened on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Workspace(Settings.from_env())
        return _default


def reset_default_workspace() -> None:
    """Forget the process-wide workspace (tests, or after changing ``DAP_HOME``)."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
        _default = None
