"""PII detection: suggested tags with a confidence, confirmed by a steward into tag masks."""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from dap_kernel.cli import app
from dap_kernel.errors import QueryRefused
from dap_kernel.gdpr.pii import confirm_tag, scan_table
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace


@pytest.fixture
def people(workspace: Workspace) -> Workspace:
    n = 20
    workspace.catalog.create_table(
        "people",
        pl.DataFrame(
            {
                "id": list(range(n)),
                "contact": [f"user{i}@example.org" for i in range(n)],  # no telling name
                "phone": [f"+44 20 7946 {i:04d}" for i in range(n)],
                "product_name": ["widget"] * n,
                "joined": [f"2026-01-{i % 28 + 1:02d}" for i in range(n)],
            }
        ),
        owner="tester",
    )
    return workspace


def test_scan_suggests_tags_from_names_and_values(people: Workspace) -> None:
    found = {(s.column, s.tag): s for s in scan_table(people.session(), "people")}
    assert found[("contact", "email")].confidence > 0.9  # by its values alone
    assert found[("contact", "email")].by_name == 0
    phone = found[("phone", "phone")]
    assert phone.by_name > 0 and phone.by_values > 0 and phone.confidence > phone.by_name
    assert found[("product_name", "name")].confidence < 0.5  # "name" alone says little
    assert not any(column == "joined" for column, _ in found)  # dates are not phone numbers
    assert not any(column == "id" for column, _ in found)


def test_a_confirmed_tag_feeds_the_tag_mask(people: Workspace) -> None:
    admin = people.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann")
    admin.grant("SELECT", "main.people", "user", "ann")
    admin.set_mask("tag:pii", "redact")
    ann = people.session(Principal("ann"))
    assert ann.sql("SELECT contact FROM people WHERE id = 1").item() == "user1@example.org"
    with pytest.raises(QueryRefused):
        confirm_tag(ann, "people", "contact", "email")
    with pytest.raises(QueryRefused):
        scan_table(ann, "people")
    assert confirm_tag(people.session(), "people", "contact", "email") == ["email", "pii"]
    assert ann.sql("SELECT contact FROM people WHERE id = 1").item() != "user1@example.org"
    [s] = [s for s in scan_table(people.session(), "people") if s.column == "contact"]
    assert s.tagged
    people.audit.flush()
    assert [r.decision for r in people.audit.tail(10, action="pii_tag")] == ["allowed", "refused"]
    # The tag survives a refresh of the table's statistics.
    people.catalog.refresh("people")
    tags = {c.name: c.tags for c in people.catalog.get("people").columns}
    assert tags["contact"] == ["email", "pii"]


def test_cli(people: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAP_HOME", str(people.settings.home))
    runner = CliRunner()
    out = runner.invoke(app, ["pii", "scan", "people"])
    assert out.exit_code == 0 and "dap pii confirm people contact email" in out.output, out.output
    assert "example.org" not in out.output  # no value is shown
    out = runner.invoke(app, ["pii", "confirm", "people", "contact", "email"])
    assert out.exit_code == 0 and "tags email, pii" in out.output, out.output
