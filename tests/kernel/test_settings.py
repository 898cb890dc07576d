"""Settings come from DAP_* variables; bad values are one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from dap_kernel.errors import ConfigError
from dap_kernel.settings import Settings


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DAP_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("DAP_THREADS", "1")
    monkeypatch.setenv("DAP_QUERY_TIMEOUT", "2.5")
    settings = Settings.from_env()
    assert settings.home == tmp_path / "h"
    assert settings.meta_url == f"sqlite:///{tmp_path / 'h' / 'meta.db'}"
    assert settings.lake_dir == tmp_path / "h" / "lake"
    assert (settings.threads, settings.query_timeout_s, settings.user) == (1, 2.5, "tester")
    assert Settings.from_env(user="other").user == "other"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DAP_THREADS", "many", "DAP_THREADS='many' is not a valid number"),
        ("DAP_QUERY_TIMEOUT", "-1", "DAP_QUERY_TIMEOUT='-1' is not a valid number"),
        ("DAP_ENGINE", "oracle", "DAP_ENGINE='oracle' is not supported"),
    ],
)
def test_bad_values_are_clear_errors(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        Settings.from_env()
