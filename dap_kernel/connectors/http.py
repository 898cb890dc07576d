"""Read records from a REST/JSON API: auth, pagination, retries, and nothing silently dropped.

An :class:`ApiSource` describes the endpoint declaratively (it is what a pipeline's YAML holds),
so the same definition works from Python, the CLI and pipelines. Secrets are referenced as
``${secret:NAME}`` and resolved from the :class:`~dap_kernel.governance.secrets.SecretStore` at
read time, so the definition itself never holds a credential, and every message and log line
is scrubbed of the resolved values. A reference may stand only where its value is sent to the
source's host (``auth`` fields, credential headers: :mod:`dap_kernel.governance.secret_refs`),
and credentials never follow a redirect or a ``Link`` to another host.

Records become an Arrow table through polars: nested objects stay nested (struct columns,
lists stay lists) rather than being flattened, so no information is lost and SQL can reach
into them. A record that is not a JSON object, or whose field has another JSON type than the
same field in the other records, goes to ``Extracted.bad`` with the page URL as
``_dap_source`` and its index in that page's record list (0-based) as ``_dap_line``.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from urllib.parse import urljoin

import httpx
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from ..errors import SourceError
from ..governance.secret_refs import (
    api_credential_field,
    check_references,
    expand,
    secret_key,
    sensitive_values,
)
from ..governance.secret_refs import redact_url as redact
from ..quarantine import empty_quarantine, quarantine_frame
from .base import Extracted
from .paths import same_origin

if TYPE_CHECKING:
    from ..governance.secrets import SecretStore

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


# -- the definition --------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class NoAuth(_Model):
    type: Literal["none"] = "none"


class ApiKeyAuth(_Model):
    """An API key sent as a header (``X-API-Key: …``) or a query parameter (``?api_key=…``)."""

    type: Literal["api_key"] = "api_key"
    name: str = "X-API-Key"
    value: str
    location: Literal["header", "query"] = Field(default="header", alias="in")


class BearerAuth(_Model):
    type: Literal["bearer"] = "bearer"
    token: str


class BasicAuth(_Model):
    type: Literal["basic"] = "basic"
    username: str
    password: str


class OAuth2Auth(_Model):
    """OAuth2 client credentials: a token from ``token_url``, fetched again on expiry or 401."""

    type: Literal["oauth2"] = "oauth2"
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"


class NoPagination(_Model):
    type: Literal["none"] = "none"


class PagePagination(_Model):
    """``?page=1``, ``?page=2``, … until an empty (or short, when ``size`` is set) page."""

    type: Literal["page"] = "page"
    param: str = "page"
    start: int = 1
    size_param: str | None = None
    size: int | None = None
    max_pages: int = 1000


class OffsetPagination(_Model):
    """``?offset=0&limit=100``, ``?offset=100&limit=100``, … until a short page."""

    type: Literal["offset"] = "offset"
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = 100
    max_pages: int = 1000


class CursorPagination(_Model):
    """The next cursor read from the body at ``path``, sent back as ``param``; stops when absent."""

    type: Literal["cursor"] = "cursor"
    param: str = "cursor"
    path: str = "next_cursor"
    max_pages: int = 1000


class LinkPagination(_Model):
    """RFC 5988 ``Link: <…>; rel="next"`` headers (GitHub style)."""

    type: Literal["link"] = "link"
    max_pages: int = 1000


class Incremental(_Model):
    """Send the last watermark as ``param``; the new watermark is the max of ``field``."""

    param: str
    field: str


Auth = Annotated[
    NoAuth | ApiKeyAuth | BearerAuth | BasicAuth | OAuth2Auth, Field(discriminator="type")
]
Pagination = Annotated[
    NoPagination | PagePagination | OffsetPagination | CursorPagination | LinkPagination,
    Field(discriminator="type"),
]


class ApiSource(_Model):
    """One REST/JSON endpoint to read records from."""

    url: str
    method: Literal["GET", "POST"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    body: dict[str, Any] | None = None  # JSON body of a POST
    auth: Auth = Field(default_factory=NoAuth)
    pagination: Pagination = Field(default_factory=NoPagination)
    records: str = "$"  # JSON path to the record list: "data.items", "$.data.items[*]"
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    backoff_s: float = Field(default=0.5, ge=0)  # first backoff; doubles per attempt, with jitter
    backoff_max_s: float = Field(default=30.0, ge=0)
    retry_after_max_s: float = Field(default=60.0, ge=0)  # a longer Retry-After waits this long
    incremental: Incremental | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("auth", "pagination", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value  # pagination: link


# -- reading ---------------------------------------------------------------------------------


def read_api(
    source: ApiSource | Mapping[str, Any],
    *,
    since: Any = None,
    secrets: SecretStore | None = None,
) -> Extracted:
    """Every record of every page; :class:`SourceError` (no secrets in it) when that fails."""
    spec = _validate(source)
    spec, hidden = _resolve_secrets(spec, secrets)
    scrub = _Scrubber(hidden, spec)
    good: list[dict[str, Any]] = []
    origin: list[tuple[str, int]] = []  # (page URL, index in the page) of each good record
    bad_parts: list[pl.DataFrame] = []
    with _Client(spec, scrub) as client:
        for shown, items in _pages(client, spec, since):
            rejects = [(i, item) for i, item in enumerate(items) if not isinstance(item, dict)]
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    good.append(item)
                    origin.append((shown, i))
            if rejects:
                bad_parts.append(
                    _quarantine(
                        [item for _, item in rejects],
                        reasons=[
                            f"record is a JSON {_kind(item)}, not an object" for _, item in rejects
                        ],
                        source=shown,
                        lines=[i for i, _ in rejects],
                        rule="record_shape",
                    )
                )
    frame, conflicts = _frame(good, origin, scrub.shown(spec.url))
    if conflicts is not None:
        bad_parts.append(conflicts)
    watermark = since
    if spec.incremental is not None:
        watermark = _max(frame, spec.incremental.field, default=since)
    bad = pl.concat(bad_parts) if bad_parts else empty_quarantine()
    return Extracted(
        data=frame.to_arrow(), bad=bad, watermark=watermark, source=scrub.shown(spec.url)
    )


def _validate(source: ApiSource | Mapping[str, Any]) -> ApiSource:
    if isinstance(source, ApiSource):
        return source
    try:
        return ApiSource.model_validate(dict(source))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "source"
        raise SourceError(f"invalid API source: {where}: {first['msg']}") from None


def _resolve_secrets(spec: ApiSource, secrets: SecretStore | None) -> tuple[ApiSource, set[str]]:
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


class _Scrubber:
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


# -- HTTP with retries -----------------------------------------------------------------------


class _Retryable(Exception):
    """A failure worth another try (429, 5xx, connect error, timeout)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _QueryKey(httpx.Auth):
    """An API key as a query parameter of every request, including followed ``Link`` URLs."""

    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_merge_params({self.name: self.value})
        yield request


class _Client:
    """An httpx client (authlib's for OAuth2) whose requests retry and fail as SourceError."""

    def __init__(self, spec: ApiSource, scrub: _Scrubber) -> None:
        self.spec = spec
        self.scrub = scrub
        headers = dict(spec.headers)
        auth = spec.auth
        self.auth: httpx.Auth | None = None
        if isinstance(auth, ApiKeyAuth):
            if auth.location == "header":
                headers[auth.name] = auth.value
            else:
                self.auth = _QueryKey(auth.name, auth.value)
        elif isinstance(auth, BearerAuth):
            headers["Authorization"] = f"Bearer {auth.token}"
        elif isinstance(auth, BasicAuth):
            self.auth = httpx.BasicAuth(auth.username, auth.password)
        timeout = spec.timeout_s  # a float: authlib's client is httpx2's, not httpx's
        if isinstance(auth, OAuth2Auth):
            from authlib.integrations.httpx_client import OAuth2Client

            self.client: httpx.Client = OAuth2Client(
                client_id=auth.client_id,
                client_secret=auth.client_secret,
                token_endpoint_auth_method=auth.auth_method,
                scope=auth.scope,
                token_endpoint=auth.token_url,
                grant_type="client_credentials",
                timeout=timeout,
                headers=headers,
                follow_redirects=False,  # followed by _send, only to the same host
            )
            self._fetch_token()
        else:
            self.client = httpx.Client(timeout=timeout, headers=headers, follow_redirects=False)

    def __enter__(self) -> _Client:
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


# -- pagination ------------------------------------------------------------------------------


def _pages(client: _Client, spec: ApiSource, since: Any) -> Iterator[tuple[str, list[Any]]]:
    """(shown page URL, records of the page) for each page, in order."""
    params: dict[str, Any] = dict(spec.params)
    if spec.incremental is not None and since is not None:
        params[spec.incremental.param] = _param(since)
    paging = spec.pagination

    def fetch(url: str, query: Mapping[str, Any] | None) -> tuple[str, httpx.Response, Any]:
        response = client.get(url, query)
        shown = client.scrub.shown(response.request.url)
        try:
            body = response.json()
        except ValueError:
            raise SourceError(f"{spec.method} {shown}: the response is not JSON") from None
        return shown, response, body

    if isinstance(paging, NoPagination):
        shown, _, body = fetch(spec.url, params)
        yield shown, _records(body, spec.records, shown)
        return
    pages = 0
    if isinstance(paging, PagePagination):
        page = paging.start
        while pages < paging.max_pages:
            query = {**params, paging.param: page}
            if paging.size_param and paging.size:
                query[paging.size_param] = paging.size
            shown, _, body = fetch(spec.url, query)
            items = _records(body, spec.records, shown)
            pages += 1
            yield shown, items
            if not items or (paging.size and len(items) < paging.size):
                return
            page += 1
    elif isinstance(paging, OffsetPagination):
        offset = 0
        while pages < paging.max_pages:
            query = {**params, paging.offset_param: offset, paging.limit_param: paging.limit}
            shown, _, body = fetch(spec.url, query)
            items = _records(body, spec.records, shown)
            pages += 1
            yield shown, items
            if len(items) < paging.limit:
                return
            offset += len(items)
    elif isinstance(paging, CursorPagination):
        cursor: Any = None
        while pages < paging.max_pages:
            query = {**params, paging.param: cursor} if cursor not in (None, "") else params
            shown, _, body = fetch(spec.url, query)
            items = _records(body, spec.records, shown)
            pages += 1
            yield shown, items
            cursor = _walk_one(body, paging.path)
            if cursor in (None, "") or not items:
                return
    elif isinstance(paging, LinkPagination):
        url: str | None = spec.url
        query_: Mapping[str, Any] | None = params
        while url is not None and pages < paging.max_pages:
            shown, response, body = fetch(url, query_)
            pages += 1
            yield shown, _records(body, spec.records, shown)
            following = response.links.get("next", {}).get("url")
            url = urljoin(str(response.url), following) if following else None
            if url is not None and not same_origin(url, spec.url):
                raise SourceError(
                    f"{spec.method} {shown}: the next page is on another host "
                    f"({httpx.URL(url).host}); the source's credentials go only to its own host"
                )
            query_ = None  # the next link carries its own query
        if url is None:
            return
    log.warning("%s: stopped after max_pages=%d pages; more were available", spec.url, pages)


def _param(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# -- JSON paths ------------------------------------------------------------------------------

_TOKEN = re.compile(r"\.?([A-Za-z_$][\w$-]*)|\[(\*|-?\d+)\]|\[['\"]([^'\"]+)['\"]\]")


class _Missing(Exception):
    pass


def _steps(path: str) -> list[str | int | None]:
    """``$.data.items[*]`` → ``["data", "items", None]`` (None = every element)."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[str | int | None] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise SourceError(f"invalid JSON path {path!r} (use a.b, $.a.b[*], a[0])")
        name, index, quoted = match.groups()
        if name is not None:
            steps.append(name)
        elif quoted is not None:
            steps.append(quoted)
        else:
            steps.append(None if index == "*" else int(index))
        pos = match.end()
    return steps


def _walk(value: Any, path: str) -> tuple[list[Any], bool]:
    """The values at ``path``; the flag says whether a ``[*]`` made it a list of matches."""
    current, many = [value], False
    for step in _steps(path):
        following: list[Any] = []
        for item in current:
            if step is None:
                if isinstance(item, list):
                    following += item
                elif not many:
                    raise _Missing
                many = True
            elif isinstance(step, int):
                if isinstance(item, list) and -len(item) <= step < len(item):
                    following.append(item[step])
                elif not many:
                    raise _Missing
            elif isinstance(item, dict) and step in item:
                following.append(item[step])
            elif not many:
                raise _Missing
        current = following
    return current, many


def _walk_one(value: Any, path: str) -> Any:
    try:
        found, many = _walk(value, path)
    except _Missing:
        return None
    return found if many else found[0]


def _records(body: Any, path: str, shown: str) -> list[Any]:
    try:
        found, many = _walk(body, path)
    except _Missing:
        raise SourceError(f"{shown}: the response has no {path!r}") from None
    if many:
        return found
    value = found[0]
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# -- records to Arrow ------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _quarantine(
    items: list[Any], *, reasons: list[str], source: str | list[str], lines: list[int], rule: str
) -> pl.DataFrame:
    frame = quarantine_frame(
        [{}] * len(items), rule=rule, reason=reasons, source=source, line=lines
    )
    texts = [json.dumps(item, default=str) for item in items]
    return frame.with_columns(pl.Series("_dap_record", texts, dtype=pl.String))


def _frame(
    records: list[dict[str, Any]], origin: list[tuple[str, int]], shown: str
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Records as a frame; records whose field types disagree with the majority set aside.

    (polars would otherwise turn a column of numbers with one string in it into strings.)
    """
    kinds: dict[str, Counter[str]] = {}
    for record in records:
        for key, value in record.items():
            if value is not None:
                kinds.setdefault(key, Counter())[_kind(value)] += 1
    usual = {key: counts.most_common(1)[0][0] for key, counts in kinds.items()}
    keep: list[dict[str, Any]] = []
    rejects: list[tuple[int, dict[str, Any], str]] = []
    for i, record in enumerate(records):
        odd = [
            f"field {k!r} is a {_kind(v)} where other records have a {usual[k]}"
            for k, v in record.items()
            if v is not None and _kind(v) != usual[k]
        ]
        if odd:
            rejects.append((i, record, "; ".join(odd)))
        else:
            keep.append(record)
    if not rejects:
        keep = records
    try:
        frame = pl.DataFrame(keep, infer_schema_length=None)
    except Exception as e:
        raise SourceError(
            f"{shown}: the records do not fit one table: {str(e).splitlines()[0]}"
        ) from None
    if not rejects:
        return frame, None
    bad = _quarantine(
        [r for _, r, _ in rejects],
        reasons=[reason for _, _, reason in rejects],
        source=[origin[i][0] for i, _, _ in rejects],
        lines=[origin[i][1] for i, _, _ in rejects],
        rule="record_type",
    )
    return frame, bad


def _max(frame: pl.DataFrame, field: str, *, default: Any) -> Any:
    top, _, rest = field.partition(".")
    if top not in frame.columns or frame.is_empty():
        return default
    column = frame.get_column(top)
    for part in rest.split(".") if rest else []:
        column = column.struct.field(part)
    value = column.max()
    return default if value is None else value
