"""Identity from the provider, in DAP's terms: claim mapping, and the hub's activity events."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dap_kernel.errors import ConfigError, DapError, QueryRefused
from dap_kernel.governance.claims import ClaimMapping
from dap_kernel.governance.hub_activity import HubEvent, record_hub_event
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace
from tests.conftest import make_governed

HUB = Principal(name="dap-hub", kind="service", source="hub")
MAPPING = dict(
    role_map='{"finance": "analyst", "stewards": ["steward", "analyst"]}',
    admin_groups="platform-admins, ops",
    attribute_claims='{"region": "region", "department": "org.department"}',
)


def test_groups_map_to_roles_and_admins() -> None:
    mapping = ClaimMapping.parse(**MAPPING)
    assert mapping.roles(["finance"]) == {"analyst"}
    assert mapping.roles(["stewards", "other"]) == {"steward", "analyst"}
    assert mapping.roles(["ops"]) == {"admin"}
    assert mapping.roles(["unmapped"]) == frozenset()


def test_claims_map_to_attributes_and_a_missing_claim_removes_one() -> None:
    mapping = ClaimMapping.parse(**MAPPING)
    claims = {"region": "EMEA", "org": {"department": "sales"}, "email": "ann@example.com"}
    assert mapping.attributes(claims) == {"region": "EMEA", "department": "sales"}
    assert mapping.attributes({"region": ["EMEA", "APAC"]}) == {
        "region": "EMEA,APAC",
        "department": None,
    }
    assert mapping.attributes({"region": {"nested": 1}})["region"] is None


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("role_map", "{not json", "DAP_ROLE_MAP is not valid JSON"),
        ("role_map", '["analyst"]', "DAP_ROLE_MAP must be a JSON object"),
        ("role_map", '{"g": 3}', "must map to a role or a list of roles"),
        ("attribute_claims", '{"region": ""}', "every attribute maps to a claim"),
    ],
)
def test_a_malformed_mapping_is_one_clear_error(field: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ClaimMapping.parse(**{**MAPPING, field: value})


def test_a_mapped_role_grants_what_the_role_holds(demo_workspace: Workspace) -> None:
    make_governed(demo_workspace)
    policy = demo_workspace.policy
    plain = Principal(name="zoe", groups=frozenset({"finance"}), source="hub")
    mapped = replace(plain, roles=ClaimMapping.parse(**MAPPING).roles(plain.groups))
    assert not policy.check(plain, "SELECT", "main.orders").allowed
    assert policy.check(mapped, "SELECT", "main.orders").allowed  # analyst holds SELECT
    admin = Principal(name="op", groups=frozenset({"ops"}), source="hub")
    admin = replace(admin, roles=ClaimMapping.parse(**MAPPING).roles(admin.groups))
    assert policy.check(admin, "MANAGE_GRANTS", "*").allowed


def _post(ws: Workspace, event: HubEvent, caller: Principal = HUB) -> bool:
    settings = replace(ws.settings, attribute_claims=MAPPING["attribute_claims"])
    return record_hub_event(event, caller, settings=settings, meta=ws.meta, audit=ws.audit)


def test_a_login_sets_the_attributes_row_filters_read(demo_workspace: Workspace) -> None:
    ws = demo_workspace
    make_governed(ws)
    ws.admin("tester").add_member("group", "analysts", "user", "zoe")
    zoe = Principal(name="zoe", source="hub")

    def regions() -> list[str]:
        rows = ws.session(zoe).sql("SELECT DISTINCT region FROM customers ORDER BY 1")
        return list(rows["region"])

    assert regions() == []  # no region attribute: the filter matches nothing
    assert _post(ws, HubEvent("login", "zoe", groups=("analysts",), claims={"region": "APAC"}))
    assert regions() == ["APAC"]
    # The provider moves her; the hub's next refresh says so, and the rows follow.
    refresh = HubEvent("refresh", "zoe", ("analysts",), ("analysts",), {"region": "EMEA"})
    assert _post(ws, refresh)
    assert regions() == ["EMEA"]
    # A refresh that changes nothing is not a record; a claim the provider drops removes it.
    version = ws.policy.version()
    assert not _post(ws, refresh)
    assert ws.policy.version() == version  # nothing written: no cache emptied
    assert _post(ws, HubEvent("refresh", "zoe", ("analysts",), ("analysts",), {}))
    assert regions() == []
    actions = [r.action for r in ws.audit.tail(10, principal="zoe")]
    assert actions.count("login") == 1 and actions.count("refresh") == 2


def test_only_the_hubs_event_service_posts_events(demo_workspace: Workspace) -> None:
    ws = demo_workspace
    forged = HubEvent("login", "ann", claims={"region": "APAC"})
    for caller in (
        Principal(name="ann", source="hub"),  # a user
        Principal(name="dap-hub", source="hub"),  # a user named like the service
        Principal(name="other", kind="service", source="hub"),  # another hub service
        Principal(name="dap-hub", kind="service", source="apikey"),  # not the hub's word
        Principal(name="tester", source="local"),  # even an administrator
    ):
        with pytest.raises(QueryRefused, match="may not post hub events"):
            _post(ws, forged, caller)
    assert ws.audit.tail(5, action="login") == []
    with pytest.raises(DapError, match="unknown hub event"):
        _post(ws, HubEvent("promote", "ann"))


def test_events_are_audit_records_without_claim_values(demo_workspace: Workspace) -> None:
    ws = demo_workspace
    _post(ws, HubEvent("login", "ann", groups=("a",), claims={"region": "EMEA", "ssn": "123"}))
    _post(ws, HubEvent("server-start", "ann"))
    _post(ws, HubEvent("server-stop", "ann", server="gpu"))
    _post(ws, HubEvent("logout", "ann"))
    records = ws.audit.tail(10, principal="ann")
    assert [r.action for r in records] == ["logout", "server-stop", "server-start", "login"]
    assert all("EMEA" not in r.statement and "123" not in r.statement for r in records)
    assert records[1].statement == "user server 'gpu' stopped"
    assert [r.action for r in ws.audit.tail(10, action="login")] == ["login"]


def test_a_hub_users_api_key_carries_the_providers_groups_while_fresh(
    demo_workspace: Workspace,
) -> None:
    """A schedule's or a personal key has no hub token: the groups of the last login count,
    until the provider drops one (next refresh) or the record grows too old."""
    ws = demo_workspace
    make_governed(ws)
    ws.admin("tester").grant("SELECT", "main.orders", "group", "finance")
    _, key = ws.apikeys.create("zoe", "report")

    def reads_orders() -> bool:
        principal = ws.apikeys.authenticate(key)
        return ws.policy.check(principal, "SELECT", "main.orders").allowed

    assert not reads_orders()  # never seen by the hub: DAP's own grants only
    settings = replace(ws.settings, role_map=MAPPING["role_map"])
    login = HubEvent("login", "zoe", groups=("finance",))
    record_hub_event(login, HUB, settings=settings, meta=ws.meta, audit=ws.audit)
    principal = ws.apikeys.authenticate(key)
    assert principal.groups == {"finance"} and "analyst" in principal.roles  # mapped too
    assert reads_orders()
    refresh = HubEvent("refresh", "zoe", groups=(), previous_groups=("finance",))
    record_hub_event(refresh, HUB, settings=settings, meta=ws.meta, audit=ws.audit)
    assert not reads_orders()  # removed at the provider: gone for the key as well
    record_hub_event(login, HUB, settings=settings, meta=ws.meta, audit=ws.audit)
    ws.apikeys.provider_max_age_s = 0  # the record is older than the site allows
    assert not reads_orders()
