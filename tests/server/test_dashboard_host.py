"""The dashboard host's guards, piece by piece (the whole host runs behind a real hub in
``tests/e2e/test_hub_sso.py``)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from dap_server.dashboard_host import EXTENSION, HUB_EXTENSION, unsafe_setup
from dap_server.dashboard_host.__main__ import server_config
from dap_server.dashboard_host.viewers import (
    VIEWER_ENV,
    ViewerAuthorizer,
    ViewerKernelManager,
    kernel_env,
    may,
)
from tornado import web

from dap_kernel.dashboards.identity import VIEWER_TOKEN_ENV


def test_a_kernel_inherits_only_what_it_needs() -> None:
    env = {
        "PATH": "/usr/bin",
        "HOME": "/h",
        "LC_ALL": "C",
        "VOILA_BASE_URL": "/",
        "DAP_SERVICE_URL": "http://127.0.0.1:1/services/dap",
        VIEWER_TOKEN_ENV: "viewer-token",
        VIEWER_ENV: "ann",
        "JUPYTERHUB_API_TOKEN": "the host's own",
        "JPY_API_TOKEN": "also the host's",
        "DAP_API_KEY": "dap_secret",
        "HTTP_COOKIE": "jupyterhub-session=…",
        "AWS_SECRET_ACCESS_KEY": "x",
        "SSL_CERT_FILE": "/etc/dap/trust.pem",
    }
    assert sorted(kernel_env(env)) == sorted(
        [
            "PATH",
            "HOME",
            "LC_ALL",
            "VOILA_BASE_URL",
            "DAP_SERVICE_URL",
            VIEWER_TOKEN_ENV,
            "SSL_CERT_FILE",
        ]
    )


def test_the_permission_table_is_ones_own_kernel_and_nothing_else() -> None:
    owners = {"k1": "ann"}.get
    assert may("ann", "execute", "kernels", "k1", owners)  # her websocket
    assert may("ann", "read", "kernels", "k1", owners)
    assert not may("bob", "execute", "kernels", "k1", owners)
    assert not may("ann", "write", "kernels", "k1", owners)  # restart, interrupt, delete
    assert not may("ann", "read", "kernels", None, owners)  # the list of kernels
    assert not may("ann", "execute", "kernels", "k2", owners)  # none such
    assert not may("", "execute", "kernels", "k1", {"k1": ""}.get)
    for resource in ("contents", "sessions", "terminals", "kernelspecs", "api", "server"):
        assert not may("ann", "read", resource, None, owners)


def test_a_kernel_starts_only_for_a_signed_in_viewer() -> None:
    manager = ViewerKernelManager()
    for env in ({}, {VIEWER_ENV: "ann"}, {VIEWER_TOKEN_ENV: "t"}):
        with pytest.raises(web.HTTPError) as refused:
            asyncio.run(manager.start_kernel(kernel_name="python3", env=env))
        assert refused.value.status_code == 403
    assert manager.allowed_message_types and "execute_request" not in manager.allowed_message_types
    assert manager.viewer_of("no-such-kernel") is None


def test_the_host_refuses_to_start_set_up_any_other_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAP_SERVICE_URL", "http://127.0.0.1:1/services/dap")
    authorizer = ViewerAuthorizer.__new__(ViewerAuthorizer)
    good: dict[str, Any] = {
        "kernel_manager": ViewerKernelManager(),
        "authorizer": authorizer,
        "jpserver_extensions": {EXTENSION: True, HUB_EXTENSION: True, "jupyterlab": False},
        "terminals_enabled": False,
    }
    assert unsafe_setup(SimpleNamespace(**good)) == []
    bad = {
        "kernel_manager": object(),
        "authorizer": object(),
        "jpserver_extensions": {**good["jpserver_extensions"], "jupyterlab": True},
        "terminals_enabled": True,
    }
    for key, value in bad.items():
        assert unsafe_setup(SimpleNamespace(**{**good, key: value})), key
    monkeypatch.delenv("DAP_SERVICE_URL")
    assert unsafe_setup(SimpleNamespace(**good)) == ["DAP_SERVICE_URL is not set"]


def test_the_launcher_turns_every_other_extension_off(tmp_path: Any) -> None:
    enabled = {"jupyterlab": True, "dap_server": True, "voila.server_extension": True}
    config = server_config(tmp_path, enabled)["ServerApp"]
    assert isinstance(config, dict)
    assert config["jpserver_extensions"] == {
        "jupyterlab": False,
        "dap_server": False,
        "voila.server_extension": False,
        EXTENSION: True,
        HUB_EXTENSION: True,
    }
    assert config["terminals_enabled"] is False
    assert config["kernel_manager_class"].endswith("ViewerKernelManager")
    assert config["authorizer_class"].endswith("ViewerAuthorizer")
