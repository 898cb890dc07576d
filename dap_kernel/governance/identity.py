"""Who is calling. Every governed call carries a :class:`Principal`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings


@dataclass(frozen=True)
class Principal:
    """A user or service account; ``attributes`` (region, department, …) feed row filters."""

    name: str
    kind: str = "user"
    groups: frozenset[str] = field(default_factory=frozenset)
    # Roles held by the identity itself (an identity provider's group mapped by
    # dap_kernel.governance.claims), beside those DAP's own memberships give.
    roles: frozenset[str] = field(default_factory=frozenset)
    attributes: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    source: str = "local"  # local | jupyter | hub | apikey | service
    # The scheduled run this caller is (its API key was minted for it): what it reads is
    # recorded under the run (dap_kernel.run_reads). Not an identity: never compared.
    run: str = field(default="", compare=False)
    # The API key this caller came in with, and that key's own rate limit (requests a minute;
    # None = the service's default): whose bucket a request spends (dap_kernel.ratelimit).
    key_id: str = field(default="", compare=False)
    rate_limit_per_min: float | None = field(default=None, compare=False)

    def describe(self) -> str:
        groups = f" groups={','.join(sorted(self.groups))}" if self.groups else ""
        roles = f" roles={','.join(sorted(self.roles))}" if self.roles else ""
        return f"{self.name} ({self.kind}, via {self.source}){groups}{roles}"


def local_principal(settings: Settings) -> Principal:
    """The embedded default: the ``DAP_USER`` or the OS user running the process."""
    return Principal(name=settings.user, source="local")
