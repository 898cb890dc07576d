"""The caller's client, for the doors called without a session (``dap.quality.check(...)``):
in this process or the DAP service. Found through :mod:`dap_kernel.caller`, so no feature
imports the client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..caller import default_client
from .results import QualityReport
from .rules import Rule

if TYPE_CHECKING:
    from ..session import QueryResult


class Queries(Protocol):
    """Governed SQL, for the keys a ``foreign_key`` rule looks up (any session or client)."""

    def query(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None
    ) -> QueryResult: ...


class QualityClient(Queries, Protocol):
    """The caller's client as ``dap.quality.check`` / ``set_rules`` without a session use it."""

    def quality_check(
        self,
        table: str,
        rules: Sequence[Mapping[str, Any] | Rule] | str | Path | None = None,
        *,
        write_failures: bool = False,
    ) -> QualityReport: ...

    def set_quality_rules(
        self, table: str, rules: Sequence[Mapping[str, Any] | Rule] | str | Path
    ) -> list[Rule]: ...


def _default_client() -> QualityClient:
    client: QualityClient = default_client()
    return client
