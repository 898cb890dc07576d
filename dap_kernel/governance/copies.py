"""Copies of governed rows: which catalog tables hold another table's rows, and whose rules
decide who reads them.

Two kinds of copy are tables of their own in the catalog, so a grant on their schema (or on
``*``, or a role) would otherwise reach them:

* a **quarantine** ``<schema>.<table>__quarantine`` keeps rows that could not be loaded, each as
  the raw JSON text of *every* column. No row filter or column mask can apply to a JSON blob, so
  only the parent table's owner and holders of MANAGE_GRANTS on it (stewards, admins) read it.
* an **archive** (``archive.<table>`` unless the retention policy names another) keeps the old
  rows of its parent with the parent's columns, so it is governed by the parent: the parent's
  grants decide who reads it, and the parent's row filters and masks apply to it.

The names live here, below the policy, so that :mod:`dap_kernel.governance.policy` can decide
without importing the modules that write the copies (those import this one).

>>> quarantine_parent("main.orders__quarantine")
'main.orders'
>>> quarantine_parent("main.orders") is None
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

QUARANTINE_SUFFIX = "__quarantine"
COPY_OF = "copy_of"  # catalog option of an archive table: the qualified name of its parent
RETENTION = "retention"  # catalog option of a table with a retention policy (archive.py)
ARCHIVE_SCHEMA = "archive"


def quarantine_parent(table: str) -> str | None:
    """``main.orders__quarantine`` → ``main.orders``; None for any other name."""
    schema, _, name = table.rpartition(".")
    if not name.lower().endswith(QUARANTINE_SUFFIX) or len(name) == len(QUARANTINE_SUFFIX):
        return None
    parent = name[: -len(QUARANTINE_SUFFIX)]
    return f"{schema}.{parent}" if schema else parent


def archive_name(table: str, archive_table: str | None = None) -> str:
    """Where the retention policy of ``table`` moves old rows: ``archive.<name>`` by default."""
    if archive_table:
        return archive_table if "." in archive_table else f"main.{archive_table}"
    return f"{ARCHIVE_SCHEMA}.{table.rpartition('.')[2]}"


def archive_parents(tables: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, str]:
    """Archive table → parent table (both lower-case), from the catalog's table options.

    An archive records its parent when it is created (:data:`COPY_OF`); a table's retention
    policy names its archive too, so an archive made before that record existed, or whose
    parent changed its policy since, is still known.
    """
    parents: dict[str, str] = {}
    for name, options in tables:
        retention = options.get(RETENTION)
        if isinstance(retention, Mapping) and retention.get("archive_after_days") is not None:
            target = archive_name(name, retention.get("archive_table"))
            parents[target.lower()] = name.lower()
    for name, options in tables:
        parent = options.get(COPY_OF)
        if isinstance(parent, str) and parent:
            parents[name.lower()] = parent.lower()
    parents.pop("", None)
    return {copy: parent for copy, parent in parents.items() if copy != parent}
