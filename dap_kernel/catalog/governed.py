"""The catalog as one principal may see it: the one place metadata is governed.

Metadata is data: the minimum and maximum of a masked e-mail column *are* e-mails, the distinct
values of a filtered ``region`` column name the regions the filter hides, and a row count over a
filtered table tells how many rows are hidden. So every front door (``%dap catalog`` and
``describe``, ``dap catalog list/show/search``, ``dap.catalog.*``, the dashboards' Explore, REST
``catalog`` and ``catalog/{table}``) asks :class:`GovernedCatalog`, and it answers by the same
policy that rewrites queries (:meth:`~dap_kernel.governance.policy.Policy.table_policy`):

* a table the caller may not read is not listed (or listed as *denied*, with its documentation
  but no counts and no columns, when a UI asks to grey it out);
* columns beyond a column-level grant are absent;
* statistics of a masked column (nulls, distinct, min, max) are hidden;
* every statistic of a table the caller sees through a row filter is hidden, and its row count
  too: they describe rows the filter hides;
* where the data lives and how DAP reads it (location, reader options) stay with the service.

Sample rows are not metadata: a door that shows them runs a governed query
(:meth:`~dap_kernel.session.Session.query`). In single-user mode (or for a holder of
MANAGE_GRANTS, who sees every table as stored) the answers are the catalog's own.

>>> view = GovernedCatalog(workspace.catalog, workspace.policy, principal)  # doctest: +SKIP
>>> view.get("customers").columns[0].min_value                              # doctest: +SKIP
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace

from ..errors import QueryRefused, UnknownTable
from ..governance.identity import Principal
from ..governance.policy import Policy, TablePolicy
from ..names import split_name
from .index import CatalogIndex
from .models import ColumnInfo, TableInfo


@dataclass(frozen=True)
class GovernedTable:
    """One table as the caller sees it: ``info`` is already stripped of what they may not see."""

    info: TableInfo
    readable: bool = True
    masked: frozenset[str] = field(default_factory=frozenset)
    row_filtered: bool = False

    @property
    def partial(self) -> bool:
        """The caller sees this table through a row filter or a mask: figures computed over
        the whole table (row counts, quality failure counts, freshness) are not theirs."""
        return self.row_filtered or bool(self.masked)


def governed_table(
    info: TableInfo, view: TablePolicy | None, *, readable: bool = True, internals: bool = True
) -> GovernedTable:
    """``info`` cut down to what a caller with policy ``view`` may see (pure: no store read).

    ``view`` None means no rule applies to this caller (single-user mode, a manager, a table
    without filters, masks or column grants for them). ``internals``: the caller may see where
    the data lives and how DAP reads it (location, reader options).
    """
    if not readable:
        denied = replace(info, location="", options={}, row_count=None, columns=[])
        return GovernedTable(denied, readable=False)
    if not internals:
        info = replace(info, location="", options={})
    if view is None:
        return GovernedTable(info)
    visible = {name for name, _type in view.columns}
    masks = frozenset(view.masks)
    filtered = bool(view.row_filters)
    columns = [
        _column(c, hide=filtered or c.name in masks) for c in info.columns if c.name in visible
    ]
    seen = replace(info, row_count=None if filtered else info.row_count, columns=columns)
    return GovernedTable(seen, masked=masks & visible, row_filtered=filtered)


def _column(c: ColumnInfo, *, hide: bool) -> ColumnInfo:
    if not hide:
        return c
    return replace(
        c,
        null_count=None,
        distinct_count=None,
        distinct_approx=False,
        min_value=None,
        max_value=None,
    )


class GovernedCatalog:
    """The catalog reads (``get``, ``list_tables``, ``search``) of one principal.

    It satisfies :class:`~dap_kernel.client.CatalogReader`, so ``dap.catalog.get`` reads the
    same answer in-process as over HTTP.
    """

    def __init__(self, catalog: CatalogIndex, policy: Policy, principal: Principal) -> None:
        self.catalog = catalog
        self.policy = policy
        self.principal = principal

    # -- the governed answers -------------------------------------------------------------

    def describe(self, name: str) -> GovernedTable:
        """One table the caller may read; :class:`UnknownTable` (naming only tables the caller
        may see) or :class:`QueryRefused` otherwise."""
        with self.policy.pinned():
            try:
                info = self.catalog.get(name)
            except UnknownTable:
                raise UnknownTable(self._unknown(name)) from None
            entry = self._entry(info)
            if not entry.readable:
                decision = self.policy.check(self.principal, "SELECT", info.qualified_name)
                raise QueryRefused(decision.reason)
            return entry

    def readable(self, name: str) -> GovernedTable:
        """Like :meth:`describe`, but a table the caller may not read is answered exactly as a
        missing one (:class:`UnknownTable`, the same message): for answers about a table's
        contents (quality results, …) that must not tell a stranger the table exists."""
        with self.policy.pinned():
            try:
                entry = self._entry(self.catalog.get(name))
            except UnknownTable:
                entry = None
            if entry is None or not entry.readable:
                raise UnknownTable(self._unknown(name)) from None
            return entry

    def find(self, name: str) -> TableInfo:
        """The table as stored, for the core to act on after its own privilege check; when
        there is none, "did you mean" names only tables the caller may read (the store's own
        message suggests any table)."""
        try:
            return self.catalog.get(name)
        except UnknownTable:
            wanted = "{}.{}".format(*split_name(name))
            raise UnknownTable(f"table {wanted} is not in the catalog{self._hint(name)}") from None

    def entries(self, term: str = "", *, include_denied: bool = False) -> list[GovernedTable]:
        """Tables the caller may read (a search matches only what they see of each), or with
        ``include_denied`` every table, those they may not read flagged and emptied."""
        with self.policy.pinned():
            found = [self._entry(t) for t in self.catalog.list_tables()]
        if not include_denied:
            found = [e for e in found if e.readable]
        needle = term.strip().lower()
        if needle:
            found = [e for e in found if _matches(e.info, needle)]
        return found

    # -- CatalogReader --------------------------------------------------------------------

    def get(self, name: str) -> TableInfo:
        return self.describe(name).info

    def list_tables(self, schema: str | None = None) -> list[TableInfo]:
        return [e.info for e in self.entries() if schema is None or e.info.schema == schema]

    def search(self, term: str) -> list[TableInfo]:
        return [e.info for e in self.entries(term)]

    # -- helpers --------------------------------------------------------------------------

    def _entry(self, info: TableInfo) -> GovernedTable:
        policy = self.policy
        if not policy.enforcing():
            return GovernedTable(info)
        name = info.qualified_name
        if not policy.check(self.principal, "SELECT", name).allowed:
            return governed_table(info, None, readable=False)
        principal = policy.principal_details(self.principal)
        return governed_table(
            info,
            policy.table_policy(principal, name),
            internals=policy.check(self.principal, "MANAGE_GRANTS", name).allowed,
        )

    def _unknown(self, name: str) -> str:
        """The message for a missing table: "did you mean" names only readable tables."""
        return f"no table {name} in the catalog{self._hint(name)}"

    def _hint(self, name: str) -> str:
        wanted = "{}.{}".format(*split_name(name))
        names = [e.info.qualified_name for e in self.entries()]
        close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.6)
        return f"; did you mean {', '.join(close)}?" if close else ""


def _matches(info: TableInfo, needle: str) -> bool:
    texts = [info.qualified_name, info.description, *info.tags]
    for c in info.columns:
        texts += [c.name, c.description, *c.tags]
    return any(needle in text.lower() for text in texts)
