"""What an identity provider says about a user, in DAP's terms: roles and attributes.

Under JupyterHub with single sign-on the hub authenticates (OIDC) and keeps each user's groups
from the provider's groups claim (oauthenticator's ``manage_groups``); those arrive with every
request as the principal's groups. What the provider's claims *mean* for data is DAP's business,
decided here once for every door:

* ``DAP_ROLE_MAP`` — JSON ``{"provider group": "DAP role" | ["role", …]}``: a member of the
  group holds the role for as long as the provider says so (oauthenticator has no role mapping
  of its own). ``DAP_ADMIN_GROUPS`` — comma list: members are DAP administrators (role
  ``admin``), as oauthenticator's ``admin_groups`` makes them hub administrators.
* ``DAP_ATTRIBUTE_CLAIMS`` — JSON ``{"attribute": "claim"}`` (a dotted path into the claims):
  the user attributes that row filters read (``current_user_attr('region')``), so a filter
  follows the provider. A claim the provider no longer sends removes the attribute: a stale
  region must not keep showing its rows.

Nothing here trusts a caller: the groups come from the hub, the claims from the hub's own
record of the login (see ``dap_kernel.governance.hub_activity``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from ..errors import ConfigError

ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class ClaimMapping:
    """The site's mapping from provider groups and claims to DAP roles and attributes."""

    role_map: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    admin_groups: frozenset[str] = frozenset()
    attribute_claims: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, role_map: str = "", admin_groups: str = "", attribute_claims: str = ""
    ) -> ClaimMapping:
        """From the three ``DAP_*`` values; a malformed one is a :class:`ConfigError`."""
        roles = _json_object("DAP_ROLE_MAP", role_map)
        attrs = _json_object("DAP_ATTRIBUTE_CLAIMS", attribute_claims)
        parsed_roles: dict[str, tuple[str, ...]] = {}
        for group, value in roles.items():
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                raise ConfigError(f"DAP_ROLE_MAP: {group!r} must map to a role or a list of roles")
            parsed_roles[str(group)] = tuple(names)
        if not all(isinstance(v, str) and v for v in attrs.values()):
            raise ConfigError("DAP_ATTRIBUTE_CLAIMS: every attribute maps to a claim name")
        return cls(
            role_map=parsed_roles,
            admin_groups=frozenset(g.strip() for g in admin_groups.split(",") if g.strip()),
            attribute_claims={str(k): str(v) for k, v in attrs.items()},
        )

    def roles(self, groups: Iterable[str]) -> frozenset[str]:
        """The DAP roles that membership of ``groups`` gives."""
        held = set(groups)
        roles = {role for group in held for role in self.role_map.get(group, ())}
        if held & self.admin_groups:
            roles.add(ADMIN_ROLE)
        return frozenset(roles)

    def attributes(self, claims: Mapping[str, Any]) -> dict[str, str | None]:
        """Every mapped attribute, ``None`` where the claims do not carry it (to be removed).

        Values are kept as text (a list claim as its items joined by commas): a row filter
        compares them with column values, and a dict there would be a surprise, not a rule.
        """
        values: dict[str, str | None] = {}
        for attribute, path in self.attribute_claims.items():
            value = _claim(claims, path)
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            values[attribute] = (
                None if value in (None, "") or isinstance(value, dict) else str(value)
            )
        return values


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    def step(node: Any, key: str) -> Any:
        return node.get(key) if isinstance(node, Mapping) else None

    return reduce(step, path.split("."), claims)


def _json_object(name: str, text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{name} is not valid JSON: {e.msg} (at character {e.pos})") from e
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object")
    return value
