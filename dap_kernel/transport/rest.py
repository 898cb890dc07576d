"""One connection to a DAP service: its base URL, the caller's credential, and JSON requests
that are retried (idempotent ones only) while a restarting service cannot be reached.

Errors come back as :class:`~dap_kernel.errors.DapError` subclasses (:mod:`.errors`), and the
URL shown in them never carries a password or a query string.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..errors import DapError
from .errors import error_of, not_dap, unreachable

API_PREFIX = "/dap/api/v1"
CONNECT_TIMEOUT_S = 5.0
METADATA_READ_TIMEOUT_S = 120.0  # catalog, whoami, checks: the service answers these quickly
GET_ATTEMPTS = 3  # a service restarting under a hub is back within a second or two


def public_url(url: str) -> str:
    """The URL as it may be shown: no user:password, no query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def auth_header(api_key: str = "", hub_token: str = "") -> dict[str, str]:
    """A DAP API key wins over the hub token: it was set on purpose for this kernel."""
    if api_key:
        return {"Authorization": f"Bearer {api_key}"}
    if hub_token:
        return {"Authorization": f"token {hub_token}"}
    return {}


class RestConnection:
    """An ``httpx.Client`` on the service's REST API; one per session keeps connections alive
    between cells."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str = "",
        hub_token: str = "",
        channel: str = "python",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        from .._version import __version__

        if not url.startswith(("http://", "https://")):
            raise DapError(f"DAP_SERVICE_URL={public_url(url)!r} is not an http(s) URL")
        self.url = public_url(url)
        self.channel = channel
        headers = {
            "User-Agent": f"dap-client/{__version__}",
            "X-DAP-Channel": channel,  # the audit log names the front door behind the REST call
            **auth_header(api_key, hub_token),
        }
        self._has_credentials = bool(api_key or hub_token)
        self._client = httpx.Client(
            base_url=url.rstrip("/") + API_PREFIX + "/",
            headers=headers,
            timeout=httpx.Timeout(METADATA_READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        """One JSON request; idempotent ones are retried while the service cannot be reached."""
        attempts = GET_ATTEMPTS if method in ("GET", "DELETE") else 1
        for attempt in range(attempts):
            try:
                response = self._client.request(method, path, params=params, json=json)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                if attempt + 1 == attempts:
                    raise unreachable(self.url, e) from None
                time.sleep(0.2 * 2**attempt)
            except httpx.HTTPError as e:
                raise unreachable(self.url, e) from None
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise error_of(self.url, response, has_credentials=self._has_credentials)
        try:
            data = response.json()
        except ValueError:
            raise not_dap(self.url, response) from None
        if not isinstance(data, dict):
            raise not_dap(self.url, response)
        return data

    def _content(self, path: str, *, method: str = "GET") -> bytes:
        """One request answered with a file rather than JSON (a report, a log), or with
        nothing (204)."""
        for attempt in range(GET_ATTEMPTS):
            try:
                response = self._client.request(method, path)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                if attempt + 1 == GET_ATTEMPTS:
                    raise unreachable(self.url, e) from None
                time.sleep(0.2 * 2**attempt)
            except httpx.HTTPError as e:
                raise unreachable(self.url, e) from None
        if response.status_code >= 400:
            raise error_of(self.url, response, has_credentials=self._has_credentials)
        return response.content
