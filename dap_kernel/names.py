"""Table names: what a catalog (and lake) name may be, and how ``schema.table`` splits.

In a module of its own, with nothing but the standard library, so the catalog's reads (``dap
catalog list``) need neither the lake's nor an engine's libraries.
"""

from __future__ import annotations

import re

from .errors import DapError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def check_name(name: str, what: str = "table") -> str:
    """Lake names become folder names: allow plain identifiers only."""
    if not _NAME.match(name):
        raise DapError(
            f"invalid {what} name {name!r}: use letters, digits and underscores, "
            "starting with a letter or underscore"
        )
    return name


def split_name(name: str, default_schema: str = "main") -> tuple[str, str]:
    """``"orders"`` → ``("main", "orders")``; ``"tpch.lineitem"`` → ``("tpch", "lineitem")``.

    Catalog names are lake names (:mod:`dap_kernel.catalog` re-exports this), so modules below
    the catalog, such as the quarantine the connectors write to, can name tables too."""
    parts = name.split(".")
    if len(parts) == 1:
        return default_schema, check_name(parts[0])
    if len(parts) == 2:
        return check_name(parts[0], "schema"), check_name(parts[1])
    raise DapError(f"invalid table name {name!r}: use TABLE or SCHEMA.TABLE")
