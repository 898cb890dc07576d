"""Who may read the audit log and manage whose API keys: one rule in the core, for every door."""

from __future__ import annotations

import pytest

from dap_kernel.errors import QueryRefused
from dap_kernel.governance.apikeys import ApiKeyError, KeyAdmin, UnknownKey
from dap_kernel.governance.audit import read_audit, verify_audit
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace


def _admin(ws: Workspace, name: str) -> KeyAdmin:
    return KeyAdmin(ws.apikeys, ws.policy, Principal(name=name), audit=ws.audit, channel="test")


@pytest.fixture
def activity(governed: Workspace) -> Workspace:
    """ann and raj have each run a query."""
    for name in ("ann", "raj"):
        governed.session(Principal(name=name)).sql("SELECT count(*) FROM main.orders")
    return governed


def test_anyone_reads_only_their_own_audit_records(activity: Workspace) -> None:
    ws = activity
    ann = Principal(name="ann")
    own = read_audit(ws.audit, ws.policy, ann, limit=100)
    assert own.records and {r.principal for r in own.records} == {"ann"}
    assert own.chain_ok is None
    named = read_audit(ws.audit, ws.policy, ann, user="ann", limit=100)
    assert [r.seq for r in named.records] == [r.seq for r in own.records]
    for asked in ({"user": "raj"}, {"verify": True}):
        with pytest.raises(QueryRefused, match="ann may not administer DAP: MANAGE_GRANTS"):
            read_audit(ws.audit, ws.policy, ann, **asked)  # type: ignore[arg-type]
    with pytest.raises(QueryRefused):
        verify_audit(ws.audit, ws.policy, Principal(name="bob"))


def test_managers_read_everyones_audit_records_and_verify(activity: Workspace) -> None:
    ws = activity
    boss = Principal(name="tester")
    everyone = read_audit(ws.audit, ws.policy, boss, limit=100, verify=True)
    assert {"ann", "raj"} <= {r.principal for r in everyone.records}
    assert everyone.chain_ok is True
    raj = read_audit(ws.audit, ws.policy, boss, user="raj", limit=100)
    assert {r.principal for r in raj.records} == {"raj"}
    assert verify_audit(ws.audit, ws.policy, boss) is None


def test_api_keys_for_another_user_need_manage_grants(governed: Workspace) -> None:
    ann, boss = _admin(governed, "ann"), _admin(governed, "tester")
    info, token = ann.create(None, "mine")
    assert info.principal == "ann"
    assert governed.apikeys.authenticate(token).name == "ann"
    with pytest.raises(QueryRefused, match="ann may not create API keys for raj"):
        ann.create("raj", "impersonate raj")
    assert not governed.apikeys.list_keys("raj")  # nothing was made
    made, raj_token = boss.create("raj", "for raj")
    assert made.principal == "raj"
    # ann neither sees nor revokes raj's key: it is unknown to her, like one never made.
    assert {k.principal for k in ann.list()} == {"ann"}
    with pytest.raises(QueryRefused):
        ann.list("raj")
    for key_id in (made.key_id, "0000000000000000"):
        with pytest.raises(UnknownKey, match=f"no API key {key_id} of yours"):
            ann.revoke(key_id)
    assert governed.apikeys.authenticate(raj_token).name == "raj"
    # The manager sees and revokes anyone's.
    assert {"ann", "raj"} <= {k.principal for k in boss.list()}
    assert [k.key_id for k in boss.list("raj")] == [made.key_id]
    boss.revoke(made.key_id)
    with pytest.raises(ApiKeyError):
        governed.apikeys.authenticate(raj_token)


def test_key_changes_are_audited_with_the_actor(governed: Workspace) -> None:
    ann = _admin(governed, "ann")
    ann.create(None, "mine")
    with pytest.raises(QueryRefused):
        ann.create("raj", "impersonate raj")
    with pytest.raises(UnknownKey):
        ann.revoke("0000000000000000")
    records = governed.audit.tail(3, principal="ann")
    assert [(r.action, r.decision, r.channel) for r in records] == [
        ("apikey", "refused", "test"),
        ("apikey", "refused", "test"),
        ("apikey", "allowed", "test"),
    ]
    assert records[1].statement == "create API key 'impersonate raj' for raj"
    assert records[2].statement.startswith("create API key 'mine' for ann: ")
    assert "dap_" not in " ".join(r.statement + r.reason for r in records)  # never a token
