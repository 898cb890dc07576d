"""Who may do what with a model: models are securables ``model:NAME``, decided by the same
policy as tables and dashboards (grants to users, groups or roles, inherited from ``*``).

* **Train**: nothing beyond reading the data — the rows come through the caller's governed
  session, so they are the caller's rows already.
* **Use** (predict, batch or REST; load): ``SELECT`` on ``model:NAME``, or being its owner.
* **Manage** (a new version under an existing name, an alias, a promotion): ``MODIFY`` on
  ``model:NAME``, or being its owner. The first to register a name owns it.

Without a grant the answer is :class:`~dap_kernel.errors.QueryRefused` (403) whether the model
exists or not, so a name someone may not use tells them nothing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import QueryRefused
from .errors import MLError

if TYPE_CHECKING:
    from .data import ModelSession

SECURABLE_PREFIX = "model:"
USE = "SELECT"  # privilege on model:NAME that lets a caller score with it
MANAGE = "MODIFY"  # privilege on model:NAME that lets a caller register, alias, promote
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


def securable(name: str) -> str:
    return f"{SECURABLE_PREFIX}{name}"


def model_name(name: object) -> str:
    """A model name as DAP keeps it: lower-case letters, digits, ``_`` and ``-``."""
    if not isinstance(name, str) or not NAME.match(name):
        raise MLError(
            f"invalid model name {name!r}: lower-case letters, digits, _ and - "
            "(starting with a letter or digit, at most 100)"
        )
    return name


def user_of(session: ModelSession) -> str:
    return str(session.whoami().get("user", ""))


def require(session: ModelSession, privilege: str, name: str, owner: str | None) -> None:
    """Raise :class:`QueryRefused` unless the caller owns the model or holds ``privilege``."""
    user = user_of(session)
    if owner and owner == user:
        return
    if session.check(privilege, securable(name)).allowed:
        return
    what = "use" if privilege == USE else "manage"
    raise QueryRefused(f"{user} may not {what} model {name}: {privilege} on {securable(name)}")
