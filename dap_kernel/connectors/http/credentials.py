"""The source's credentials: resolved from the secret store at read time, and kept out of sight.

``${secret:NAME}`` may stand only where its value is sent to the source's host (``auth``
fields, credential headers: :mod:`dap_kernel.governance.secret_refs`); everything shown (an
error, a log line, a quarantined record's ``_dap_source``) goes through a :class:`Scrubber`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from ...governance.secret_refs import (
    api_credential_field,
    check_references,
    expand,
    secret_key,
    sensitive_values,
)
from ...governance.secret_refs import redact_url as redact
from .spec import ApiKeyAuth, ApiSource

if TYPE_CHECKING:
    from ...governance.secrets import SecretStore


def resolve_secrets(spec: ApiSource, secrets: SecretStore | None) -> tuple[ApiSource, set[str]]:
    """Expand ``${secret:NAME}`` in the credential fields (a reference anywhere else is a
    :class:`~dap_kernel.governance.secret_refs.SecretPlacementError`); return the values that
    must never be shown."""
    data = spec.model_dump(by_alias=True)
    check_references(data, lambda field, _value: api_credential_field(field), what="api source")
    hidden: set[str] = set()

    def resolve(value: Any) -> Any:
        if isinstance(value, str):
            return expand(value, secrets, hidden)
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    resolved = ApiSource.model_validate(resolve(data))
    hidden |= sensitive_values(resolved.model_dump(by_alias=True))
    auth = resolved.auth
    for name in ("value", "token", "password", "client_secret"):
        secret = getattr(auth, name, None)
        if isinstance(secret, str) and secret:
            hidden.add(secret)
    for header, value in resolved.headers.items():
        if secret_key(header):
            hidden.add(value)
    return resolved, {h for h in hidden if len(h) >= 3}


class Scrubber:
    """Hides secret values and credential-like query parameters in anything shown."""

    def __init__(self, hidden: set[str], spec: ApiSource) -> None:
        self.hidden = sorted(hidden, key=len, reverse=True)
        self.params = {"api_key", "token", "access_token", "key", "password", "secret"}
        if isinstance(spec.auth, ApiKeyAuth) and spec.auth.location == "query":
            self.params.add(spec.auth.name.lower())

    def __call__(self, text: str) -> str:
        for secret in self.hidden:
            text = text.replace(secret, "***")
        return text

    def shown(self, url: str | httpx.URL) -> str:
        parsed = httpx.URL(str(url))
        if parsed.params:
            params = [
                (k, "***" if k.lower() in self.params else v)
                for k, v in parsed.params.multi_items()
            ]
            parsed = parsed.copy_with(params=params)
        return self(redact(str(parsed)).replace("%2A%2A%2A", "***"))
