"""What an API source is: the endpoint, its auth, its pagination and its incremental watermark.

The definition is declarative (pydantic models, what a pipeline's YAML holds), so the same
source works from Python, the CLI and pipelines; an unknown field or form is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ...errors import SourceError


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


def validate_source(source: ApiSource | Mapping[str, Any]) -> ApiSource:
    """A definition as given (YAML, JSON, keywords) checked once, failing as one line."""
    if isinstance(source, ApiSource):
        return source
    try:
        return ApiSource.model_validate(dict(source))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "source"
        raise SourceError(f"invalid API source: {where}: {first['msg']}") from None
