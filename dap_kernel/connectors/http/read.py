"""Reading a source: validate it, resolve its secrets, walk its pages, records to Arrow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from ...quarantine import empty_quarantine
from ..base import Extracted
from .credentials import Scrubber, resolve_secrets
from .fetch import ApiClient
from .pagination import read_pages
from .records import json_kind, max_value, quarantine_records, records_frame
from .spec import ApiSource, validate_source

if TYPE_CHECKING:
    from ...governance.secrets import SecretStore


def read_api(
    source: ApiSource | Mapping[str, Any],
    *,
    since: Any = None,
    secrets: SecretStore | None = None,
) -> Extracted:
    """Every record of every page; :class:`SourceError` (no secrets in it) when that fails."""
    spec = validate_source(source)
    spec, hidden = resolve_secrets(spec, secrets)
    scrub = Scrubber(hidden, spec)
    good: list[dict[str, Any]] = []
    origin: list[tuple[str, int]] = []  # (page URL, index in the page) of each good record
    bad_parts: list[pl.DataFrame] = []
    with ApiClient(spec, scrub) as client:
        for shown, items in read_pages(client, spec, since):
            rejects = [(i, item) for i, item in enumerate(items) if not isinstance(item, dict)]
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    good.append(item)
                    origin.append((shown, i))
            if rejects:
                bad_parts.append(
                    quarantine_records(
                        [item for _, item in rejects],
                        reasons=[
                            f"record is a JSON {json_kind(item)}, not an object"
                            for _, item in rejects
                        ],
                        source=shown,
                        lines=[i for i, _ in rejects],
                        rule="record_shape",
                    )
                )
    frame, conflicts = records_frame(good, origin, scrub.shown(spec.url))
    if conflicts is not None:
        bad_parts.append(conflicts)
    watermark = since
    if spec.incremental is not None:
        watermark = max_value(frame, spec.incremental.field, default=since)
    bad = pl.concat(bad_parts) if bad_parts else empty_quarantine()
    return Extracted(
        data=frame.to_arrow(), bad=bad, watermark=watermark, source=scrub.shown(spec.url)
    )
