"""The engine contract: everything the governed core needs of an engine, and nothing more.

An engine runs SQL that the governed core already produced (the *secured statement*: every
catalog table replaced by its filtered, masked source, transpiled by sqlglot to
:attr:`Engine.dialect`). It never sees a user's own SQL. What it must provide:

- **bind / unbind**: make catalog tables visible under private names (:attr:`Engine.names`)
  that user SQL cannot spell, from a :class:`Binding` (a Delta snapshot's files, a registered
  file, or Arrow data);
- **execute**: run one statement and return Arrow, stopping after ``limit`` rows and telling
  ``on_batch`` how many rows have arrived;
- **cancel / progress** of a running query by its id (:attr:`Engine.capabilities` says whether
  they do anything);
- **execute_internal**: trusted SQL written by DAP itself, in the engine's dialect.

Fail closed on every engine: the only way from an engine's SQL to a governed table's rows is a
bound private relation, and the engine itself is locked down so SQL cannot read files, the
network or settings on its own (DuckDB: ``enable_external_access=false``; chDB: read-only
queries and a check of the final SQL — see each engine's module).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ..errors import QueryFailed
from .names import RelationNames

Params = Mapping[str, Any] | Sequence[Any] | None

# What an engine can do beyond running a statement (``Engine.capabilities``).
CANCEL = "cancel"  # cancel() interrupts a running query
PROGRESS = "progress"  # progress() reports a percentage
STREAM = "stream"  # results arrive in batches (on_batch is called as they do)
PARAMS = "params"  # placeholders are bound by the engine (else substituted as literals)

# The catalog option that sets the engine of a table (dap_kernel.engine_choice): DAP's own,
# never handed to an engine's file reader with the table's reader options.
TABLE_ENGINE_OPTION = "engine"
# The catalog kind of a table that lives in the workspace's ClickHouse server
# (:mod:`dap_kernel.engines.clickhouse_native`): only the clickhouse engine can read it.
CLICKHOUSE_KIND = "clickhouse"


def only_on_clickhouse(schema: str, name: str) -> QueryFailed:
    """What another engine says of a table that lives in the ClickHouse server."""
    return QueryFailed(
        f"{schema}.{name} lives in the ClickHouse server: run the statement on the clickhouse "
        "engine (--engine clickhouse)"
    )


@dataclass(frozen=True)
class Binding:
    """How the engine makes one catalog table visible under its qualified name.

    ``signature`` changes whenever what the table resolves to changes (a new Delta version, a
    new location), so an engine can cache its view until then.
    """

    schema: str
    name: str
    kind: str
    location: str
    signature: str
    files: tuple[str, ...] = ()
    arrow: pa.Table | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


class Engine(ABC):
    """What the governed session needs from an engine. Implementations never see raw user SQL."""

    name: str  # what DAP_ENGINE and ``--engine`` call it
    dialect: str  # the sqlglot dialect the secured statement is transpiled to
    capabilities: frozenset[str] = frozenset()
    names: RelationNames  # the private names of bound relations (random per engine)

    @abstractmethod
    def bind(self, bindings: Sequence[Binding]) -> None:
        """Make these catalog tables visible to the next ``execute``."""

    @abstractmethod
    def unbind(self, binding: Binding) -> None:
        """Forget one bound relation (a caller's input table, a profiling probe)."""

    @abstractmethod
    def relation(self, schema: str, name: str) -> str:
        """The engine's own (quoted) name of a bound relation, for SQL written by DAP itself."""

    @abstractmethod
    def execute(
        self,
        sql: str,
        params: Params = None,
        *,
        query_id: str | None = None,
        limit: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> pa.Table:
        """Run one statement and return its result; ``limit`` stops fetching after N rows."""

    def execute_internal(self, sql: str) -> pa.Table:
        """Trusted SQL written by DAP itself (statistics, health checks), never by a user."""
        return self.execute(sql)

    @abstractmethod
    def cancel(self, query_id: str) -> bool:
        """Interrupt a running query; True if one was running under that id."""

    @abstractmethod
    def progress(self, query_id: str) -> float | None:
        """Percent done of a running query, or None when unknown."""

    @abstractmethod
    def close(self) -> None: ...
