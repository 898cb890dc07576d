"""The engine interface: run already-governed SQL and return Arrow."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

Params = Mapping[str, Any] | Sequence[Any] | None


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

    dialect: str

    @abstractmethod
    def bind(self, bindings: Sequence[Binding]) -> None:
        """Make these catalog tables visible to the next ``execute``."""

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

    @abstractmethod
    def cancel(self, query_id: str) -> bool:
        """Interrupt a running query; True if one was running under that id."""

    @abstractmethod
    def progress(self, query_id: str) -> float | None:
        """Percent done of a running query, or None when unknown."""

    @abstractmethod
    def close(self) -> None: ...
