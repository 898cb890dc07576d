"""`dap serve` as a real process: the DAP service alone, keys only, fuzzed by schemathesis."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dap_kernel.transport import HttpSession
from tests.conftest import Service, served

pytestmark = pytest.mark.slow


def _get(service: Service, path: str, key: str | None = None, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{service.url}{path}", headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def test_health_without_identity_and_a_query_with_a_key(dap_service: Service) -> None:
    health = _get(dap_service, "/dap/api/v1/health")
    assert health.status_code == 200 and health.json()["ready"] is True
    reply = httpx.post(
        f"{dap_service.url}/dap/api/v1/query",
        json={"sql": "SELECT region, count(*) AS n FROM customers GROUP BY region"},
        headers={"Authorization": f"Bearer {dap_service.keys['ann']}"},
        timeout=30,
    )
    assert reply.status_code == 200
    assert reply.json()["rows"] == [["EMEA", reply.json()["rows"][0][1]]]
    assert reply.json()["rows"][0][1] > 0


def test_nothing_but_dap_is_served(dap_service: Service) -> None:
    key = dap_service.keys["tester"]
    for path in ("/api/contents", "/api/kernels", "/api/terminals", "/lab", "/tree", "/files/x"):
        assert _get(dap_service, path, key).status_code == 404, path
    anonymous = _get(dap_service, "/dap/api/v1/catalog")
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthenticated"
    # There is no Jupyter token to guess: no token of any kind opens the service.
    for header in ("token anything", "Bearer anything"):
        reply = httpx.get(
            f"{dap_service.url}/dap/api/v1/whoami", headers={"Authorization": header}, timeout=30
        )
        assert reply.status_code == 401


def test_log_has_json_request_lines_and_no_token(dap_service: Service) -> None:
    _get(dap_service, "/dap/api/v1/whoami", dap_service.keys["raj"])
    whoami: list[dict[str, object]] = []
    for _ in range(50):  # the line is written just after the response has gone out
        text = dap_service.log.read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.startswith('{"event"')]
        whoami = [line for line in lines if line["route"] == "whoami" and line["user"] == "raj"]
        if whoami:
            break
        time.sleep(0.1)
    assert whoami and whoami[-1]["status"] == 200 and whoami[-1]["auth"] == "apikey"
    assert "token=" not in text
    assert dap_service.keys["raj"] not in text


def test_a_dap_request_has_one_log_line_and_other_routes_keep_jupyters(
    dap_service: Service,
) -> None:
    """DAP's JSON line replaces Jupyter's for DAP's routes (it was a second line, and ~6 % of
    a cached query's CPU); what else the server answers is still in Jupyter's log."""
    assert _get(dap_service, "/dap/api/v1/catalog?probe=once").status_code == 401
    assert _get(dap_service, "/api/contents?probe=twice").status_code == 404
    ours: list[dict[str, object]] = []
    for _ in range(50):
        text = dap_service.log.read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.startswith('{"event"')]
        ours = [line for line in lines if line["route"] == "catalog" and line["status"] == 401]
        if ours and "probe=twice" in text:
            break
        time.sleep(0.1)
    assert ours, text[-2000:]
    assert "probe=once" not in text  # no Jupyter line for the DAP route
    assert "404 GET /api/contents?probe=twice" in text


def test_audit_names_the_front_door_behind_rest(dap_service: Service) -> None:
    with HttpSession(dap_service.url, api_key=dap_service.keys["raj"], channel="magic") as raj:
        raj.sql("SELECT count(*) AS n FROM orders")
    records = _get(dap_service, "/dap/api/v1/audit?limit=5", dap_service.keys["raj"]).json()
    assert records["records"][0]["channel"] == "rest:magic"
    assert records["records"][0]["user"] == "raj"


def test_schemathesis_finds_no_server_errors_or_schema_violations(
    demo_home: Path, tmp_path: Path
) -> None:
    """Generated requests against the live OpenAPI document, as the admin. `test_connector`
    is left out: fuzzed connectors point at arbitrary hosts, and testing one connects there.
    The fuzzer gets a service of its own: as the admin it revokes the keys it finds listed and
    drops what it may, which the shared service's other users rely on."""
    # No rate limit: the fuzzer sends hundreds of requests a minute with one key.
    with served(demo_home, tmp_path / "fuzzed", env={"DAP_RATE_LIMIT_PER_MIN": "0"}) as dap_service:
        result = _fuzz(dap_service, tmp_path)
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert "passed" in summary and "failures" not in summary.lower().split("summary")[-1]


def _fuzz(dap_service: Service, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{dap_service.url}/dap/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {dap_service.keys['tester']}",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--exclude-operation-id",
            "test_connector",
            "--exclude-operation-id",  # starts processes that outlive the request (a stream):
            "start_stream",  # tests/streams/test_stream_rest.py tries it with hostile bodies
            "--max-examples",
            "15",
            "--seed",
            "20261127",
            "--workers",
            "1",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
