"""How a request carries the source's credentials: a header, a query key, basic auth, OAuth2.

Only the client set up here holds them, and it follows no redirect itself
(:meth:`~.fetch.ApiClient.get` follows them on the source's own host only).
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

from .spec import ApiKeyAuth, ApiSource, BasicAuth, BearerAuth, OAuth2Auth


class QueryKey(httpx.Auth):
    """An API key as a query parameter of every request, including followed ``Link`` URLs."""

    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_merge_params({self.name: self.value})
        yield request


def request_auth(spec: ApiSource) -> tuple[dict[str, str], httpx.Auth | None]:
    """The headers of every request, and the ``httpx.Auth`` to send with each (or None);
    OAuth2 adds neither: its client fetches and sends the token."""
    headers = dict(spec.headers)
    auth = spec.auth
    flow: httpx.Auth | None = None
    if isinstance(auth, ApiKeyAuth):
        if auth.location == "header":
            headers[auth.name] = auth.value
        else:
            flow = QueryKey(auth.name, auth.value)
    elif isinstance(auth, BearerAuth):
        headers["Authorization"] = f"Bearer {auth.token}"
    elif isinstance(auth, BasicAuth):
        flow = httpx.BasicAuth(auth.username, auth.password)
    return headers, flow


def http_client(spec: ApiSource, headers: dict[str, str]) -> httpx.Client:
    """An httpx client, authlib's for OAuth2 client credentials (no token fetched yet)."""
    auth = spec.auth
    timeout = spec.timeout_s  # a float: authlib's client is httpx2's, not httpx's
    if isinstance(auth, OAuth2Auth):
        from authlib.integrations.httpx_client import OAuth2Client

        client: httpx.Client = OAuth2Client(
            client_id=auth.client_id,
            client_secret=auth.client_secret,
            token_endpoint_auth_method=auth.auth_method,
            scope=auth.scope,
            token_endpoint=auth.token_url,
            grant_type="client_credentials",
            timeout=timeout,
            headers=headers,
            follow_redirects=False,  # followed by ApiClient._send, only to the same host
        )
        return client
    return httpx.Client(timeout=timeout, headers=headers, follow_redirects=False)
