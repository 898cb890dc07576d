"""Who may define and run a pipeline: one set of rules for the CLI, Python and REST.

A pipeline runs where the data credentials live (the DAP service, or the user's own process in
the embedded default), so some of its parts act with that process's rights rather than the
caller's grants:

* a Python step runs arbitrary code inside it;
* a raw source (a server path, a database URL, an API address) reads whatever it can reach;
* a ``${secret:NAME}`` reference hands a stored credential to the source.

Those parts need MANAGE_GRANTS. Everyone else extracts through a named connector, which an
administrator defined and grants one by one (USE_CONNECTOR on ``connector:NAME``), or through a
governed query over the catalog. Loading needs CREATE on the schema (a new table) or MODIFY on
the table; redefining another user's pipeline needs MANAGE_GRANTS. Every door asks
:func:`authorize`, so the same spec gets the same answer however it arrives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..catalog import split_name
from ..connectors.registry import securable
from ..errors import QueryRefused
from ..governance.secret_refs import check_references, pipeline_credential_field
from .spec import PipelineSpec
from .store import PipelineStore

if TYPE_CHECKING:
    from ..session import Session


def check_secret_references(spec: PipelineSpec) -> bool:
    """Every field of the spec through the one secret-reference rule; True when any is used."""
    data = spec.to_dict()
    refs = check_references(data, pipeline_credential_field, what=f"pipeline {spec.name}")
    return bool(refs)


def trusted_parts(spec: PipelineSpec) -> list[str]:
    """The parts of a spec that act with the service's rights, described for a message."""
    parts: list[str] = []
    ex = spec.extract
    if not ex.connector:
        if ex.file:
            parts.append("a raw file path")
        if ex.sql_url:
            parts.append("a database URL")
        if ex.api:
            parts.append("an API address")
    if any(step.python is not None for step in spec.transform):
        parts.append("a Python step")
    if check_secret_references(spec):
        parts.append("a ${secret:…} reference")
    return parts


def authorize(session: Session, spec: PipelineSpec, *, defining: bool) -> None:
    """Raise :class:`QueryRefused` unless ``session`` may run ``spec`` (and, with ``defining``,
    save it under its name: a run saves it too, so running a changed copy of another user's
    pipeline is redefining it)."""
    _require_source(session, spec)
    _require_load(session, spec)
    _require_trusted_parts(session, spec)
    store = PipelineStore(session.workspace.meta)
    existing = store.find(spec.name)
    if existing is None or existing.owner == session.principal.name:
        return
    redefines = defining or existing.definition != spec.to_dict()
    if redefines and not session.check("MANAGE_GRANTS", "*").allowed:
        raise QueryRefused(
            f"pipeline {spec.name} belongs to {existing.owner}: only its owner or an "
            "administrator (MANAGE_GRANTS) may redefine it"
        )


def _require_trusted_parts(session: Session, spec: PipelineSpec) -> None:
    parts = trusted_parts(spec)
    if not parts or session.check("MANAGE_GRANTS", "*").allowed:
        return
    raise QueryRefused(
        f"{session.principal.name} may not run pipeline {spec.name}: "
        f"{' and '.join(parts)} act{'s' if len(parts) == 1 else ''} with the service's own "
        "rights, so only an administrator (MANAGE_GRANTS) may use "
        f"{'it' if len(parts) == 1 else 'them'}; extract through a named connector instead"
    )


def _require_source(session: Session, spec: PipelineSpec) -> None:
    ex = spec.extract
    if ex.connector:  # a named connector: a grant on it, or on every connector
        session.require("USE_CONNECTOR", securable(ex.connector))
    elif ex.kind != "sql":  # catalog queries are governed statement by statement
        session.require("USE_CONNECTOR", "*")  # a raw path or URL needs the broad grant


def _require_load(session: Session, spec: PipelineSpec) -> None:
    target = spec.load.table
    schema, _ = split_name(target)
    if target in session.workspace.catalog.known_names():
        session.require("MODIFY", target)
    else:
        session.require("CREATE", schema)
