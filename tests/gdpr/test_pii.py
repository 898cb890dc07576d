"""PII detection: suggested tags with a confidence, confirmed by a steward into tag masks."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from dap_kernel.cli import app
from dap_kernel.errors import QueryRefused
from dap_kernel.gdpr.pii import confirm_tag, pending, scan_table, suggested, value_scores
from dap_kernel.governance.identity import Principal
from dap_kernel.ingestion import ingest
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


def test_an_ingest_suggests_tags_and_keeps_them_for_a_steward(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = tmp_path / "signups.csv"
    rows = [f"{i},user{i}@example.org,widget" for i in range(30)]
    csv.write_text("id,contact,product\n" + "\n".join(rows) + "\n", encoding="utf-8")

    result = ingest(csv, "signups", session=workspace.session())

    assert [(c, t) for c, t, _ in result.pii_suggested] == [("contact", "email")]
    assert "possible personal data: contact (email" in result.summary()
    assert "user1@" not in result.summary()  # what is suggested, never a value
    assert pending(workspace.session()) == {
        "main.signups": [{"column": "contact", "tag": "email", "confidence": 0.95}]
    }
    # Only stewards see them: an analyst reading the table, or someone with no grant, gets none.
    admin = workspace.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann")
    admin.add_user("bob")
    admin.grant("SELECT", "main.signups", "user", "ann")
    assert pending(workspace.session(Principal("ann"))) == {}
    assert pending(workspace.session(Principal("bob"))) == {}
    with pytest.raises(QueryRefused):
        suggested(workspace.session(Principal("ann")), "signups")
    # Nothing is tagged until a steward confirms: a guess changes no one's access.
    assert not any(c.tags for c in workspace.catalog.get("signups").columns)
    monkeypatch.setenv("DAP_HOME", str(workspace.settings.home))
    shown = CliRunner().invoke(app, ["pii", "pending"])
    assert "main.signups\tcontact\temail" in shown.output
    confirm_tag(workspace.session(), "signups", "contact", "email")
    assert pending(workspace.session()) == {}
    # An append finds the table made: no second scan.
    assert ingest(csv, "signups", session=workspace.session()).pii_suggested == ()


def test_value_patterns_take_ascii_digits_only() -> None:
    """``"²".isdigit()`` is true and ``int("²")`` fails: found by the file fuzzer, where a
    column of superscripts broke the scan of an ingest."""
    assert value_scores(["²³⁴⁵⁶⁷⁸⁹¹²³⁴⁵"] * 10) == {}
    assert "card_number" in value_scores(["4111 1111 1111 1111"] * 10)
