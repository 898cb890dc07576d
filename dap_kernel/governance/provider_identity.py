"""A hub user's groups and roles, as the identity provider last said, for the doors that carry
no hub token.

A request with a hub token brings the user's groups with it (the hub asks the provider at
every login and ``auth_refresh_age``). An API key of that user, or the key the scheduler mints
for their report, brings only a name. Without the provider's groups such a caller would hold
only DAP's own grants to the user: a report that works in the notebook would fail on schedule.

So the hub's login and refresh events record the groups and the roles they map to (here), and
:meth:`~dap_kernel.governance.apikeys.ApiKeys.authenticate` gives them to the key's principal —
only while the record is younger than ``DAP_PROVIDER_IDENTITY_MAX_AGE`` (8 days by default).
A group removed at the provider therefore stops counting for keys and schedules at the user's
next sign-in or refresh, and at the latest after that age; past it, a key carries no provider
group at all (fewer grants, never stale extra ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, select

from ..meta import MetaStore
from ..meta.models import ProviderIdentity

DEFAULT_MAX_AGE_S = 8 * 24 * 3600
# A login or refresh that changes nothing rewrites the time at most this often.
SEEN_RESOLUTION = timedelta(minutes=10)


def record(
    meta: MetaStore,
    user: str,
    groups: Iterable[str],
    roles: Iterable[str],
    now: datetime | None = None,
) -> bool:
    """Remember what the provider says of ``user`` now; returns whether groups or roles
    changed."""
    now = now or datetime.now(UTC)
    new_groups, new_roles = sorted(set(groups)), sorted(set(roles))
    with meta.session() as s:
        row = s.get(ProviderIdentity, user)
        if row is None:
            s.add(ProviderIdentity(name=user, groups=new_groups, roles=new_roles, seen_at=now))
            return True
        changed = (row.groups, row.roles) != (new_groups, new_roles)
        if changed or now - _aware(row.seen_at) > SEEN_RESOLUTION:
            row.groups, row.roles, row.seen_at = new_groups, new_roles, now
        return changed


def lookup(
    con: Connection, user: str, max_age_s: float, now: datetime | None = None
) -> tuple[frozenset[str], frozenset[str]]:
    """``user``'s provider groups and roles if recorded within ``max_age_s``, else none (on the
    caller's connection: the API key check runs on every request)."""
    now = now or datetime.now(UTC)
    table = ProviderIdentity.__table__
    row = con.execute(
        select(table.c.groups, table.c.roles, table.c.seen_at).where(table.c.name == user)
    ).one_or_none()
    if row is None:
        return frozenset(), frozenset()
    return recorded(row.groups, row.roles, row.seen_at, max_age_s, now)


def recorded(
    groups: list[str] | None,
    roles: list[str] | None,
    seen_at: datetime | None,
    max_age_s: float,
    now: datetime,
) -> tuple[frozenset[str], frozenset[str]]:
    """The groups and roles of a provider identity row read with something else (the API key
    check joins it), or none when there is no row or it is older than ``max_age_s``."""
    if seen_at is None or now - _aware(seen_at) > timedelta(seconds=max_age_s):
        return frozenset(), frozenset()
    return frozenset(groups or ()), frozenset(roles or ())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
