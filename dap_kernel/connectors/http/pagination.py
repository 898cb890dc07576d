"""Walking the pages of a source: by page number, offset, body cursor or ``Link`` header.

Each page's records are read at the source's ``records`` path; a ``Link`` to another host is
refused (the source's credentials go only to its own host), and reaching ``max_pages`` while
more pages remain is logged rather than silent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin

import httpx

from ...errors import SourceError
from ..paths import same_origin
from .fetch import ApiClient
from .jsonpath import records_at, value_at
from .spec import (
    ApiSource,
    CursorPagination,
    LinkPagination,
    NoPagination,
    OffsetPagination,
    PagePagination,
)

log = logging.getLogger(__name__)


def read_pages(client: ApiClient, spec: ApiSource, since: Any) -> Iterator[tuple[str, list[Any]]]:
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
        yield shown, records_at(body, spec.records, shown)
        return
    pages = 0
    if isinstance(paging, PagePagination):
        page = paging.start
        while pages < paging.max_pages:
            query = {**params, paging.param: page}
            if paging.size_param and paging.size:
                query[paging.size_param] = paging.size
            shown, _, body = fetch(spec.url, query)
            items = records_at(body, spec.records, shown)
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
            items = records_at(body, spec.records, shown)
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
            items = records_at(body, spec.records, shown)
            pages += 1
            yield shown, items
            cursor = value_at(body, paging.path)
            if cursor in (None, "") or not items:
                return
    elif isinstance(paging, LinkPagination):
        url: str | None = spec.url
        query_: Mapping[str, Any] | None = params
        while url is not None and pages < paging.max_pages:
            shown, response, body = fetch(url, query_)
            pages += 1
            yield shown, records_at(body, spec.records, shown)
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
