"""Who may do what with connectors, in one place: every door (CLI, REST, Python) calls these.

A connector carries credentials that DAP uses with its own rights, so defining, redefining or
removing one is an administrative act (CREATE on ``*``), and using one — listing it, testing it,
extracting from it — needs USE_CONNECTOR on ``connector:NAME`` (or on ``*``). The registry
itself (:class:`~dap_kernel.connectors.registry.Connectors`) knows no principals.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..governance.identity import Principal
from ..governance.policy import Decision
from .registry import ConnectorInfo, Connectors, ConnectorTest, securable, usable_connectors


class Caller(Protocol):
    """What is needed of a session: who it is and its policy checks."""

    principal: Principal

    def check(self, action: str, securable: str) -> Decision: ...

    def require(self, action: str, securable: str) -> None: ...


class GovernedConnectors:
    """The connector registry as one principal may use it."""

    def __init__(self, session: Caller, connectors: Connectors) -> None:
        self.session = session
        self.connectors = connectors

    def list(self) -> list[ConnectorInfo]:
        """The connectors the caller may use (refused outright if none)."""
        session: Any = self.session  # usable_connectors types it as a Session
        return usable_connectors(session, self.connectors)

    def create(
        self, name: str, url: str, *, description: str = "", replace: bool = False
    ) -> ConnectorInfo:
        """Define (or redefine) a connector, owned by the caller."""
        self.session.require("CREATE", "*")
        return self.connectors.create(
            name,
            url,
            owner=self.session.principal.name,
            description=description,
            replace=replace,
        )

    def test(self, name: str, *, timeout_s: float = 10.0) -> ConnectorTest:
        """Try to reach the source, as someone allowed to use it."""
        self.session.require("USE_CONNECTOR", securable(name))
        return self.connectors.test(name, timeout_s=timeout_s)

    def delete(self, name: str) -> None:
        """Remove a connector and its stored credentials."""
        self.session.require("CREATE", "*")
        self.connectors.delete(name)
