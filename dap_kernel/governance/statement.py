"""The govern step of one statement: checked, authorized, secured and bound, before any engine
sees it.

:meth:`~dap_kernel.session.Session.query` reads identity → govern → engine → audit; this
module is the govern step. It knows no session: what it needs of the workspace (the policy,
the resolved-policy cache, the engine's private relation names and dialect, the hash-mask key)
arrives in a :class:`Governor`, the principal and the statement's table names as arguments.

>>> from dap_kernel.engines.names import RelationNames
>>> from dap_kernel.governance.identity import Principal
>>> from dap_kernel.governance.policy import AllowAllPolicy
>>> from dap_kernel.governance.rewrite import StaticResolver
>>> governor = Governor(AllowAllPolicy(), ResolvedPolicies(), RelationNames("k"), "duckdb")
>>> governed = governor.govern(
...     "SELECT * FROM orders WHERE id = :id", {"id": 1, "x": 2},
...     Principal("ann"), StaticResolver({"main.orders"}))
>>> governed.tables, governed.params, governed.restricted
(('main.orders',), {'id': 1}, False)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..engines.names import RelationNames
from ..errors import DapError, MissingParameter, QueryRefused
from .enforce import MaskKey, policy_signature, resolve_policy, secure_tables
from .identity import Principal
from .policy import Policy, TablePolicy
from .rewrite import Prepared, Resolver, prepare

Params = Mapping[str, Any] | Sequence[Any] | None


@dataclass(frozen=True)
class Governed:
    """A statement as the engine may run it, with what the audit log and error messages say
    of it."""

    prepared: Prepared  # engine SQL: every catalog table replaced by its secured source
    params: dict[str, Any] | list[Any] | None  # the values of its placeholders, matched
    tables: tuple[str, ...]  # the catalog tables it reads (not the caller's own inputs)
    restricted: bool  # it reads filtered or masked rows: engine errors are worded for that
    shown_sql: str  # the engine SQL as it may be shown (no private names, no mask key)


@dataclass
class Trail:
    """What the audit log records of a statement, filled as far as governing got: a refused
    statement is recorded with the tables it named, a badly bound one with its rewrite."""

    tables: tuple[str, ...] = ()
    shown_sql: str = ""


class ResolvedPolicies:
    """How each principal sees each table, with its own values bound, cached per policy
    version: resolving parses filters and masks, and every statement asks for each table."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._resolved: dict[tuple[object, ...], TablePolicy | None] = {}
        self._lock = threading.Lock()

    def get(self, policy: Policy, principal: Principal, table: str) -> TablePolicy | None:
        key = (
            policy.version(),
            principal.name,
            tuple(sorted(principal.groups)),
            tuple(sorted(principal.roles)),
            repr(sorted(principal.attributes.items(), key=str)),
            table,
        )
        with self._lock:
            if key in self._resolved:
                return self._resolved[key]
        raw = policy.table_policy(principal, table)
        resolved = None if raw is None else resolve_policy(raw, principal)
        with self._lock:
            if len(self._resolved) > self.max_entries:
                self._resolved.clear()
            self._resolved[key] = resolved
        return resolved


def _no_mask_key() -> MaskKey:
    raise DapError("this workspace has no hash-mask key")


@dataclass(frozen=True)
class Governor:
    """What governing needs of a workspace, handed in (governance never imports the session).

    ``mask_key`` is called only when a hash mask is read, so a broken secret key does not
    stop every query; ``shown`` scrubs engine SQL before it is shown or hashed for the audit.
    """

    policy: Policy
    resolved: ResolvedPolicies
    names: RelationNames
    dialect: str
    mask_key: Callable[[], MaskKey] = _no_mask_key
    shown: Callable[[str], str] = str

    def govern(
        self,
        sql: str,
        params: Params,
        principal: Principal,
        resolver: Resolver,
        *,
        own: Collection[str] = frozenset(),
        as_of: tuple[str, str] | None = None,
        pins: tuple[tuple[str, int], ...] = (),
        trail: Trail | None = None,
    ) -> Governed:
        """Check and qualify ``sql``, authorize its reads, secure every catalog table and bind
        ``params``: under one policy view (and version read) for the whole statement.

        ``own`` names the caller's input tables (read as given, neither authorized nor
        secured); ``trail`` learns the tables and the shown SQL as soon as they are known.
        """
        trail = trail if trail is not None else Trail()
        policy = self.policy
        with policy.pinned():
            # Checked and qualified once per text, whoever asks (cached)...
            checked = prepare(
                sql,
                known=SuggestReadable(
                    resolver, lambda t: policy.check(principal, "SELECT", t).allowed
                ),
                write_dialect=self.dialect,
                as_of=as_of,
                pins=pins,
            )
            tables = tuple(t for t in checked.tables if t not in own)
            trail.tables = tables
            decision = policy.authorize(principal, "SELECT", tables)
            if not decision.allowed:
                raise QueryRefused(decision.reason)
            prepared, restricted = self.secure(sql, principal, resolver, own, tables, as_of, pins)
            trail.shown_sql = shown = self.shown(prepared.sql)
            bound = bind_parameters(prepared, params)
        return Governed(prepared, bound, tables, restricted, shown)

    def secure(
        self,
        sql: str,
        principal: Principal,
        resolver: Resolver,
        own: Collection[str],
        tables: tuple[str, ...],
        as_of: tuple[str, str] | None,
        pins: tuple[tuple[str, int], ...] = (),
    ) -> tuple[Prepared, bool]:
        """The statement as the engine runs it, and whether it reads governed (filtered or
        masked) rows: every catalog table replaced by its secured
        source. Always, also in single-user mode: only a secured source names the engine's raw
        relations, so a reference left alone is an unknown table, never raw rows.

        Prepared once per (text, resolved policies of its tables): users whose filters and
        masks come out the same share the rewrite.
        """
        principal = self.policy.principal_details(principal)
        policies = {t: self.resolved.get(self.policy, principal, t) for t in tables}

        def policy_for(table: str) -> TablePolicy | None:
            if table in own:
                return None  # the caller's own data
            if table not in policies:
                policies[table] = self.resolved.get(self.policy, principal, table)
            return policies[table]

        names = self.names
        # Read only when a hash mask needs it: a broken secret key must not stop every query.
        hashing = any(p is not None and "hash" in p.masks.values() for p in policies.values())
        key = self.mask_key() if hashing else None

        def secure(tree: Any) -> Any:
            return secure_tables(tree, policy_for, principal, names, key)

        scope = tuple((t, policy_signature(p)) for t, p in sorted(policies.items()))
        prepared = prepare(
            sql,
            known=resolver,
            write_dialect=self.dialect,
            steps=[secure],
            cache_scope=("secured", names.token, scope),
            as_of=as_of,
            pins=pins,
        )
        return prepared, any(p is not None for p in policies.values())


class SuggestReadable:
    """A statement's resolver whose "did you mean" names only tables the caller may read."""

    def __init__(self, inner: Resolver, may_read: Callable[[str], bool]) -> None:
        self.inner = inner
        self.may_read = may_read

    def resolve(self, qualified: Sequence[str]) -> dict[str, str]:
        return self.inner.resolve(qualified)

    def all_names(self) -> Collection[str]:
        return [n for n in self.inner.all_names() if "." not in n or self.may_read(n)]


def bind_parameters(prepared: Prepared, params: Params) -> dict[str, Any] | list[Any] | None:
    """Match the statement's placeholders with the values given, by name or by position."""
    if prepared.param_names:
        if params is None:
            raise MissingParameter(list(prepared.param_names))
        if not isinstance(params, Mapping):
            named = ", ".join(":" + n for n in prepared.param_names)
            raise DapError(f"the statement has named parameters ({named}); pass params as a dict")
        missing = [n for n in prepared.param_names if n not in params]
        if missing:
            raise MissingParameter(missing)
        return {n: params[n] for n in prepared.param_names}
    if prepared.positional_params:
        if params is None or isinstance(params, (Mapping, str)):
            raise DapError(
                f"the statement has {prepared.positional_params} positional parameter(s); "
                "pass params as a list"
            )
        if len(params) != prepared.positional_params:
            raise DapError(
                f"the statement has {prepared.positional_params} positional parameter(s) "
                f"but {len(params)} value(s) were given"
            )
        return list(params)
    return None
