"""dap stream start|status|list|stop: Kafka topics into governed lake tables, exactly once.

``start`` runs in the foreground until SIGTERM/Ctrl-C or ``dap stream stop NAME`` (which
sends it SIGTERM): the batch being read is committed, then it exits. A stream is named for its
table (``main.clicks``; ``clicks`` works too).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import DapError
from ._app import _print_frame, _workspace, app

stream_app = typer.Typer(
    help="Stream Kafka topics into lake tables, exactly once (offsets kept in the table).",
    no_args_is_help=True,
)
app.add_typer(stream_app, name="stream")


def _kafka_settings(pairs: list[str], config: Path | None) -> dict[str, Any]:
    """``--kafka-config FILE`` (``key=value`` lines, ``#`` comments) then ``--kafka k=v``."""
    lines: list[str] = []
    if config is not None:
        try:
            lines += config.read_text().splitlines()
        except OSError as e:
            raise DapError(f"cannot read {config}: {e.strerror}") from e
    lines += pairs
    settings: dict[str, Any] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise DapError(f"a Kafka setting is KEY=VALUE, not {line.split('=')[0]!r}")
        settings[key.strip()] = value.strip()
    return settings


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DapError(f"cannot read {path}: {e}") from None


@stream_app.command("start")
def start_command(
    topic: Annotated[str, typer.Option(help="The topic to consume.")],
    table: Annotated[str, typer.Option(help="TABLE or SCHEMA.TABLE to append to.")],
    bootstrap: Annotated[
        str, typer.Option(help="Kafka bootstrap servers, HOST:PORT[,…] (or --connector).")
    ] = "",
    connector: Annotated[
        str, typer.Option(help="A Kafka connector: its brokers and credentials (USE_CONNECTOR).")
    ] = "",
    format: Annotated[str, typer.Option(help="Event format: json, csv or avro.")] = "json",
    avro_schema: Annotated[
        Path | None, typer.Option(help="The writer's Avro schema (.avsc) of --format avro.")
    ] = None,
    schema: Annotated[
        str | None,
        typer.Option(help="Columns of a new table: 'id:bigint,page:string,at:timestamp'."),
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="Consumer group (default dap-stream.SCHEMA.TABLE).")
    ] = None,
    batch_rows: Annotated[int, typer.Option(help="A batch closes at this many events.")] = 50_000,
    batch_seconds: Annotated[
        float, typer.Option(help="… or this many seconds after its first event.")
    ] = 1.0,
    start: Annotated[
        str,
        typer.Option(help="Where a partition the table has never seen starts: earliest or latest."),
    ] = "earliest",
    kafka: Annotated[
        list[str] | None,
        typer.Option(help="librdkafka setting KEY=VALUE (repeatable), e.g. security.protocol=SSL."),
    ] = None,
    kafka_config: Annotated[
        Path | None,
        typer.Option(help="File of KEY=VALUE librdkafka settings (keep SASL passwords here)."),
    ] = None,
) -> None:
    """Consume TOPIC into TABLE until stopped; bad events go to TABLE__quarantine."""
    from ..streams import StreamRunner, StreamSpec, parse_schema, read_state
    from ..streams.request import resolve
    from ..streams.spec import stream_name

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if connector and bootstrap:
        raise DapError("--connector names the brokers: give --connector or --bootstrap, not both")
    spec = StreamSpec(
        bootstrap=bootstrap,
        topic=topic,
        table=table,
        format=format,  # type: ignore[arg-type]
        group=group or "",
        schema=parse_schema(schema) if schema else None,
        batch_rows=batch_rows,
        batch_seconds=batch_seconds,
        start=start,  # type: ignore[arg-type]
        kafka=_kafka_settings(kafka or [], kafka_config),
        connector=connector,
        avro_schema=_read_text(avro_schema) if avro_schema is not None else "",
    )
    ws = _workspace()
    try:
        running = read_state(ws.settings.home, spec.name)
    except DapError:
        running = None
    if running is not None and running.status in ("starting", "running", "stopping"):
        raise DapError(f"stream {stream_name(spec.name)} is already running (pid {running.pid})")
    session = ws.session(channel="cli")
    runner = StreamRunner(session, resolve(session, spec, supervised=False))
    typer.echo(
        f"streaming {topic} into {spec.table}; stop with Ctrl-C or `dap stream stop {spec.name}`",
        err=True,
    )
    summary = runner.run(handle_signals=True)
    typer.echo(
        f"stopped {spec.name}: {summary.rows:,} rows in {summary.batches:,} batches, "
        f"{summary.quarantined:,} quarantined",
        err=True,
    )


@stream_app.command("status")
def status_command(
    name: Annotated[str | None, typer.Argument(help="One stream (default: all).")] = None,
    format: Annotated[str, typer.Option(help="table, csv or json.")] = "table",
) -> None:
    """Streams of this DAP home: state, rows, offsets the table holds, consumer lag."""
    import polars as pl

    from ..streams import read_state, read_states

    home = _workspace().settings.home
    states = [read_state(home, name)] if name else read_states(home)
    if format == "json":
        typer.echo(json.dumps([s.to_dict() for s in states], indent=1))
        return
    frame = pl.DataFrame(
        [
            {
                "stream": s.name,
                "status": s.status,
                "rows": s.rows,
                "quarantined": s.quarantined,
                "version": s.version,
                "lag": s.total_lag,
                "events_per_s": s.events_per_s,
                "p99_ms": s.latency_p99_ms,
                "updated": s.updated_at[11:19],  # UTC time of day; --format json has it all
            }
            for s in states
        ],
        schema_overrides={
            "version": pl.Int64,
            "lag": pl.Int64,
            "events_per_s": pl.Float64,
            "p99_ms": pl.Float64,
        },
    )
    if frame.is_empty():
        typer.echo("no streams (start one with dap stream start)")
        return
    _print_frame(frame, format)
    for s in states:
        if s.error and format == "table":
            typer.echo(f"{s.name}: {s.error}")


@stream_app.command("list")
def list_command(
    format: Annotated[str, typer.Option(help="table, csv or json.")] = "table",
) -> None:
    """The same as ``dap stream status``: every stream of this DAP home."""
    status_command(None, format)


@stream_app.command("stop")
def stop_command(
    name: Annotated[str, typer.Argument(help="The stream: its table, e.g. clicks or main.clicks.")],
    wait: Annotated[float, typer.Option(help="Seconds to wait for it to stop.")] = 30,
) -> None:
    """Stop a running stream: it commits the batch it holds, leaves its group and exits."""
    from ..streams import stop_stream

    state = stop_stream(_workspace().settings.home, name, wait_s=wait)
    typer.echo(f"{state.name}: {state.status} ({state.rows:,} rows, version {state.version})")


@stream_app.command("compact")
def compact_command(
    name: Annotated[
        str, typer.Argument(help="The stream or its table, e.g. clicks or main.clicks.")
    ],
    target_rows: Annotated[
        int, typer.Option(help="Rows a compacted file holds (about).")
    ] = 1_000_000,
    min_files: Annotated[
        int, typer.Option(help="Do nothing unless at least this many files are smaller.")
    ] = 8,
) -> None:
    """Rewrite a streamed table's small files into few; its offsets and rows stay as they are.

    Safe while the stream runs; needs MODIFY on the table.
    """
    from ..streams.compact import compact
    from ..streams.spec import stream_name

    done = compact(
        _workspace().session(channel="cli"),
        stream_name(name),
        target_rows=target_rows,
        min_files=min_files,
    )
    if done.version is None:
        typer.echo(f"{done.table}: {done.files_before} files, nothing worth compacting")
        return
    typer.echo(
        f"{done.table}: {done.files_removed} files into {done.files_added} "
        f"({done.files_before} → {done.files_after}, {done.rows:,} rows), version {done.version}"
    )
