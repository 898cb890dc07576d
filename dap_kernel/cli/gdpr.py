"""``dap gdpr``: data-subject keys, and subject access (export) and erasure requests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import DapError
from ._app import _workspace, app

gdpr_app = typer.Typer(
    help="GDPR/CCPA requests: subject keys, export and erasure (with a certificate).",
    no_args_is_help=True,
)
app.add_typer(gdpr_app, name="gdpr")


@gdpr_app.command("key")
def gdpr_key(
    table: Annotated[str, typer.Argument(help="TABLE or SCHEMA.TABLE.")],
    column: Annotated[
        str | None, typer.Argument(help="The column that identifies the data subject.")
    ] = None,
    remove: Annotated[bool, typer.Option(help="Forget the table's subject key.")] = False,
    not_personal: Annotated[
        bool,
        typer.Option(help="Declare that the table holds no row about any one person."),
    ] = False,
) -> None:
    """Declare the subject key of a table (once); needs MANAGE_GRANTS on it (a steward)."""
    from ..gdpr import declare_key, remove_key
    from ..gdpr.keys import NOT_PERSONAL

    session = _workspace().session(channel="cli")
    if remove:
        gone = remove_key(session, table)
        typer.echo(f"{table}: {'subject key removed' if gone else 'had no subject key'}")
        return
    if not_personal:
        key = declare_key(session, table, NOT_PERSONAL)
        typer.echo(f"{key.table}: holds no personal rows (left out of GDPR requests)")
        return
    if column is None:
        raise DapError("dap gdpr key TABLE COLUMN (or --not-personal, or --remove)")
    key = declare_key(session, table, column)
    typer.echo(f"{key.table}: subject key {key.column}")


@gdpr_app.command("keys")
def gdpr_keys() -> None:
    """The declared subject keys (of the tables you steward)."""
    from ..gdpr import subject_keys

    for table, key in subject_keys(_workspace().session(channel="cli")).items():
        typer.echo(f"{table}\t{key.column or '(not personal)'}\t{key.declared_by}")


@gdpr_app.command("scope")
def gdpr_scope() -> None:
    """Which tables a request searches, by which column, and which cannot be searched."""
    from ..gdpr import plan_scope, require_admin

    session = _workspace().session(channel="cli")
    require_admin(session, "see the scope of a data subject request")
    scope = plan_scope(session)
    for t in scope.targets:
        how = f"by {t.column}" if t.searchable else "NOT SEARCHABLE"
        typer.echo(f"{t.table}\t{t.kind}\t{how}\t{t.reason}")
    for table, by in scope.not_personal:
        typer.echo(f"{table}\tnot personal\tleft out\tdeclared by {by}")
    for table, column in scope.unkeyed:
        typer.echo(f"{table}\tunkeyed\thas a column {column} but no subject key or lineage")


@gdpr_app.command("export")
def gdpr_export(
    subject: Annotated[str, typer.Option(help="The subject's identifier (its key's value).")],
    out: Annotated[Path, typer.Option(help="Where to write it: FILE.json or FILE.zip.")],
) -> None:
    """Every row about a data subject, across keyed and derived tables (administrators)."""
    from ..gdpr import export_subject

    result = export_subject(_workspace().session(channel="cli"), subject, out)
    for t in result.tables:
        typer.echo(f"{t.target.table}\tversion {t.version}\t{t.rows.num_rows} rows")
    for u in result.not_searchable:
        typer.echo(f"{u.table}\tnot searchable: {u.reason}", err=True)
    typer.echo(f"{result.row_count} rows written to {result.path}")


@gdpr_app.command("erase")
def gdpr_erase(
    subject: Annotated[str, typer.Option(help="The subject's identifier (its key's value).")],
    allow_uncovered: Annotated[
        bool,
        typer.Option(
            help="Erase what can be even if a table in scope is not searchable "
            "(no certificate then)."
        ),
    ] = False,
) -> None:
    """Delete a data subject's rows, copies and history, then write an erasure certificate."""
    from ..gdpr import erase_subject

    erasure = erase_subject(
        _workspace().session(channel="cli"), subject, allow_uncovered=allow_uncovered
    )
    for table, step in erasure.steps.items():
        typer.echo(
            f"{table}\t{step['rows_deleted']} rows deleted\tversion {step.get('version_after')}"
        )
    if erasure.certificate is not None:
        typer.echo(f"request {erasure.request_id}: certificate {erasure.certificate}")
    else:
        names = ", ".join(t.table for t in erasure.uncovered)
        typer.echo(
            f"request {erasure.request_id}: NOT certified ({names} not searchable)", err=True
        )
        raise typer.Exit(2)


@gdpr_app.command("requests")
def gdpr_requests() -> None:
    """The erasure requests and their status (administrators)."""
    from ..gdpr import erasures

    for r in erasures(_workspace().session(channel="cli")):
        typer.echo(
            f"{r['request']}\t{r['status']}\t{r['started_at']}\t{r['certificate'] or r['error']}"
        )


@gdpr_app.command("processing")
def gdpr_processing(
    name: Annotated[
        str | None, typer.Argument(help="The record to file or replace (omit to list).")
    ] = None,
    purpose: Annotated[str, typer.Option(help="Why the personal data is processed.")] = "",
    legal_basis: Annotated[
        str,
        typer.Option(
            help="consent, contract, legal_obligation, vital_interests, public_task or "
            "legitimate_interests (GDPR Art. 6)."
        ),
    ] = "",
    tables: Annotated[str, typer.Option(help="The tables it processes, comma-separated.")] = "",
    subjects: Annotated[str, typer.Option(help="Categories of data subjects.")] = "",
    recipients: Annotated[str, typer.Option(help="Who receives the data.")] = "",
    remove: Annotated[bool, typer.Option(help="Delete the record.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The register as JSON.")] = False,
) -> None:
    """The register of processing activities (Art. 30): list it, or file a record (needs
    MANAGE_GRANTS on each of its tables)."""
    import json

    from ..gdpr.processing import processing_records, record_processing, remove_processing

    session = _workspace().session(channel="cli")
    if name is not None and remove:
        gone = remove_processing(session, name)
        typer.echo(f"{name}: {'removed' if gone else 'no such record'}")
        return
    if name is not None:
        listed = [t.strip() for t in tables.split(",") if t.strip()]
        record = record_processing(
            session,
            name,
            purpose=purpose,
            legal_basis=legal_basis,
            tables=listed,
            subjects=subjects,
            recipients=recipients,
        )
        typer.echo(f"{record.name}: {record.legal_basis}, {len(record.tables)} tables")
        return
    records = processing_records(session)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    if not records:
        typer.echo("no processing records: file one with dap gdpr processing NAME --purpose …")
    for r in records:
        typer.echo(f"{r.name}\t{r.legal_basis}\t{r.purpose}")
        for t in r.tables:
            key = "no subject key" if t.subject_key is None else f"key {t.subject_key or 'none'}"
            kept = ", ".join(f"{k} {v}" for k, v in t.retention.items()) or "no retention policy"
            personal = ", ".join(t.personal_columns) or "no PII-tagged column"
            dropped = "" if t.exists else " (dropped)"
            typer.echo(f"  {t.table}{dropped}\t{key}\t{personal}\t{kept}")
