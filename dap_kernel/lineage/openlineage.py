"""OpenLineage run events (``openlineage-python``), sent to a file and/or an HTTP endpoint."""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import DapError
from .names import ColumnEdge, _clean_url, _first_line, _unique, classify_source

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)

_STATES = {
    "start": "START",
    "started": "START",
    "running": "RUNNING",
    "complete": "COMPLETE",
    "completed": "COMPLETE",
    "success": "COMPLETE",
    "succeeded": "COMPLETE",
    "ok": "COMPLETE",
    "fail": "FAIL",
    "failed": "FAIL",
    "error": "FAIL",
    "abort": "ABORT",
    "aborted": "ABORT",
    "cancelled": "ABORT",
    "other": "OTHER",
}
PRODUCER = "https://github.com/dap/dap"


def namespace(settings: Settings) -> str:
    """``dap://<host><home>``: one OpenLineage namespace per DAP home."""
    home = str(Path(settings.home).expanduser())
    return f"dap://{socket.gethostname().lower() or 'localhost'}{home}"


def _dataset(settings: Settings, source: str) -> tuple[str, str]:
    """(namespace, name) of a source, after OpenLineage's naming conventions."""
    kind, name = classify_source(source)
    if kind == "table":
        return namespace(settings), name
    if kind == "file":
        return "file", str(Path(name).expanduser())
    parts = urlsplit(name)
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/") or "/"


def _run_uuid(run_id: str) -> str:
    """OpenLineage wants a UUID: DAP's own ids map onto one, the same id onto the same UUID."""
    try:
        return str(uuid.UUID(str(run_id)))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dap-run:{run_id}"))


def run_event(
    settings: Settings,
    job: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    run_id: str,
    state: str,
    *,
    column_lineage: Sequence[ColumnEdge] | None = None,
    error: str | None = None,
    event_time: datetime | None = None,
) -> Any:
    """The ``openlineage.client.event_v2.RunEvent`` for one state of one run."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent
    from openlineage.client.event_v2 import RunState as EventType
    from openlineage.client.facet_v2 import column_lineage_dataset as cl
    from openlineage.client.facet_v2 import error_message_run

    event_type = _STATES.get(state.strip().lower(), state.strip().upper())
    if event_type not in EventType.__members__:
        raise DapError(f"unknown run state {state!r}: use START, RUNNING, COMPLETE, FAIL or ABORT")
    run_facets: dict[str, Any] = {}
    if error:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error.splitlines()[0][:2000] if error.strip() else error,
            programmingLanguage="python",
            producer=PRODUCER,
        )
    by_target: dict[str, list[ColumnEdge]] = {}
    for c in column_lineage or ():
        by_target.setdefault(classify_source(c.target_table)[1], []).append(c)
    input_sets = [InputDataset(*_dataset(settings, s)) for s in _unique(inputs)]
    output_sets = []
    for target in _unique(outputs):
        ns, name = _dataset(settings, target)
        facets: dict[str, Any] = {}
        edges = by_target.get(classify_source(target)[1], [])
        if edges:
            fields: dict[str, list[Any]] = {}
            for c in edges:
                source_ns, source_name = _dataset(settings, c.source_table)
                fields.setdefault(c.target_column, []).append(
                    cl.InputField(namespace=source_ns, name=source_name, field=c.source_column)
                )
            facets["columnLineage"] = cl.ColumnLineageDatasetFacet(
                fields={k: cl.Fields(inputFields=v) for k, v in fields.items()},
                producer=PRODUCER,
            )
        output_sets.append(OutputDataset(ns, name, facets=facets))
    return RunEvent(
        eventType=EventType[event_type],
        eventTime=(event_time or datetime.now(UTC)).isoformat(),
        run=Run(runId=_run_uuid(run_id), facets=run_facets),
        job=Job(namespace=namespace(settings), name=job),
        producer=PRODUCER,
        inputs=input_sets,
        outputs=output_sets,
    )


def emit_run(
    settings: Settings,
    job: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    run_id: str,
    state: str,
    *,
    column_lineage: Sequence[ColumnEdge] | None = None,
    error: str | None = None,
) -> dict[str, Any] | None:
    """Send one OpenLineage run event to ``settings.openlineage_file`` (one JSON line appended)
    and/or ``settings.openlineage_url``; returns the event as a dict, or None when neither is
    set. Sending never fails the caller: a failure is logged as a warning."""
    if not (settings.openlineage_file or settings.openlineage_url):
        return None
    from openlineage.client.serde import Serde

    try:
        event = run_event(
            settings,
            job,
            inputs,
            outputs,
            run_id,
            state,
            column_lineage=column_lineage,
            error=error,
        )
        text = Serde.to_json(event)
    except Exception as e:  # lineage must never break the run it describes
        log.warning("OpenLineage event for %s not built: %s", job, _first_line(e))
        return None
    if settings.openlineage_file:
        _send_file(settings.openlineage_file, event)
    if settings.openlineage_url:
        _send_http(settings.openlineage_url, event)
    result: dict[str, Any] = json.loads(text)
    return result


def _send_file(path: str, event: Any) -> None:
    from openlineage.client.transport.file import FileConfig, FileTransport

    try:
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        FileTransport(FileConfig(log_file_path=str(target), append=True)).emit(event)
    except Exception as e:
        log.warning("OpenLineage event not written to %s: %s", path, _first_line(e))


def _send_http(url: str, event: Any) -> None:
    from openlineage.client.transport.http import HttpConfig, HttpTransport
    from openlineage.client.transport.http_common import DEFAULT_RETRY_CONFIG

    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, "/", "", ""))
    endpoint = parts.path.lstrip("/") or "api/v1/lineage"  # Marquez's path when none is given
    if parts.query:
        endpoint += f"?{parts.query}"
    retry = {**DEFAULT_RETRY_CONFIG, "total": 2, "read": 2, "connect": 2, "backoff_factor": 0.2}
    transport = None
    try:
        transport = HttpTransport(HttpConfig(url=base, endpoint=endpoint, timeout=5.0, retry=retry))
        transport.emit(event)
    except Exception as e:
        log.warning("OpenLineage event not sent to %s: %s", _clean_url(url), type(e).__name__)
    finally:
        if transport is not None:
            transport.close()
