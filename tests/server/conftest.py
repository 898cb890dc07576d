from __future__ import annotations

from typing import Any

import pytest

from dap_kernel.session import Workspace


@pytest.fixture
def jp_server_config(demo_workspace: Workspace) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"dap_server": True}},
        "DapExtension": {"dap_home": str(demo_workspace.settings.home)},
    }
