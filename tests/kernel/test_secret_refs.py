"""Secrets reach only their own host: where ``${secret:…}`` may stand, what is shown back, paths
under a connector's base, and redirects (two real local HTTP servers)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dap_kernel.connectors import Connectors
from dap_kernel.connectors.http import read_api
from dap_kernel.connectors.paths import PathOutsideBase, under_folder, under_url
from dap_kernel.errors import SourceError
from dap_kernel.governance.secret_refs import (
    SecretPlacementError,
    redact_spec,
    scrub,
    sensitive_values,
)
from dap_kernel.pipelines import PipelineFailed, PipelineStore, parse_spec, pipeline
from dap_kernel.session import Workspace

STOLEN = "pg-Pa55word-of-shop"  # the password inside another connector's stored URL
TOKEN = "tok-9f8e7d6c5b4a"


# -- two real local HTTP servers -----------------------------------------------------------------


class _Server:
    """Records every request (path and headers); ``/go`` redirects to ``redirect_to``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.redirect_to = ""
        self.link_to = ""
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                if self.path.startswith("/go"):
                    self.send_response(302)
                    self.send_header("Location", server.redirect_to)
                    self.end_headers()
                    return
                records = [{"id": 1, "name": "a"}]
                # Under /v1 (a connector's base) the records are the body itself.
                body = json.dumps(records if self.path.startswith("/v1") else {"items": records})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if server.link_to and self.path.startswith("/paged"):
                    self.send_header("Link", f'<{server.link_to}>; rel="next"')
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def everything_received(self) -> str:
        return json.dumps(self.requests)


@pytest.fixture
def servers() -> Iterator[tuple[_Server, _Server]]:
    home, other = _Server(), _Server()
    yield home, other
    home.close()
    other.close()


def _spec(**parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "attack",
        "extract": {"api": {"url": "http://127.0.0.1:9/x"}},
        "load": {"table": "main.attack"},
    }
    base.update(parts)
    return base


# -- where a reference may stand ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (  # 1. in a SQL step: the value would be selected into the loaded table
            _spec(transform=[{"sql": "SELECT '${secret:shop_key}' AS leak FROM input"}]),
            "transform.0.sql",
        ),
        (  # 2. in the load table's name
            _spec(load={"table": "main.t_${secret:shop_key}"}),
            "load.table",
        ),
        (  # 3. in a file path: it comes back in every "file not found"
            _spec(extract={"file": "/data/${secret:shop_key}.csv"}),
            "extract.file",
        ),
        (  # 4. in a query parameter: URLs are stored in run records, lineage and quarantine
            _spec(extract={"api": {"url": "http://h/x", "params": {"q": "${secret:shop_key}"}}}),
            "extract.api.params.q",
        ),
        (  # 5. in the API address itself
            _spec(extract={"api": {"url": "http://h/${secret:shop_key}"}}),
            "extract.api.url",
        ),
        (  # 6. in a connector's path (the field the old check did not look at)
            _spec(extract={"connector": "hooks", "path": "x/${secret:shop_key}"}),
            "extract.path",
        ),
        (  # 7. nested in a list inside a transform
            _spec(transform=[{"cleanse": [{"derive": {"leak": "'${secret:shop_key}'"}}]}]),
            "transform.0.cleanse.0.derive.expressions.leak",  # named as it is stored
        ),
        (  # 8. in the description (shown to everyone who sees the pipeline)
            _spec(description="uses ${secret:shop_key}"),
            "description",
        ),
        (  # 9. in a database URL other than its password (the host, the database name)
            _spec(extract={"sql_url": "postgresql://u:p@${secret:host}/db", "table": "t"}),
            "extract.sql_url",
        ),
        (  # 10. in a validation rule
            _spec(validate=[{"accepted_values": {"column": "c", "values": ["${secret:k}"]}}]),
            "validate.0.accepted_values.values.0",
        ),
        (  # 11. in a POST body (bodies are echoed and logged by many APIs)
            _spec(extract={"api": {"url": "http://h/x", "body": {"k": "${secret:k}"}}}),
            "extract.api.body.k",
        ),
        (  # 12. in the OAuth token URL: the secret would go to whichever host it names
            _spec(
                extract={
                    "api": {
                        "url": "http://h/x",
                        "auth": {
                            "type": "oauth2",
                            "token_url": "http://${secret:k}/token",
                            "client_id": "c",
                            "client_secret": "s",
                        },
                    }
                }
            ),
            "extract.api.auth.token_url",
        ),
    ],
)
def test_a_reference_outside_a_credential_field_is_refused(
    spec: dict[str, Any], field: str
) -> None:
    with pytest.raises(SecretPlacementError) as caught:
        parse_spec(spec)
    assert caught.value.code == "secret_placement" and caught.value.http_status == 400
    assert f" {field}:" in str(caught.value) or f" {field} " in str(caught.value)


def test_another_connectors_secret_cannot_be_referenced_even_in_a_header() -> None:
    """13. ``connector:shop`` holds shop's URL and password: it goes to shop's host only."""
    spec = _spec(
        extract={
            "api": {
                "url": "https://hooks.example/in",
                "headers": {"Authorization": "Bearer ${secret:connector:shop}"},
            }
        }
    )
    with pytest.raises(SecretPlacementError, match="connector 'shop'.*only to its own host"):
        parse_spec(spec)
    owned = _spec(extract={"api": {"url": "http://h/", "auth": "${secret:source:main.t}"}})
    with pytest.raises(SecretPlacementError, match="source 'main.t'"):
        parse_spec(owned)


def test_references_in_keys_and_malformed_ones_are_refused() -> None:
    keyed = _spec(extract={"api": {"url": "http://h/", "headers": {"${secret:k}": "v"}}})
    with pytest.raises(SecretPlacementError, match="field name"):
        parse_spec(keyed)
    sloppy = _spec(transform=[{"sql": "SELECT '${ Secret:k }' AS x"}])
    with pytest.raises(SecretPlacementError, match=r"transform\.0\.sql"):
        parse_spec(sloppy)


def test_credential_fields_may_refer_to_secrets() -> None:
    for api in (
        {"url": "http://h/", "auth": {"type": "bearer", "token": "${secret:k}"}},
        {"url": "http://h/", "auth": {"type": "basic", "username": "u", "password": "${secret:k}"}},
        {"url": "http://h/", "auth": {"type": "api_key", "value": "${secret:k}", "in": "query"}},
        {"url": "http://h/", "headers": {"X-Shop-Key": "${secret:k}"}},
    ):
        assert parse_spec(_spec(extract={"api": api})).extract.api == api
    db = parse_spec(_spec(extract={"sql_url": "postgresql://u:${secret:pg}@db/x", "table": "t"}))
    assert db.extract.sql_url == "postgresql://u:${secret:pg}@db/x"


def test_the_message_names_the_field_never_a_value(workspace: Workspace) -> None:
    workspace.secrets.put("shop_key", TOKEN)
    with pytest.raises(SecretPlacementError) as caught:
        parse_spec(_spec(load={"table": "t_${secret:shop_key}"}))
    assert TOKEN not in str(caught.value) and "load.table" in str(caught.value)


def test_the_found_attack_no_longer_sends_another_connectors_password(
    workspace: Workspace, servers: tuple[_Server, _Server]
) -> None:
    """The finding: a connector ``path`` (not looked at by the old check) expanded shop's stored
    password into the URL sent to the caller's own API. Now refused before any request."""
    hooks, _ = servers
    connectors = Connectors(workspace.meta, workspace.secrets)
    connectors.create("shop", f"postgresql://shop:{STOLEN}@db.internal/shop", owner="tester")
    connectors.create("hooks", hooks.base, owner="tester")
    spec = {
        "name": "exfil",
        "extract": {"connector": "hooks", "path": "items?x=${secret:connector:shop}"},
        "load": {"table": "exfil"},
        "retries": {"attempts": 1, "backoff_s": 0},
    }
    with pytest.raises(SecretPlacementError):
        pipeline(spec).run(workspace.session())
    assert hooks.requests == [] and STOLEN not in hooks.everything_received()


def test_a_connector_cannot_embed_a_reference(workspace: Workspace) -> None:
    connectors = Connectors(workspace.meta, workspace.secrets)
    with pytest.raises(SecretPlacementError):
        connectors.create("c", "https://u:${secret:connector:shop}@h/", owner="tester")
    with pytest.raises(SecretPlacementError, match="description"):
        connectors.create("d", "https://h/", owner="tester", description="${secret:k}")
    assert [c.name for c in connectors.list()] == []


def test_a_direct_api_source_follows_the_same_rule(workspace: Workspace) -> None:
    workspace.secrets.put("k", TOKEN)
    with pytest.raises(SecretPlacementError, match="records"):
        read_api(
            {"url": "http://127.0.0.1:9/", "records": "${secret:k}"}, secrets=workspace.secrets
        )


# -- what is shown back -----------------------------------------------------------------------


INLINE = {
    "bearer": {"type": "bearer", "token": "bearer-S3cr3t-1"},
    "basic": {"type": "basic", "username": "ann", "password": "basic-S3cr3t-2"},
    "api_key": {"type": "api_key", "name": "X-Key", "value": "apikey-S3cr3t-3"},
    "oauth2": {
        "type": "oauth2",
        "token_url": "https://auth.example/token",
        "client_id": "dap",
        "client_secret": "oauth-S3cr3t-4",
    },
}
RAW = ["bearer-S3cr3t-1", "basic-S3cr3t-2", "apikey-S3cr3t-3", "oauth-S3cr3t-4"]


def test_redact_spec_hides_every_credential_and_keeps_references() -> None:
    spec = {
        "sql_url": "postgresql://dap:url-S3cr3t-5@db/x",
        "api": {
            "url": "https://h/x?token=param-S3cr3t-6&page=1",
            "headers": {
                "Authorization": "Bearer hdr-S3cr3t-7",
                "X-API-Key": "hdr-S3cr3t-8",
                "X-Custom": "Bearer hdr-S3cr3t-9",
                "X-Ref": "${secret:shop_key}",
                "Accept": "application/json",
            },
            "auths": [INLINE[k] for k in INLINE],
        },
    }
    shown = json.dumps(redact_spec(spec))
    for raw in [*RAW, *(f"{p}-S3cr3t-{i}" for p, i in (("url", 5), ("param", 6)))]:
        assert raw not in shown
    for i in (7, 8, 9):
        assert f"hdr-S3cr3t-{i}" not in shown
    assert "${secret:shop_key}" in shown and "application/json" in shown
    assert "https://auth.example/token" in shown and '"client_id": "dap"' in shown
    assert sensitive_values(spec) >= {*RAW, "url-S3cr3t-5", "param-S3cr3t-6", "hdr-S3cr3t-7"}


def test_scrub_hides_values_and_credential_shapes() -> None:
    text = "cannot reach postgresql://u:pw-Secret1@h/db with Bearer abc.def-123 (key my-Secret2)"
    shown = scrub(text, {"my-Secret2"})
    assert "pw-Secret1" not in shown and "abc.def-123" not in shown and "my-Secret2" not in shown
    assert scrub("Basic authentication failed") == "Basic authentication failed"


def test_run_errors_never_carry_a_credential(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver that echoes its URL (password and all) in an error: the run record, the raised
    error and the history show it redacted."""
    from dap_kernel.pipelines import extraction

    password = "Dr1ver-echoes-me"
    url = f"postgresql://loader:{password}@127.0.0.1:1/shop"

    def echoing(url: str, *args: Any) -> Any:
        raise SourceError(f"could not connect to {url} (password={password})")

    monkeypatch.setattr(extraction, "_read_database", echoing)
    spec = {
        "name": "echo",
        "extract": {"sql_url": url, "table": "orders"},
        "load": {"table": "echo"},
        "retries": {"attempts": 1, "backoff_s": 0},
    }
    with pytest.raises(PipelineFailed) as caught:
        pipeline(spec).run(workspace.session())
    assert password not in str(caught.value)
    assert caught.value.result is not None and "could not connect" in caught.value.result.error
    store = PipelineStore(workspace.meta)
    history = json.dumps([r.to_dict() for r in store.runs("echo")])
    assert password not in history and "could not connect" in history
    assert password not in json.dumps(store.get("echo").spec)


# -- paths under a connector's base -----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "../admin",
        "a/../../admin",
        "%2e%2e/admin",
        "%2E%2E%2Fadmin",
        "%252e%252e/admin",
        "a%2fb",
        "..\\admin",
        "//evil.example:8080/x",
        "http://other.example/x",
        "HTTPS://other.example/x",
        "javascript:alert(1)",
        "a\r\nHost: evil",
    ],
)
def test_api_paths_that_leave_the_base_are_refused(path: str) -> None:
    with pytest.raises(PathOutsideBase, match="must stay inside the connector's URL"):
        under_url("https://api.example.com/v1", path)


def test_api_paths_under_the_base() -> None:
    base = "https://api.example.com/v1"
    assert under_url(base, "orders") == "https://api.example.com/v1/orders"
    assert under_url(base, "/orders/7?page=2") == "https://api.example.com/v1/orders/7?page=2"
    assert under_url(base, "a/..b/c.json") == "https://api.example.com/v1/a/..b/c.json"
    assert under_url(base, "") == base


def test_file_paths_stay_in_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "drop"
    root.mkdir()
    (root / "a.csv").write_text("x\n1\n")
    (tmp_path / "secret.csv").write_text("x\n2\n")
    (root / "out").symlink_to(tmp_path)
    assert under_folder(root, "a.csv") == root / "a.csv"
    assert under_folder(root, "sub/*.csv") == root / "sub" / "*.csv"
    for escape in ("../secret.csv", "/etc/passwd", "%2e%2e/secret.csv", "..\\x", "out/secret.csv"):
        with pytest.raises(PathOutsideBase, match="inside the connector's folder"):
            under_folder(root, escape)


def test_an_http_connector_path_cannot_climb_out_while_sending_credentials(
    workspace: Workspace, servers: tuple[_Server, _Server]
) -> None:
    home, _ = servers
    with_password = home.base.replace("://", f"://svc:{TOKEN}@") + "/v1"
    Connectors(workspace.meta, workspace.secrets).create("shopapi", with_password, owner="t")
    for path in ("../admin", "%2e%2e/admin", "%252e%252e/admin", "//127.0.0.1:9/x"):
        spec = {
            "name": "climb",
            "extract": {"connector": "shopapi", "path": path},
            "load": {"table": "climb"},
            "retries": {"attempts": 3, "backoff_s": 0},
        }
        with pytest.raises(PipelineFailed, match="must stay inside the connector's URL") as e:
            pipeline(spec).run(workspace.session())
        assert e.value.result is not None and "attempts" not in e.value.result.error  # no retry
        assert TOKEN not in str(e.value)
    assert home.requests == []
    fine = {
        "name": "fine",
        "extract": {"connector": "shopapi", "path": "items"},
        "load": {"table": "fine"},
    }
    assert pipeline(fine).run(workspace.session()).rows_written == 1
    assert [p for p, _ in home.requests] == ["/v1/items"]
    assert home.requests[0][1]["authorization"].startswith("Basic ")


# -- redirects and Link headers ---------------------------------------------------------------


def test_a_redirect_to_another_host_gets_no_credentials(
    workspace: Workspace, servers: tuple[_Server, _Server]
) -> None:
    home, other = servers
    home.redirect_to = f"{other.base}/items"
    workspace.secrets.put("tok", TOKEN)
    source = {
        "url": f"{home.base}/go",
        "auth": {"type": "bearer", "token": "${secret:tok}"},
        "headers": {"X-API-Key": "${secret:tok}"},
        "records": "items",
        "max_retries": 0,
    }
    with pytest.raises(SourceError, match="redirected to another host") as caught:
        read_api(source, secrets=workspace.secrets)
    assert TOKEN not in str(caught.value)
    assert len(home.requests) == 1 and home.requests[0][1]["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in other.everything_received()
    assert all("authorization" not in headers for _, headers in other.requests)


def test_basic_auth_is_not_sent_to_another_port_on_redirect(
    workspace: Workspace, servers: tuple[_Server, _Server]
) -> None:
    home, other = servers
    home.redirect_to = f"{other.base}/items"
    source = {
        "url": f"{home.base}/go",
        "auth": {"type": "basic", "username": "ann", "password": "basic-S3cr3t-2"},
        "records": "items",
        "max_retries": 0,
    }
    with pytest.raises(SourceError, match="redirected to another host"):
        read_api(source)
    assert other.requests == []


def test_a_redirect_on_the_same_host_is_followed_with_the_credentials(
    servers: tuple[_Server, _Server],
) -> None:
    home, _ = servers
    home.redirect_to = f"{home.base}/items"
    source = {
        "url": f"{home.base}/go",
        "auth": {"type": "bearer", "token": TOKEN},
        "records": "items",
    }
    assert read_api(source).to_table().num_rows == 1
    assert [p for p, _ in home.requests] == ["/go", "/items"]
    assert home.requests[1][1]["authorization"] == f"Bearer {TOKEN}"


def test_a_next_page_link_to_another_host_is_refused(servers: tuple[_Server, _Server]) -> None:
    home, other = servers
    home.link_to = f"{other.base}/items?page=2"
    source = {
        "url": f"{home.base}/paged",
        "headers": {"X-API-Key": TOKEN},
        "pagination": "link",
        "records": "items",
    }
    with pytest.raises(SourceError, match="next page is on another host"):
        read_api(source)
    assert other.requests == []


def test_a_database_password_reference_is_expanded_into_the_url_only(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dap_kernel.pipelines import extraction

    workspace.secrets.put("pg", "p@ss/w0rd")
    opened: list[str] = []

    def capture(url: str, *args: Any) -> Any:
        opened.append(url)
        raise SourceError(f"cannot connect to {url} as p@ss/w0rd")

    monkeypatch.setattr(extraction, "_read_database", capture)
    spec = {
        "name": "pg",
        "extract": {"sql_url": "postgresql://loader:${secret:pg}@db.internal/shop", "table": "t"},
        "load": {"table": "pg"},
        "retries": {"attempts": 1, "backoff_s": 0},
    }
    with pytest.raises(PipelineFailed) as caught:
        pipeline(spec).run(workspace.session())
    assert opened == ["postgresql://loader:p%40ss%2Fw0rd@db.internal/shop"]
    assert "p@ss/w0rd" not in str(caught.value) and "p%40ss" not in str(caught.value)
    shown = PipelineStore(workspace.meta).get("pg").spec["extract"]["sql_url"]
    assert shown == "postgresql://loader:${secret:pg}@db.internal/shop"


def test_an_unexpected_error_is_logged_without_the_password_it_quotes() -> None:
    """What goes to the server log instead of log.exception: kind, scrubbed message, frames."""
    from dap_kernel.governance.secret_refs import loggable

    def connect() -> None:
        raise RuntimeError("could not reach postgresql://etl:hunter2-pw@db.internal/sales")

    try:
        connect()
    except RuntimeError as e:
        text = loggable(e, {"inline-token-123"})
    assert "hunter2-pw" not in text and "RuntimeError" in text
    assert "in connect" in text  # where it happened stays, for whoever debugs
