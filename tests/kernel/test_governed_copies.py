"""Copies of governed rows are governed: quarantine, archive, older versions, the result cache,
quality failure samples.

Given ``main.payments`` with a row filter on region and a masked e-mail (tests/payments.py),
whose quarantine holds raw rows of every region and whose archive holds its 2020 rows.
"""

from __future__ import annotations

import pytest

from dap_kernel import quality
from dap_kernel.errors import QueryRefused
from dap_kernel.session import Workspace
from tests.payments import as_user, leaked

QUARANTINE = "SELECT * FROM main.payments__quarantine"


@pytest.fixture
def ws(payments_ws: Workspace) -> Workspace:
    return payments_ws


@pytest.mark.parametrize("user", ["sam", "ann", "bob", "ada"])
def test_the_quarantine_is_refused_to_schema_role_and_no_grant_readers(
    ws: Workspace, user: str
) -> None:
    reader = as_user(ws, user)
    for sql in (
        QUARANTINE,
        'SELECT _dap_record FROM "main"."PAYMENTS__QUARANTINE"',
        "SELECT count(*) FROM main.payments p JOIN main.payments__quarantine q ON true",
    ):
        with pytest.raises(QueryRefused, match=rf"{user} may not SELECT main\.payments"):
            reader.sql(sql)
    with pytest.raises(QueryRefused, match=f"{user} may not SELECT main.payments__quarantine"):
        reader.sql(QUARANTINE)
    assert not reader.check("SELECT", "main.payments__quarantine").allowed
    assert not reader.check("SELECT", "main.payments__quarantine._dap_record").allowed


def test_a_star_or_all_grant_does_not_reach_the_quarantine(ws: Workspace) -> None:
    ws.admin("tester").grant("SELECT", "*", "user", "bob")
    ws.admin("tester").grant("ALL", "main", "user", "bob")
    bob = as_user(ws, "bob")
    assert bob.sql("SELECT count(*) FROM main.payments").item() == 1  # his region only
    with pytest.raises(QueryRefused):
        bob.sql(QUARANTINE)


@pytest.mark.parametrize("user", ["stew", "olga", "tester"])
def test_stewards_and_the_owner_read_the_quarantine_raw(ws: Workspace, user: str) -> None:
    records = as_user(ws, user).sql(QUARANTINE)["_dap_record"].to_list()
    assert len(records) == 2
    assert any("hidden.tanaka@apac.example" in r for r in records)  # as stored: fix and replay


def test_a_new_owner_of_the_table_reads_its_quarantine(ws: Workspace) -> None:
    ws.catalog.describe_table("main.payments", owner="sam")
    assert as_user(ws, "sam").sql(QUARANTINE).height == 2
    with pytest.raises(QueryRefused):
        as_user(ws, "olga").sql(QUARANTINE)


def test_the_archive_is_filtered_and_masked_like_its_parent(ws: Workspace) -> None:
    sam = as_user(ws, "sam").sql("SELECT * FROM archive.payments ORDER BY payment_id")
    assert sam["payment_id"].to_list() == [1]
    assert sam["email"].to_list()[0].startswith("***")
    assert leaked(str(sam.to_dicts())) == []
    raj = as_user(ws, "raj").sql("SELECT region, amount FROM archive.payments")
    assert raj["region"].to_list() == ["APAC"]
    everything = as_user(ws, "tester").sql("SELECT count(*) FROM archive.payments").item()
    assert everything == 3


def test_the_archive_is_read_by_the_parents_grants_only(ws: Workspace) -> None:
    # ada holds SELECT on the archive schema but none on main.payments.
    with pytest.raises(QueryRefused):
        as_user(ws, "ada").sql("SELECT * FROM archive.payments")
    with pytest.raises(QueryRefused):
        as_user(ws, "bob").sql("SELECT * FROM archive.payments")
    ws.admin("tester").grant("SELECT", "main.payments", "user", "ada")
    ada = as_user(ws, "ada").sql("SELECT region, email FROM archive.payments")
    assert ada["region"].to_list() == ["EMEA"] and ada["email"][0].startswith("***")


def test_an_unmask_grant_on_the_parent_unmasks_the_archive(ws: Workspace) -> None:
    ws.admin("tester").grant("UNMASK", "main.payments.email", "user", "sam")
    email = as_user(ws, "sam").sql("SELECT email FROM archive.payments").item()
    assert email == "emma.stone@emea.example"


def test_older_versions_are_read_under_todays_filter_and_masks(ws: Workspace) -> None:
    sam = as_user(ws, "sam")
    before = sam.sql("SELECT * FROM payments FOR VERSION AS OF 0 ORDER BY payment_id")
    assert before["payment_id"].to_list() == [1, 2]  # the archived row 1 was still there
    assert all(e.startswith("***") for e in before["email"].to_list())
    at = sam.sql("SELECT * FROM payments", as_of=0)
    assert leaked(str(before.to_dicts()) + str(at.to_dicts())) == []
    assert at["payment_id"].sort().to_list() == [1, 2]


def test_the_result_cache_never_answers_one_reader_with_anothers_rows(ws: Workspace) -> None:
    sql = "SELECT region, email, amount FROM main.payments ORDER BY payment_id"
    sam1 = as_user(ws, "sam").query(sql, cache=True)
    raj = as_user(ws, "raj").query(sql, cache=True)
    sam2 = as_user(ws, "sam").query(sql, cache=True)
    assert not raj.cached and sam2.cached  # the same reader's repeat is the cache's job
    assert raj.to_polars()["region"].to_list() == ["APAC"]
    assert sam1.to_polars()["region"].to_list() == sam2.to_polars()["region"].to_list()
    assert leaked(str(sam2.to_polars().to_dicts())) == []
    admin = as_user(ws, "tester").query(sql, cache=True)
    assert not admin.cached and admin.row_count == 2


def test_quality_failure_samples_come_through_the_governed_path(ws: Workspace) -> None:
    rules = [{"range": {"column": "amount", "max": 15}}]
    report = quality.check("main.payments", rules, session=as_user(ws, "sam"))
    assert report.rows == 1  # sam sees his region's one current row
    assert report.failed.height == 1
    assert leaked(str(report.failed.to_dicts())) == []
    with pytest.raises(QueryRefused):  # writing failures into the quarantine needs MODIFY
        quality.check("main.payments", rules, session=as_user(ws, "sam"), write_failures=True)
