"""PII detection: suggested tags from column names and value patterns, confirmed by a steward.

``dap pii scan TABLE`` looks at each column's name and at a sample of its values and suggests
a tag (``email``, ``phone``, ``ip_address`` …) with a confidence between 0 and 1. Nothing
changes until a steward confirms one (``dap pii confirm TABLE COLUMN TAG``): the column then
carries the tag and ``pii``, so a ``tag:pii`` (or ``tag:email``) mask applies to it from the
next statement on, like the demo's tagged columns.

A scan reads raw values but shows none (only counts and confidences); tags are governance, so
both need MANAGE_GRANTS on the table, and a confirmation is audited.

>>> name_score("customer_email")
('email', 0.7)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
from deltalake import DeltaTable
from sqlalchemy import select, update

from ..errors import DapError, QueryRefused
from ..lake import split_name
from ..meta.models import CatalogColumn, CatalogTable, PolicyState

if TYPE_CHECKING:
    from ..session import Session

SAMPLE_ROWS = 1000
PII = "pii"
SUGGESTED = "pii_suggested"  # catalog option: what the scan at ingest suggested

# Column names: (kind, pattern, confidence). A word match, so "email_opt_in" counts and
# "emailed" does not; the generic "name" alone is weak (a product has a name too).
_NAMES: tuple[tuple[str, str, float], ...] = (
    ("email", r"e_?mail(_?address)?", 0.7),
    ("phone", r"phone|mobile|cell|tel(ephone)?|fax", 0.7),
    ("name", r"(first|last|full|given|family|sur|middle)_?name|surname", 0.7),
    ("name", r"name", 0.3),
    ("address", r"address|street|addr|postcode|zip(_?code)?|postal_?code", 0.6),
    ("birth_date", r"dob|birth(_?date|day)?|date_?of_?birth", 0.7),
    ("national_id", r"ssn|passport|national_?id|tax_?id|nin|social_?security", 0.8),
    ("ip_address", r"ip|ip_?addr(ess)?|ipv4|ipv6", 0.6),
    ("card_number", r"card_?(number|no)|cc_?(number|no)|pan|credit_?card", 0.7),
    ("iban", r"iban|bank_?account", 0.7),
)


_DIGITS = frozenset("0123456789")


def _luhn(text: str) -> bool:
    digits = [int(c) for c in text if c in _DIGITS]  # not str.isdigit: "²" is a digit too
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


def _ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p and set(p) <= _DIGITS and int(p) <= 255 for p in parts)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_SSN = re.compile(r"^\d{3}-\d{2}-\d{4}$")

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _phone(v: str) -> bool:
    return _PHONE.match(v) is not None and sum(c in _DIGITS for c in v) >= 7 and not _DATE.match(v)


# Value patterns: kind -> (a test of one value as text, how much a full match says). A phone
# number's shape is loose (any long digit string fits), so it says less than an email's.
_VALUES: dict[str, tuple[Callable[[str], bool], float]] = {
    "email": (lambda v: _EMAIL.match(v) is not None, 0.95),
    "phone": (_phone, 0.6),
    "ip_address": (_ipv4, 0.9),
    "card_number": (lambda v: _luhn(v) and re.fullmatch(r"[\d\s-]+", v) is not None, 0.9),
    "iban": (lambda v: _IBAN.match(v.replace(" ", "")) is not None, 0.9),
    "national_id": (lambda v: _SSN.match(v) is not None, 0.8),
}
_MIN_SAMPLE = 5  # fewer non-null values than this: the values say nothing


@dataclass(frozen=True)
class Suggestion:
    column: str
    tag: str
    confidence: float
    by_name: float
    by_values: float
    sampled: int  # non-null values looked at
    tagged: bool  # the column already carries the tag

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "tag": self.tag,
            "confidence": round(self.confidence, 2),
            "by_name": round(self.by_name, 2),
            "by_values": round(self.by_values, 2),
            "sampled": self.sampled,
            "tagged": self.tagged,
        }


def name_score(column: str) -> tuple[str, float] | None:
    """The PII kind a column's name suggests, with how much the name alone says."""
    words = re.sub(r"([a-z])([A-Z])", r"\1_\2", column).lower()
    for kind, pattern, score in _NAMES:
        if re.search(rf"(^|_)({pattern})($|_)", words):
            return kind, score
    return None


def value_scores(values: list[str]) -> dict[str, float]:
    """For each kind, the share of ``values`` that look like it, weighed by how much the
    pattern says (empty when there are too few values to tell)."""
    if len(values) < _MIN_SAMPLE:
        return {}
    scores = {}
    for kind, (test, weight) in _VALUES.items():
        share = sum(1 for v in values if test(v)) / len(values)
        if share:
            scores[kind] = share * weight
    return scores


def scan_table(session: Session, table: str) -> list[Suggestion]:
    """Suggested PII tags for the columns of ``table``, most confident first."""
    info = session.governed_catalog.find(table)
    name = info.qualified_name
    session.require("MANAGE_GRANTS", name)
    sample = _sample(session, name) if info.kind == "delta" else {}
    found: list[Suggestion] = []
    for column in info.columns:
        by_name = name_score(column.name)
        values = sample.get(column.name, [])
        by_values = value_scores(values)
        kinds = set(by_values) | ({by_name[0]} if by_name else set())
        for kind in kinds:
            n = by_name[1] if by_name and by_name[0] == kind else 0.0
            v = by_values.get(kind, 0.0)
            confidence = 1 - (1 - n) * (1 - v)
            if confidence < 0.3:
                continue
            tags = {t.lower() for t in column.tags}
            found.append(Suggestion(column.name, kind, confidence, n, v, len(values), kind in tags))
    return sorted(found, key=lambda s: (-s.confidence, s.column))


def suggest_on_ingest(session: Session, table: str) -> list[Suggestion]:
    """The scan of a table an ingest just created, kept with the table as the catalog option
    :data:`SUGGESTED` (columns, tags and confidences: no values) for a steward to confirm.
    Nothing is tagged: a guess must not change what anyone may read. A loader who may not
    manage the table's grants gets no suggestions (the scan reads raw values)."""
    try:
        found = [s for s in scan_table(session, table) if not s.tagged]
    except QueryRefused:
        return []
    if found:
        session.workspace.catalog.set_option(
            table,
            SUGGESTED,
            [
                {"column": s.column, "tag": s.tag, "confidence": round(s.confidence, 2)}
                for s in found
            ],
        )
    return found


def suggested(session: Session, table: str) -> list[dict[str, object]]:
    """The suggestions an ingest kept for ``table`` that no steward has confirmed yet."""
    info = session.governed_catalog.find(table)
    session.require("MANAGE_GRANTS", info.qualified_name)
    tags = {c.name: {t.lower() for t in c.tags} for c in info.columns}
    return [
        dict(s)
        for s in info.options.get(SUGGESTED) or []
        if str(s.get("tag")) not in tags.get(str(s.get("column")), {str(s.get("tag"))})
    ]


def pending(session: Session) -> dict[str, list[dict[str, object]]]:
    """Unconfirmed ingest suggestions of every table the caller may manage the grants of."""
    found: dict[str, list[dict[str, object]]] = {}
    for info in session.governed_catalog.list_tables():
        if SUGGESTED not in info.options:
            continue
        try:
            waiting = suggested(session, info.qualified_name)
        except QueryRefused:
            continue
        if waiting:
            found[info.qualified_name] = waiting
    return found


def _sample(session: Session, table: str) -> dict[str, list[str]]:
    """Up to :data:`SAMPLE_ROWS` non-null values of each text column, as text."""
    schema, name = split_name(table)
    dataset = DeltaTable(str(session.workspace.lake.path(schema, name))).to_pyarrow_dataset()
    text = [
        f.name
        for f in dataset.schema
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    if not text:
        return {}
    head = dataset.head(SAMPLE_ROWS, columns=text)
    return {c: [v for v in head.column(c).to_pylist() if v] for c in text}


def confirm_tag(session: Session, table: str, column: str, tag: str) -> list[str]:
    """Tag ``table.column`` with ``tag`` (and ``pii``); masks on those tags apply at once."""
    tag = tag.strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,49}", tag):
        raise DapError(f"invalid tag {tag!r}: use letters, digits and underscores")
    info = session.governed_catalog.find(table)
    name = info.qualified_name
    what = f"confirm PII tag {tag} on {name}.{column}"
    with session.audit_change("pii_tag", (name,), statement=what):
        session.require("MANAGE_GRANTS", name)
        schema, table_name = split_name(name)
        with session.workspace.meta.session() as s:
            row = s.execute(
                select(CatalogColumn)
                .join(CatalogTable, CatalogColumn.table_id == CatalogTable.id)
                .where(CatalogTable.schema_name == schema, CatalogTable.name == table_name)
                .where(CatalogColumn.name == column)
            ).scalar_one_or_none()
            if row is None:
                names = ", ".join(c.name for c in info.columns)
                raise DapError(f"{name} has no column {column}: {names}")
            tags = list(row.tags or [])
            for t in (tag, PII):
                if t not in tags:
                    tags.append(t)
            row.tags = tags  # a new list, so SQLAlchemy sees the JSON change
            # Masks follow tags: every policy snapshot must be read again.
            s.execute(update(PolicyState).values(version=PolicyState.version + 1))
            return tags
