"""Governance: who is asking, whether they may, what the statement may touch, and the record."""

from __future__ import annotations

from .identity import Principal, local_principal
from .policy import AllowAllPolicy, Decision, Policy

__all__ = ["AllowAllPolicy", "Decision", "Policy", "Principal", "local_principal"]
