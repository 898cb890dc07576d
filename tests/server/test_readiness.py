"""Readiness of a server whose metadata database does not answer: 503 with one line that names
the dependency and nothing of its address or credentials, while liveness stays 200."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PASSWORD = "s3cret-meta-pw"


@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict[str, Any]:
    url = f"postgresql://dap:{PASSWORD}@127.0.0.1:{_closed_port()}/dap_meta"
    return {
        "ServerApp": {"jpserver_extensions": {"dap_server": True}},
        "DapExtension": {
            "dap_home": str(tmp_path / "home"),
            "meta_url": url,
            "identity": "owner",
        },
    }


# Jupyter logs its whole configuration at debug level ("Config changed: …") while the server
# starts, this fixture's URL with it: that is the test's setup, not an answer of DAP. (An
# operator keeps the password out of Jupyter's config: DAP_META_URL, or a PGPASSFILE.)
@pytest.mark.secret_output_ok(
    "Jupyter's debug log of the test's own config", where="ServerApp|setup"
)
async def test_no_metadata_database_is_not_ready_and_says_only_that(jp_fetch: Any) -> None:
    ready = await jp_fetch("dap", "api", "v1", "health", "ready", raise_error=False)
    assert ready.code == 503
    assert json.loads(ready.body) == {
        "error": "not_ready",
        "message": "not ready: the metadata store does not answer",
    }
    live = await jp_fetch("dap", "api", "v1", "health", "live", raise_error=False)
    assert live.code == 200 and json.loads(live.body) == {"status": "live"}
    health = await jp_fetch("dap", "api", "v1", "health", raise_error=False)
    assert health.code == 503 and json.loads(health.body)["checks"] == {
        "metadata": "unavailable: MetaStoreError"
    }
    for reply in (ready, live, health):
        text = reply.body.decode()
        assert PASSWORD not in text and "127.0.0.1" not in text and "postgresql" not in text
