"""API keys: shown once, stored as a SHA-256 hash, scoped, optionally expiring, revocable.

A key looks like ``dap_<key id>_<secret>``. The id finds the row; the secret is compared with
its stored hash in constant time. Keys carry 256 bits of randomness, so a fast hash is enough
(no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, select, update

from ..errors import DapError, QueryRefused
from ..meta import MetaStore
from ..meta.models import ApiKey, ProviderIdentity
from . import provider_identity
from .audit import AuditLog, Change, audited
from .identity import Principal
from .policy import Policy

SCOPES = ("query", "read-catalog", "admin")
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyError(DapError):
    """The key is unknown, malformed, expired or revoked: one message for all, on purpose."""

    code = "invalid_api_key"
    http_status = 401


class InsufficientScope(ApiKeyError):
    """A valid key used for something its scopes do not cover."""

    code = "insufficient_scope"
    http_status = 403


class UnknownKey(QueryRefused):
    """Not one of the caller's keys: someone else's is reported exactly like one never made."""

    code = "unknown_api_key"
    http_status = 404


@dataclass(frozen=True)
class ApiKeyInfo:
    key_id: str
    name: str
    principal: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    rate_limit_per_min: int | None = None  # None: the service's default (0: no limit)

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and _aware(self.expires_at) <= datetime.now(UTC):
            return "expired"
        return "active"


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=row.key_id,
        name=row.name,
        principal=row.principal,
        scopes=list(row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        rate_limit_per_min=row.rate_limit_per_min,
    )


def _key_and_owner() -> Select[Any]:
    """The key and its owner's provider groups in one statement, built once: this runs on
    every API request, and building a Core statement cost more than running it. It stays a
    Core statement (compiled once by :meth:`MetaStore.first_row`), so the column types still
    turn SQLite's text into datetimes and lists."""
    keys = cast(Table, ApiKey.__table__)
    known = cast(Table, ProviderIdentity.__table__)
    return (
        select(
            keys.c.key_hash,
            keys.c.principal,
            keys.c.scopes,
            keys.c.expires_at,
            keys.c.revoked_at,
            keys.c.last_used_at,
            keys.c.run_id,
            keys.c.rate_limit_per_min,
            known.c.groups,
            known.c.roles,
            known.c.seen_at,
        )
        .select_from(keys.outerjoin(known, known.c.name == keys.c.principal))
        .where(keys.c.key_id == bindparam("key_id"))
    )


_KEY_AND_OWNER = _key_and_owner()


class ApiKeys:
    def __init__(
        self, meta: MetaStore, provider_max_age_s: float = provider_identity.DEFAULT_MAX_AGE_S
    ) -> None:
        self.meta = meta
        # A hub user's key carries the provider's groups as last seen, this long at most.
        self.provider_max_age_s = provider_max_age_s

    def create(
        self,
        principal: str,
        name: str,
        *,
        scopes: list[str] | None = None,
        expires_in_days: float | None = None,
        run_id: str | None = None,
        rate_limit_per_min: int | None = None,
    ) -> tuple[ApiKeyInfo, str]:
        """A new key for ``principal``; the returned token is the only copy of the secret.

        ``run_id`` binds the key to one scheduled run (minted by the scheduler, revoked when
        the run ends): the queries made with it are recorded under that run."""
        scopes = scopes or ["query", "read-catalog"]
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            raise DapError(f"unknown scope {', '.join(unknown)}: use {', '.join(SCOPES)}")
        if expires_in_days is not None and expires_in_days <= 0:
            raise DapError("--expires-days must be greater than 0")
        if rate_limit_per_min is not None and rate_limit_per_min < 0:
            raise DapError("a key's rate limit is 0 (no limit) or more requests a minute")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
        with self.meta.session() as s:
            row = ApiKey(
                key_id=key_id,
                name=name,
                principal=principal,
                key_hash=_hash(secret),
                scopes=scopes,
                expires_at=expires,
                run_id=run_id,
                rate_limit_per_min=rate_limit_per_min,
            )
            s.add(row)
            s.flush()
            info = _info(row)
        return info, f"dap_{key_id}_{secret}"

    def authenticate(self, token: str, scope: str | None = None) -> Principal:
        """The principal behind a key, or :class:`ApiKeyError`; records the time of use."""
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != "dap":
            raise ApiKeyError("invalid API key")
        _, key_id, secret = parts
        # Every request reads the row again (a revoked key stops at once), on a driver
        # connection: the Core connection's begin and commit were most of the check's cost.
        row: Any = self.meta.first_row(_KEY_AND_OWNER, {"key_id": key_id})
        if row is None or not hmac.compare_digest(row.key_hash, _hash(secret)):
            raise ApiKeyError("invalid API key")
        now = datetime.now(UTC)
        if row.revoked_at is not None:
            raise ApiKeyError(f"API key {key_id} is revoked")
        if row.expires_at is not None and _aware(row.expires_at) <= now:
            raise ApiKeyError(f"API key {key_id} is expired")
        if scope and scope not in row.scopes and "admin" not in row.scopes:
            raise InsufficientScope(f"API key {key_id} does not have the {scope!r} scope")
        # A write per request would serialise every API call on the metadata database:
        # "last used" to the minute is what an admin needs.
        last = row.last_used_at
        if last is None or now - _aware(last) > LAST_USED_RESOLUTION:
            keys = cast(Table, ApiKey.__table__)
            with self.meta.connection() as con:
                con.execute(update(keys).where(keys.c.key_id == key_id).values(last_used_at=now))
        groups, roles = provider_identity.recorded(
            row.groups, row.roles, row.seen_at, self.provider_max_age_s, now
        )
        return Principal(
            name=row.principal,
            groups=groups,
            roles=roles,
            source="apikey",
            run=row.run_id or "",
            key_id=key_id,
            rate_limit_per_min=row.rate_limit_per_min,
        )

    def list_keys(self, principal: str | None = None) -> list[ApiKeyInfo]:
        with self.meta.session() as s:
            query = select(ApiKey).order_by(ApiKey.created_at)
            if principal:
                query = query.where(ApiKey.principal == principal)
            return [_info(r) for r in s.execute(query).scalars()]

    def revoke(self, key_id: str) -> ApiKeyInfo:
        """Revoked keys stop working at once: every request re-reads the row."""
        with self.meta.session() as s:
            row = s.execute(select(ApiKey).where(ApiKey.key_id == key_id)).scalar_one_or_none()
            if row is None:
                raise DapError(f"no API key with id {key_id}")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            return _info(row)


class KeyAdmin:
    """API keys as one principal may manage them — the rules every door (CLI, REST) asks.

    Anyone manages their own keys. Keys of another principal — creating one (a key is that
    principal's identity), listing or revoking theirs — need MANAGE_GRANTS. Someone else's key id
    is unknown to a caller who may not manage it (no oracle). Creations and revocations, refused
    ones too, are in the audit chain with the caller as the actor (never the token).
    """

    def __init__(
        self,
        keys: ApiKeys,
        policy: Policy,
        principal: Principal,
        *,
        audit: AuditLog | None = None,
        channel: str = "",
    ) -> None:
        self.keys = keys
        self.policy = policy
        self.principal = principal
        self.audit = audit
        self.channel = channel

    @property
    def manager(self) -> bool:
        return self.policy.check(self.principal, "MANAGE_GRANTS", "*").allowed

    def _for_other(self, owner: str, what: str) -> None:
        if owner != self.principal.name and not self.manager:
            raise QueryRefused(
                f"{self.principal.name} may not {what} for {owner}: MANAGE_GRANTS is needed "
                "for other users' keys"
            )

    def _change(self, statement: str) -> AbstractContextManager[Change]:
        change = Change("apikey", statement=statement)
        if self.audit is None:
            return nullcontext(change)
        return audited(self.audit, self.principal.name, self.channel, change)

    def create(
        self,
        owner: str | None,
        name: str,
        *,
        scopes: list[str] | None = None,
        expires_in_days: float | None = None,
        rate_limit_per_min: int | None = None,
    ) -> tuple[ApiKeyInfo, str]:
        """A new key for ``owner`` (default: the caller); the token is shown only here.

        A key's own rate limit is an administrator's to give: otherwise anyone could lift
        their own limit by making a key without one."""
        owner = owner or self.principal.name
        with self._change(f"create API key {name!r} for {owner}") as change:
            self._for_other(owner, "create API keys")
            if rate_limit_per_min is not None and not self.manager:
                raise QueryRefused(
                    f"{self.principal.name} may not set a key's rate limit: MANAGE_GRANTS is needed"
                )
            info, token = self.keys.create(
                owner,
                name,
                scopes=scopes,
                expires_in_days=expires_in_days,
                rate_limit_per_min=rate_limit_per_min,
            )
            change.statement += f": {info.key_id}"
        return info, token

    def list(self, owner: str | None = None) -> list[ApiKeyInfo]:
        """The caller's keys; a manager's: everyone's, or ``owner``'s."""
        if owner is not None:
            self._for_other(owner, "list API keys")
            return self.keys.list_keys(owner)
        return self.keys.list_keys(None if self.manager else self.principal.name)

    def revoke(self, key_id: str) -> ApiKeyInfo:
        """Revoke one of the caller's keys (a manager: anyone's)."""
        with self._change(f"revoke API key {key_id}") as change:
            if key_id not in {k.key_id for k in self.list()}:
                raise UnknownKey(f"no API key {key_id} of yours")
            info = self.keys.revoke(key_id)
            change.statement += f" of {info.principal}"
        return info
