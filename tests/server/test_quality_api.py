"""REST `quality/{table}`: latest results and badge, a check run now, rules — all governed."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import Api

RULES: list[dict[str, Any]] = [
    {"not_null": "order_id"},
    {"unique": "order_id"},
    {"accepted_values": {"column": "status", "values": ["delivered"]}, "severity": "warn"},
    {"freshness": {"column": "order_ts", "max_age": "100000d"}},
]


async def test_rules_check_and_latest_results(api: Api) -> None:
    empty = await api("GET", "quality/main.orders", as_="ann")
    assert empty.status == 200
    assert empty.body["badge"] == {
        "status": "unknown",
        "checked_at": None,
        "failed_rules": 0,
        "freshness": None,
    }
    assert empty.body["results"] == [] and empty.body["rules"] == []
    # Only MODIFY sets rules: ann is an analyst, the server's owner an admin.
    denied = await api("POST", "quality/main.orders/rules", as_="ann", body={"rules": RULES})
    assert denied.status == 403 and denied.body["error"] == "query_refused"
    stored = await api("POST", "quality/main.orders/rules", body={"rules": RULES})
    assert stored.status == 200 and stored.body["table"] == "main.orders"
    assert [next(iter(r)) for r in stored.body["rules"]] == [
        "not_null",
        "unique",
        "accepted_values",
        "freshness",
    ]
    ran = await api("POST", "quality/orders/check", as_="ann")
    assert ran.status == 200, ran.body
    assert ran.body["status"] == "warn" and ran.body["ok"] is True and ran.body["recorded"]
    statuses = {r["rule"]: (r["status"], r["failures"]) for r in ran.body["results"]}
    assert statuses["not_null_order_id"] == ("pass", 0)
    assert statuses["accepted_values_status"][0] == "warn"
    assert statuses["accepted_values_status"][1] > 0
    latest = await api("GET", "quality/main.orders", as_="raj")
    badge = latest.body["badge"]
    assert badge["status"] == "warn" and badge["failed_rules"] == 1
    assert badge["freshness"]["column"] == "order_ts" and badge["freshness"]["age_s"] > 0
    assert badge["checked_at"].endswith(("Z", "+00:00"))
    assert latest.body["checked_by"] == "ann"
    assert [r["rule"] for r in latest.body["results"]] == list(statuses)
    assert latest.body["results"][2]["failures"] == statuses["accepted_values_status"][1]


async def test_ad_hoc_rules_and_errors(api: Api) -> None:
    body = {"rules": [{"range": {"column": "order_id", "max": 5}}]}
    ran = await api("POST", "quality/main.orders/check", as_="ann", body=body)
    assert ran.status == 200 and ran.body["status"] == "fail" and not ran.body["ok"]
    assert ran.body["recorded"] is False and ran.body["quarantined"] == 0
    assert (await api("GET", "quality/main.orders", as_="ann")).body["badge"]["status"] == "unknown"
    no_rules = await api("POST", "quality/main.orders/check", as_="ann")
    assert no_rules.status == 400 and no_rules.body["error"] == "quality_error"
    bad = await api(
        "POST", "quality/main.orders/check", as_="ann", body={"rules": [{"bogus": "x"}]}
    )
    assert bad.status == 400 and "name exactly one kind" in bad.body["message"]
    column = await api(
        "POST", "quality/main.orders/check", as_="ann", body={"rules": [{"not_null": "nope"}]}
    )
    assert column.status == 400 and "no column 'nope'" in column.body["message"]
    typo = await api("POST", "quality/main.orders/check", as_="ann", body={"rule": []})
    assert typo.status == 400 and typo.body["error"] == "invalid_request"
    missing = await api("GET", "quality/main.nope", as_="ann")
    assert missing.status == 404 and missing.body["error"] == "unknown_table"
    write = await api(
        "POST", "quality/main.orders/check", as_="ann", body={**body, "write_failures": True}
    )
    assert write.status == 403  # copying rows into the quarantine table needs MODIFY


async def test_write_failures_as_the_owner(api: Api) -> None:
    body = {"rules": [{"range": {"column": "order_id", "max": 5}}], "write_failures": True}
    ran = await api("POST", "quality/main.orders/check", body=body)
    assert ran.status == 200 and ran.body["quarantined"] == ran.body["results"][0]["failures"]
    rows = await api("POST", "query", body={"sql": "SELECT count(*) FROM main.orders__quarantine"})
    assert rows.body["rows"] == [[ran.body["quarantined"]]]
    total = await api("POST", "query", body={"sql": "SELECT count(*) FROM main.orders"})
    assert total.body["rows"][0][0] == ran.body["rows"]  # nothing was deleted


async def test_a_row_filtered_reader_gets_statuses_not_counts(api: Api) -> None:
    rules = [{"accepted_values": {"column": "region", "values": ["EMEA"]}}]
    assert (await api("POST", "quality/main.customers/rules", body={"rules": rules})).status == 200
    owner = await api("POST", "quality/main.customers/check")
    assert owner.body["status"] == "fail" and owner.body["recorded"]
    failures = owner.body["results"][0]["failures"]
    assert failures > 0
    ann = await api("GET", "quality/main.customers", as_="ann")
    assert ann.status == 200 and ann.body["badge"]["status"] == "fail"
    assert ann.body["results"][0]["failures"] is None
    assert ann.body["results"][0]["message"] == "accepted_values rule failed"
    admin = await api("GET", "quality/main.customers")
    assert admin.body["results"][0]["failures"] == failures
    # ann's own check sees EMEA rows only: it passes, and is not stored as the table's result.
    mine = await api("POST", "quality/main.customers/check", as_="ann")
    assert mine.body["status"] == "pass" and mine.body["recorded"] is False
    assert mine.body["rows"] < owner.body["rows"]


async def test_bob_without_grants_gets_the_answer_for_a_missing_table(api: Api) -> None:
    # Quality results are about a table's contents: to a stranger the table does not exist.
    for method, path, body in (
        ("GET", "quality/{}", None),
        ("POST", "quality/{}/check", {"rules": [{"not_null": "order_id"}]}),
        ("POST", "quality/{}/rules", {"rules": [{"not_null": "order_id"}]}),
    ):
        reply = await api(method, path.format("main.orders"), as_="bob", body=body)
        missing = await api(method, path.format("main.ordrs"), as_="bob", body=body)
        assert reply.status == missing.status == 404, path
        assert reply.body["error"] == missing.body["error"] == "unknown_table", path
        assert "did you mean" not in reply.body["message"] + missing.body["message"]


async def test_a_foreign_key_is_checked_against_what_the_caller_sees(api: Api) -> None:
    rule = {"foreign_key": {"column": "customer_id", "references": "main.customers.customer_id"}}
    owner = await api("POST", "quality/main.orders/check", body={"rules": [rule]})
    assert owner.status == 200 and owner.body["status"] == "pass"
    ann = await api("POST", "quality/main.orders/check", as_="ann", body={"rules": [rule]})
    # ann reads customers through her region's filter: orders of other regions' customers
    # have no match she can see, and that result is hers alone.
    assert ann.status == 200 and ann.body["status"] == "fail" and not ann.body["recorded"]
