"""Authorization decisions. The foundation ships allow-all for the single local user.

The governance issue replaces :class:`AllowAllPolicy` with grants, row filters and masks; the
session already asks a policy for every table a statement reads, so front doors stay as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from .identity import Principal


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


class Policy(Protocol):
    def authorize(self, principal: Principal, action: str, tables: Sequence[str]) -> Decision: ...


class AllowAllPolicy:
    """Everything is allowed: the single-user embedded default (``dap init`` without
    ``--multi-user``)."""

    def authorize(self, principal: Principal, action: str, tables: Sequence[str]) -> Decision:
        return Decision(True, f"single-user mode: {principal.name} may {action}")
