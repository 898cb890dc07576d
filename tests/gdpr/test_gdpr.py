"""GDPR requests: a subject key per table, export and erasure through lineage, copies and
history, the certificate, and who may ask."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from dap_kernel.archive import Retention, run_archive, set_retention
from dap_kernel.cli import app
from dap_kernel.errors import DapError, QueryRefused
from dap_kernel.gdpr import (
    ErasureRefused,
    declare_key,
    erase_subject,
    export_subject,
    plan_scope,
    subject_keys,
)
from dap_kernel.gdpr import erase as erase_module
from dap_kernel.governance.identity import Principal
from dap_kernel.quarantine import quarantine_frame, write_quarantine
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

NOW = datetime.now(UTC)
SUBJECT = "42"


@pytest.fixture
def shop(workspace: Workspace) -> Iterator[Workspace]:
    """Customers (keyed by customer_id) and their orders over three versions, an archive of
    old orders, a quarantine row of customer 42, and a CTAS-derived table of big orders."""
    ws = workspace
    ws.catalog.create_table(
        "customers",
        pl.DataFrame(
            {
                "customer_id": [41, 42, 43],
                "email": ["a@x.org", "zz-subject@x.org", "c@x.org"],
                "region": ["EMEA", "EMEA", "APAC"],
            }
        ),
        owner="tester",
    )
    ws.catalog.create_table(
        "orders",
        pl.DataFrame(
            {
                "order_id": [1, 2],
                "customer_id": [41, 43],
                "amount": [5.0, 50.0],
                "at": [NOW - timedelta(days=2), NOW - timedelta(days=1)],
            }
        ),
        owner="tester",
    )
    # Version 1: the subject's orders arrive (one of them old enough to be archived).
    ws.catalog.write(
        "orders",
        pl.DataFrame(
            {
                "order_id": [3, 4],
                "customer_id": [42, 42],
                "amount": [70.0, 80.0],
                "at": [NOW - timedelta(days=800), NOW],
            }
        ),
        "append",
    )
    s = ws.session()
    set_retention(s, "orders", Retention(archive_after_days=365, column="at"))
    run_archive(s, "orders", now=NOW)  # order 3 moves to archive.orders
    write_quarantine(
        ws.catalog,
        "customers",
        quarantine_frame(
            [{"customer_id": 42, "email": "not-an-email"}, {"customer_id": 7, "email": "?"}],
            rule="email",
            reason="not an email",
        ),
    )
    s.sql("CREATE TABLE main.big_orders AS SELECT order_id, customer_id, amount FROM orders")
    declare_key(s, "customers", "customer_id")
    declare_key(s, "orders", "customer_id")
    yield ws


def subject_count(ws: Workspace, table: str, version: int | None = None) -> int:
    s = ws.session()
    if table.endswith("__quarantine"):
        sql = f"SELECT count(*) FROM {table} WHERE _dap_record LIKE '%\"customer_id\":42,%'"
    else:
        sql = f"SELECT count(*) FROM {table} WHERE customer_id = 42"
    return int(s.sql(sql, as_of=version).item())


# -- a: the key --------------------------------------------------------------------------------


def test_a_key_is_declared_once_per_table_and_checked(shop: Workspace) -> None:
    s = shop.session()
    keys = subject_keys(s)
    assert {t: k.column for t, k in keys.items()} == {
        "main.customers": "customer_id",
        "main.orders": "customer_id",
    }
    declare_key(s, "customers", "EMAIL")  # moving it keeps one key, named as the column is
    assert subject_keys(s)["main.customers"].column == "email"
    with pytest.raises(DapError, match="has no column nope"):
        declare_key(s, "customers", "nope")
    assert any(r["action"] == "gdpr_key" for r in _audit(shop))


def test_only_a_steward_declares_a_key(shop: Workspace) -> None:
    _governed(shop)
    with pytest.raises(QueryRefused):
        declare_key(shop.session(Principal("ann")), "customers", "email")
    declare_key(shop.session(Principal("stu")), "customers", "email")  # the steward role
    refused = [r for r in _audit(shop) if r["action"] == "gdpr_key" and r["decision"] == "refused"]
    assert refused and refused[-1]["principal"] == "ann"


# -- b: export ---------------------------------------------------------------------------------


def test_export_finds_the_subject_in_base_derived_archive_and_quarantine(
    shop: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "subject.json"
    result = export_subject(shop.session(), SUBJECT, out)
    body = json.loads(out.read_text())
    assert out.stat().st_mode & 0o077 == 0  # personal data: the writer's eyes only
    found = {t["table"]: (t["kind"], t["row_count"]) for t in body["tables"]}
    assert found == {
        "main.customers": ("subject_key", 1),
        "main.orders": ("subject_key", 1),
        "main.big_orders": ("derived", 1),
        "archive.orders": ("archive", 1),
        "main.customers__quarantine": ("quarantine", 1),
    }
    by_table = {t["table"]: t for t in body["tables"]}
    assert by_table["main.customers"]["rows"][0]["email"] == "zz-subject@x.org"
    assert by_table["main.orders"]["version"] == shop.catalog.get("orders").version
    assert result.row_count == 5 and body["not_searchable"] == []
    assert SUBJECT not in json.dumps([r["statement"] for r in _audit(shop)])  # hashed only


def test_a_derived_table_without_the_key_is_reported_not_searchable(
    shop: Workspace, tmp_path: Path
) -> None:
    s = shop.session()
    s.sql(
        "CREATE TABLE main.spend AS "
        "SELECT customer_id AS cid, sum(amount) AS total FROM orders GROUP BY 1"
    )
    out = tmp_path / "subject.zip"
    result = export_subject(s, SUBJECT, out)
    [uncovered] = result.not_searchable
    assert uncovered.table == "main.spend"
    assert (
        "no column customer_id" in uncovered.reason
        and "dap gdpr key main.spend cid" in uncovered.reason
    )
    import zipfile

    with zipfile.ZipFile(out) as z:
        manifest = json.loads(z.read("manifest.json"))
    assert manifest["not_searchable"][0]["table"] == "main.spend"
    # Declaring its key makes it searchable.
    declare_key(s, "spend", "cid")
    assert not plan_scope(s).uncovered


# -- c: erase ----------------------------------------------------------------------------------


def test_erase_removes_the_subject_from_data_copies_and_history(shop: Workspace) -> None:
    tables = ["customers", "orders", "big_orders", "archive.orders", "customers__quarantine"]
    old_orders = shop.catalog.get("orders").version - 1  # the version before the archive run
    assert subject_count(shop, "orders", old_orders) == 2
    assert subject_count(shop, "orders") == 1  # order 3 is in the archive now
    s = shop.session()
    s.query("SELECT * FROM orders", as_of=old_orders, cache=True)  # a cached old answer
    erasure = erase_subject(s, SUBJECT)
    assert erasure.status == "certified"
    for table in tables:
        assert subject_count(shop, table) == 0, table
    # Time travel to every older version: unreadable, or no row about the subject.
    for version in range(shop.catalog.get("orders").version):
        try:
            n = subject_count(shop, "orders", version)
        except DapError:
            continue
        assert n == 0, version
    # Everyone else is still there, and statistics no longer show the subject's email.
    assert s.sql("SELECT count(*) FROM customers").item() == 2
    emails = {c.name: c for c in shop.catalog.get("customers").columns}["email"]
    assert emails.max_value != "zz-subject@x.org"
    # No Delta log file still carries the subject's email in its statistics.
    log = shop.lake.path("main", "customers") / "_delta_log"
    assert not any("zz-subject" in p.read_text() for p in log.glob("*.json"))

    cert = json.loads(erasure.certificate.read_text())  # type: ignore[union-attr]
    listed = {t["table"]: t["rows_deleted"] for t in cert["tables"]}
    assert listed == {
        "main.customers": 1,
        "main.orders": 1,
        "main.big_orders": 1,
        "archive.orders": 1,
        "main.customers__quarantine": 1,
    }
    assert cert["rows_deleted"] == 5 and SUBJECT not in json.dumps(cert["tables"])
    assert all(not p["versions_still_returning_subject"] for p in cert["proof"])
    assert {p["table"] for p in cert["proof"]} == set(listed)
    record = [r for r in _audit(shop) if r["action"] == "gdpr_erase"][-1]
    assert record["decision"] == "allowed" and "certificate sha256:" in record["statement"]
    # Whom it was about cannot be found by hashing guesses: the hash is keyed per workspace.
    plain = hashlib.sha256(SUBJECT.encode()).hexdigest()
    assert plain[:16] not in record["statement"] and plain not in json.dumps(cert)
    assert cert["subject_hmac"] == erasure.subject_hmac and len(erasure.subject_hmac) == 64
    assert f"hmac:{erasure.subject_hmac[:16]}" in record["statement"]
    # A second request finds nothing left and certifies that too.
    again = erase_subject(s, SUBJECT)
    assert again.status == "certified" and again.rows_deleted == 0


def test_history_is_purged_where_the_rows_left_before_the_request(shop: Workspace) -> None:
    """Rows deleted some other way still sit in old versions, and the log's statistics of
    their files may name the subject: erasure ends both though it deletes nothing now."""
    ws = shop
    ws.catalog.create_table(
        "visits", pl.DataFrame({"customer_id": [42, 43], "page": ["/a", "/b"]}), owner="tester"
    )
    declare_key(ws.session(), "visits", "customer_id")
    ws.lake.delete_where("main", "visits", '"customer_id" = 42')
    ws.catalog.refresh("visits")
    assert subject_count(ws, "visits", 0) == 1 and subject_count(ws, "visits") == 0
    erasure = erase_subject(ws.session(), SUBJECT)
    step = erasure.steps["main.visits"]
    assert step["rows_deleted"] == 0 and step["history_purged"]
    with pytest.raises(DapError):
        subject_count(ws, "visits", 0)
    assert ws.session().sql("SELECT page FROM visits")["page"].to_list() == ["/b"]


def test_the_proof_sees_the_subject_in_every_version_before_erasure(shop: Workspace) -> None:
    from dap_kernel.gdpr.history import prove_absent

    targets = {t.table: t for t in plan_scope(shop.session()).targets}
    proof = prove_absent(shop.lake, targets["main.orders"], SUBJECT)
    assert proof.found == {1: 2, 2: 1} and proof.readable == [0]  # v2: order 3 archived
    quarantine = prove_absent(shop.lake, targets["main.customers__quarantine"], SUBJECT)
    assert quarantine.found == {0: 1}


def test_erasing_someone_absent_keeps_history(shop: Workspace) -> None:
    erasure = erase_subject(shop.session(), "999")
    assert erasure.status == "certified" and erasure.rows_deleted == 0
    assert not any(step["history_purged"] for step in erasure.steps.values())
    assert subject_count(shop, "orders", 0) == 0  # version 0 is still readable
    assert subject_count(shop, "orders", 1) == 2  # and so is 42's, until 42 asks


def test_erase_refuses_to_certify_with_an_uncovered_derived_table(shop: Workspace) -> None:
    s = shop.session()
    s.sql("CREATE TABLE main.by_region AS SELECT region, count(*) AS n FROM customers GROUP BY 1")
    with pytest.raises(ErasureRefused, match="main.by_region is not searchable"):
        erase_subject(s, SUBJECT)
    assert subject_count(shop, "customers") == 1  # nothing was deleted
    partial = erase_subject(s, SUBJECT, allow_uncovered=True)
    assert partial.status == "uncertified" and partial.certificate is None
    assert subject_count(shop, "customers") == 0
    record = [r for r in _audit(shop) if r["action"] == "gdpr_erase"][-1]
    assert "NOT certified: main.by_region" in record["statement"]
    # A steward who knows it holds no row about any one person says so; then it certifies.
    declare_key(s, "by_region", "")
    assert "main.by_region" not in plan_scope(s).names()
    done = erase_subject(s, SUBJECT)
    assert done.status == "certified"
    cert = json.loads(done.certificate.read_text())  # type: ignore[union-attr]
    assert cert["declared_not_personal"] == [{"table": "main.by_region", "declared_by": "tester"}]


def test_a_rerun_after_a_failure_midway_finishes_the_job(
    shop: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = erase_module.erase_table
    done: list[str] = []

    def dies_on_the_third(session, target, subject, step):  # type: ignore[no-untyped-def]
        if len(done) == 2:
            raise OSError("disk gone")
        real(session, target, subject, step)
        done.append(target.table)

    monkeypatch.setattr(erase_module, "erase_table", dies_on_the_third)
    s = shop.session()
    with pytest.raises(OSError, match="disk gone"):
        erase_subject(s, SUBJECT)
    monkeypatch.undo()
    assert len(done) == 2 and subject_count(shop, "big_orders") == 1  # not reached yet
    assert not list((shop.settings.home / "gdpr").rglob("*.json"))  # no certificate
    erasure = erase_subject(s, SUBJECT)
    assert erasure.resumed and erasure.status == "certified"
    cert = json.loads(erasure.certificate.read_text())  # type: ignore[union-attr]
    assert cert["rows_deleted"] == 5 and cert["resumed_after_failure"]
    for table in ("customers", "orders", "big_orders", "archive.orders"):
        assert subject_count(shop, table) == 0


def test_no_declared_key_is_an_error_not_an_empty_certificate(workspace: Workspace) -> None:
    with pytest.raises(DapError, match="no table has a data-subject key"):
        erase_subject(workspace.session(), SUBJECT)


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_erase_on_each_metadata_store(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'meta.db'}"
        if store == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    ws = Workspace(Settings(home=tmp_path / "home", user="tester", meta_url=url))
    try:
        ws.catalog.create_table("t", pl.DataFrame({"customer_id": [42, 1]}), owner="tester")
        declare_key(ws.session(), "t", "customer_id")
        first = erase_subject(ws.session(), SUBJECT)
        assert first.status == "certified" and first.rows_deleted == 1
        [row] = erase_module.erasures(ws.session())
        assert row["status"] == "certified" and row["certificate"].endswith(".json")
    finally:
        ws.close()


# -- who may ask -------------------------------------------------------------------------------


def test_an_analyst_may_neither_export_nor_erase(shop: Workspace, tmp_path: Path) -> None:
    _governed(shop)
    for user in ("ann", "stu"):  # an analyst with grants, and even a steward
        s = shop.session(Principal(user))
        with pytest.raises(QueryRefused, match="only an administrator"):
            export_subject(s, SUBJECT, tmp_path / "x.json")
        with pytest.raises(QueryRefused, match="only an administrator"):
            erase_subject(s, SUBJECT)
    assert not (tmp_path / "x.json").exists()
    assert subject_count(shop, "customers") == 1
    refused = [
        r["action"] for r in _audit(shop) if r["decision"] == "refused" and r["principal"] == "ann"
    ]
    assert {"gdpr_export", "gdpr_erase"} <= set(refused)


def test_cli(shop: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAP_HOME", str(shop.settings.home))
    runner = CliRunner()
    out = runner.invoke(app, ["gdpr", "key", "customers", "email"])
    assert out.exit_code == 0 and "main.customers: subject key email" in out.output, out.output
    out = runner.invoke(app, ["gdpr", "keys"])
    assert "main.orders\tcustomer_id" in out.output, out.output
    target = tmp_path / "out.json"
    out = runner.invoke(
        app, ["gdpr", "export", "--subject", "zz-subject@x.org", "--out", str(target)]
    )
    assert out.exit_code == 0, out.output
    assert "main.customers" in out.output and target.exists()
    out = runner.invoke(app, ["gdpr", "erase", "--subject", "zz-subject@x.org"])
    assert out.exit_code == 0 and "certificate" in out.output, out.output


# -- helpers -----------------------------------------------------------------------------------


def _governed(ws: Workspace) -> None:
    admin = ws.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann")
    admin.add_user("stu")
    admin.add_member("role", "analyst", "user", "ann")
    admin.grant("SELECT", "*", "user", "ann")
    admin.add_member("role", "steward", "user", "stu")


def _audit(ws: Workspace) -> list[dict[str, object]]:
    ws.audit.flush()
    return [
        {
            "action": r.action,
            "decision": r.decision,
            "principal": r.principal,
            "statement": r.statement,
        }
        for r in reversed(ws.audit.tail(1000))
    ]
