"""Fetching with retries: 429, 5xx, timeouts and connection errors are tried again (tenacity,
exponential backoff with jitter, ``Retry-After`` honoured up to a cap), everything else fails
at once as a :class:`SourceError` with the secrets scrubbed out.

Redirects are followed here, on the source's own host only: the request carries the source's
credentials, and another host must never receive them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from ...errors import SourceError
from ..paths import same_origin
from .auth import http_client, request_auth
from .credentials import Scrubber
from .spec import ApiSource, OAuth2Auth

log = logging.getLogger(__name__)

T = TypeVar("T")


def _client_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """Timeout and transport errors of httpx and of httpx2 (authlib's OAuth2Client uses it)."""
    timeouts: list[type[Exception]] = [httpx.TimeoutException]
    transport: list[type[Exception]] = [httpx.TransportError]
    try:
        import httpx2

        timeouts.append(httpx2.TimeoutException)
        transport.append(httpx2.TransportError)
    except ImportError:
        pass
    return tuple(timeouts), tuple(transport)


_TIMEOUTS, _TRANSPORT = _client_errors()
MAX_REDIRECTS = 10


class _Retryable(Exception):
    """A failure worth another try (429, 5xx, connect error, timeout)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ApiClient:
    """An httpx client (authlib's for OAuth2) whose requests retry and fail as SourceError."""

    def __init__(self, spec: ApiSource, scrub: Scrubber) -> None:
        self.spec = spec
        self.scrub = scrub
        headers, self.auth = request_auth(spec)
        self.client = http_client(spec, headers)
        if isinstance(spec.auth, OAuth2Auth):
            self._fetch_token()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def _fetch_token(self) -> None:
        from authlib.common.errors import AuthlibBaseError

        assert isinstance(self.spec.auth, OAuth2Auth)
        token_url = self.spec.auth.token_url
        shown = self.scrub.shown(token_url)

        def fetch() -> None:
            try:
                self.client.fetch_token(token_url, grant_type="client_credentials")  # type: ignore[attr-defined]
            except _TIMEOUTS as e:
                raise _Retryable(f"timed out after {self.spec.timeout_s:g} s") from e
            except _TRANSPORT as e:
                raise _Retryable(f"cannot connect ({type(e).__name__})") from e
            except AuthlibBaseError as e:
                detail = getattr(e, "error", None) or str(e)
                raise SourceError(
                    self.scrub(f"OAuth2 token request to {shown} failed: {detail}")
                ) from None
            except ValueError as e:  # not JSON, no access_token
                raise SourceError(
                    self.scrub(f"OAuth2 token request to {shown} failed: {e}")
                ) from None

        self._retry(fetch, f"POST {shown}")

    def get(self, url: str, params: Mapping[str, Any] | None) -> httpx.Response:
        shown = self.scrub.shown(httpx.URL(url, params=dict(params) if params else None))
        refreshed = False

        def once() -> httpx.Response:
            nonlocal refreshed
            response = self._send(url, params)
            if (
                response.status_code == 401
                and isinstance(self.spec.auth, OAuth2Auth)
                and not refreshed
            ):
                refreshed = True  # the token may have been revoked early: one new token, once
                self._fetch_token()
                response = self._send(url, params)
            if response.status_code == 429 or response.status_code >= 500:
                raise _Retryable(_status(response), _retry_after(response))
            if response.status_code >= 400:
                raise SourceError(
                    self.scrub(
                        f"{self.spec.method} {shown}: {_status(response)}{_detail(response)}"
                    )
                )
            return response

        return self._retry(once, f"{self.spec.method} {shown}")

    def _send(self, url: str, params: Mapping[str, Any] | None) -> httpx.Response:
        kwargs: dict[str, Any] = {"params": dict(params) if params else None}
        if self.auth is not None:
            kwargs["auth"] = self.auth
        if self.spec.body is not None:
            kwargs["json"] = self.spec.body
        try:
            response = self.client.request(self.spec.method, url, **kwargs)
            return self._follow(response)
        except _TIMEOUTS as e:
            raise _Retryable(f"timed out after {self.spec.timeout_s:g} s") from e
        except _TRANSPORT as e:
            raise _Retryable(f"cannot connect ({type(e).__name__})") from e

    def _follow(self, response: httpx.Response) -> httpx.Response:
        """Follow redirects on the source's own host only: the request carries the source's
        credentials (headers, keys, tokens), and another host must never receive them."""
        origin = str(response.request.url)
        for _ in range(MAX_REDIRECTS):
            following = response.next_request
            if following is None:
                return response
            if not same_origin(str(following.url), origin):
                response.close()
                raise SourceError(
                    self.scrub(
                        f"{self.spec.method} {self.scrub.shown(origin)}: redirected to another "
                        f"host ({following.url.host}); DAP sends a source's credentials only "
                        "to its own host, so it does not follow"
                    )
                )
            response.close()
            extra: dict[str, Any] = {"auth": self.auth} if self.auth is not None else {}
            response = self.client.send(following, follow_redirects=False, **extra)
        response.close()
        raise SourceError(
            f"{self.spec.method} {self.scrub.shown(origin)}: more than {MAX_REDIRECTS} redirects"
        )

    def _retry(self, fn: Callable[[], T], what: str) -> T:
        spec = self.spec
        backoff = wait_random_exponential(multiplier=spec.backoff_s, max=spec.backoff_max_s)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _Retryable) and error.retry_after is not None:
                return min(error.retry_after, spec.retry_after_max_s)
            return float(backoff(state))

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning("%s: %s (attempt %d), retrying", what, error, state.attempt_number)

        attempts = spec.max_retries + 1
        try:
            return Retrying(
                retry=retry_if_exception_type(_Retryable),
                stop=stop_after_attempt(attempts),
                wait=wait,
                before_sleep=before_sleep,
                reraise=True,
            )(fn)
        except _Retryable as e:
            tries = f"after {attempts} attempts" if attempts > 1 else "no retries"
            raise SourceError(self.scrub(f"{what}: {e.reason} ({tries})")) from None


def _status(response: httpx.Response) -> str:
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def _detail(response: httpx.Response) -> str:
    """A short reason from an error body (``{"error": …}``, ``{"message": …}``)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "detail"):
            if isinstance(body.get(key), str):
                return f": {body[key][:200]}"
    return ""


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (RFC 9110: delta-seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
