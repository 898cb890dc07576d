"""Connector rules live in the core (GovernedConnectors): the CLI and REST only call them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dap_kernel.connectors import Connectors
from dap_kernel.connectors.access import GovernedConnectors
from dap_kernel.errors import QueryRefused
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace


def _as(ws: Workspace, user: str) -> GovernedConnectors:
    return GovernedConnectors(ws.session(Principal(user)), Connectors(ws.meta, ws.secrets))


def test_define_use_and_remove_need_their_grants(governed: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n")
    admin, ann = _as(governed, "tester"), _as(governed, "ann")
    with pytest.raises(QueryRefused, match="ann may not CREATE"):
        ann.create("files", str(folder))
    info = admin.create("files", str(folder))
    assert info.owner == "tester"
    governed.admin().grant("USE_CONNECTOR", "connector:files", "user", "bob")
    bob = _as(governed, "bob")
    assert [c.name for c in bob.list()] == ["files"]
    assert bob.test("files").ok
    governed.admin().add_user("eve", {})
    with pytest.raises(QueryRefused, match="eve may not USE_CONNECTOR"):
        _as(governed, "eve").test("files")
    with pytest.raises(QueryRefused, match="bob may not CREATE"):
        bob.delete("files")
    admin.delete("files")
