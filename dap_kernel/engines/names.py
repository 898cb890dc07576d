"""Where an engine keeps the raw relations of catalog tables: under names user SQL cannot spell.

The governance rewrite replaces each catalog table of a statement by its secured source. If the
checker ever misjudged a reference (took a catalog table for a CTE, say), the engine would see the
user's own spelling of the name. So raw relations never live under a name a user can write:
``main.customers`` is bound as ``"main#<token>".customers``, where the token is random per engine
and never shown (engine messages are scrubbed of it). Only :func:`secured_source
<dap_kernel.governance.enforce.secured_source>` produces these names; any reference it did not
produce fails as an unknown table instead of reading raw rows.

>>> names = RelationNames("t0k")
>>> names.schema("main"), names.is_hidden("main#t0k"), names.scrub('no "main#t0k".x here')
('main#t0k', True, 'no "main".x here')
"""

from __future__ import annotations

import secrets

from sqlglot import exp


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (DuckDB, ClickHouse and standard SQL read it alike)."""
    return '"' + name.replace('"', '""') + '"'


class RelationNames:
    """The private naming of one engine's raw relations (one random token per engine)."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token or secrets.token_hex(12)
        self.suffix = f"#{self.token}"

    def schema(self, schema: str) -> str:
        """The engine schema that holds the raw relations of catalog schema ``schema``."""
        return schema + self.suffix

    def is_hidden(self, schema: str) -> bool:
        return schema.endswith(self.suffix)

    def table(self, schema: str, name: str) -> exp.Table:
        """The raw relation of ``schema.name`` as a sqlglot table node (both parts quoted)."""
        return exp.Table(
            this=exp.to_identifier(name, quoted=True),
            db=exp.to_identifier(self.schema(schema), quoted=True),
        )

    def scrub(self, text: str) -> str:
        """``text`` without the token: what a user may be shown of an engine message or SQL."""
        return text.replace(self.suffix, "")
