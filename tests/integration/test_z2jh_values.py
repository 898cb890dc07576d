"""The Kubernetes deployment files say what docs/deploy.md promises, without a cluster.

``hub_config/z2jh/values.yaml`` (zero-to-jupyterhub chart values) and ``dap-service.yaml`` (the
DAP service's manifests) are read with PyYAML and checked for what a reviewer would check by
hand: the values fit the chart's own schema (vendored from chart 4.4.0), the traitlets named in
``hub.config`` exist, no secret is written in either file, user pods can reach only the hub, the
proxy and the DAP service, and only those three reach the DAP service. What cannot be checked
here is that a real cluster's CNI enforces NetworkPolicy: that is the operator's to verify.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

Z2JH = Path(__file__).resolve().parents[2] / "hub_config" / "z2jh"
DAP_LABELS = {"app.kubernetes.io/name": "dap", "app.kubernetes.io/component": "service"}
HOST_LABELS = {"app.kubernetes.io/name": "dap", "app.kubernetes.io/component": "dashboards"}
JUPYTERHUB_COMPONENTS = {"hub", "proxy", "singleuser-server"}
# Names of settings that hold secrets, in the chart's values or in a container's env.
SECRETISH = re.compile(r"(secret|token|password|passwd|crypt|keys?$|_key$|meta_url)", re.I)
# Settings whose names sound secret but which hold none: references to a Secret by name and
# key, and hub options about groups and scopes.
NOT_A_SECRET = re.compile(
    r"(\.secretKeyRef\.(name|key)$|^\.hub\.existingSecret$|^\.proxy\.https\.secret\.\w+$"
    r"|\.auth_state_groups_key$|\.server_token_scopes\[\d+\]$)"
)
# A long run of key-like characters in a literal is a pasted credential, not configuration.
KEYLIKE = re.compile(r"[A-Za-z0-9+=_-]{32,}")
PASSWORD_IN_URL = re.compile(r"://[^/@\s]+:[^/@\s]+@")


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded = yaml.safe_load((Z2JH / "values.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    """The documents of dap-service.yaml by kind (one of each kind there)."""
    docs = [d for d in yaml.safe_load_all((Z2JH / "dap-service.yaml").read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one document per kind"
    return by_kind


@pytest.fixture(scope="module")
def container(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    containers = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (dotted path, string value) in a parsed YAML tree."""
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in _strings(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [pair for i, v in enumerate(node) for pair in _strings(v, f"{path}[{i}]")]
    return [(path, node)] if isinstance(node, str) else []


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


# -- the chart accepts these values -----------------------------------------------------------


def _schema_without_required() -> dict[str, Any]:
    """The chart's schema checks the values *merged with the chart's defaults*; ours alone
    lack the defaults, so drop ``required`` and keep everything else (unknown keys, types)."""
    schema = json.loads((Z2JH / "values.schema.json").read_text())

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("required", None)
            for v in node.values():
                strip(v)
        elif isinstance(node, list):
            for v in node:
                strip(v)

    strip(schema)
    return dict(schema)


def test_values_fit_the_charts_schema(values: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft7Validator(_schema_without_required())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(values)]
    assert errors == []

    # The schema is not vacuous: a misspelt key is caught.
    typo = copy.deepcopy(values)
    typo["singleuser"]["networkPolicy"]["egressAllowRule"] = {}
    assert not validator.is_valid(typo)


def test_hub_config_names_real_traitlets(values: dict[str, Any]) -> None:
    """A misspelt trait in hub.config is silently ignored by the hub: catch it here."""
    pytest.importorskip("oauthenticator")
    from jupyterhub.app import JupyterHub
    from jupyterhub.auth import Authenticator
    from jupyterhub.spawner import Spawner
    from oauthenticator.generic import GenericOAuthenticator

    classes = {
        "JupyterHub": JupyterHub,
        "Authenticator": Authenticator,
        "GenericOAuthenticator": GenericOAuthenticator,
        "Spawner": Spawner,
    }
    config = values["hub"]["config"]
    assert set(config) <= set(classes)
    for section, settings in config.items():
        known = set(classes[section].class_traits(config=True))
        assert set(settings) <= known, f"hub.config.{section}: {set(settings) - known}"


# -- sign-on and auth state -----------------------------------------------------------------


def test_oidc_login_with_groups_from_the_provider(values: dict[str, Any]) -> None:
    config = values["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "generic-oauth"
    oauth = config["GenericOAuthenticator"]
    assert oauth["manage_groups"] is True
    assert oauth["auth_state_groups_key"] == "oauth_user.groups"
    assert oauth["username_claim"] == "preferred_username"
    assert oauth["admin_groups"] and oauth["allowed_groups"]
    assert "openid" in oauth["scope"]
    assert config["Authenticator"]["auth_refresh_age"] == 300


def test_auth_state_is_encrypted_with_a_key_from_a_secret(values: dict[str, Any]) -> None:
    hub = values["hub"]
    assert hub["config"]["Authenticator"]["enable_auth_state"] is True
    # z2jh reads CryptKeeper.keys from hub.existingSecret (key hub.config.CryptKeeper.keys),
    # falling back to its own Secret; a key written in the values would win over both.
    assert hub["existingSecret"]
    assert "CryptKeeper" not in hub["config"]
    assert "cookie_secret" not in hub["config"]["JupyterHub"]
    assert "cookieSecret" not in hub


def test_oauth_client_and_urls_come_from_a_secret(values: dict[str, Any]) -> None:
    env = values["hub"]["extraEnv"]
    for name in (
        "OAUTH_CLIENT_ID",
        "OAUTH_CLIENT_SECRET",
        "OAUTH_CALLBACK_URL",
        "OAUTH2_AUTHORIZE_URL",
        "OAUTH2_TOKEN_URL",
    ):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] and ref["key"], name
        assert ref.get("optional") is not True, f"{name} must be there, not optional"
    # Optional because Entra ID logins take the user from the ID token instead.
    assert env["OAUTH2_USERDATA_URL"]["valueFrom"]["secretKeyRef"]["key"] == "userdata-url"
    oauth = values["hub"]["config"]["GenericOAuthenticator"]
    assert not {"client_id", "client_secret", "token_url", "userdata_url"} & set(oauth)


# -- no literal secrets -----------------------------------------------------------------------


def test_values_hold_no_secret(values: dict[str, Any]) -> None:
    assert "secretToken" not in values.get("proxy", {})
    assert "password" not in values["hub"].get("db", {})
    assert "manual" not in values["proxy"]["https"], "a TLS key goes in a Secret"
    for name, service in values["hub"]["services"].items():
        assert not {"apiToken", "api_token"} & set(service), f"hub.services.{name}"
    for path, text in _strings(values):
        names = re.split(r"[.\[\]]", path)
        if any(SECRETISH.search(n) for n in names):
            assert NOT_A_SECRET.search(path), f"{path}: a literal where a secret belongs"
        assert not KEYLIKE.fullmatch(text), f"{path} looks like a pasted credential"
        assert not PASSWORD_IN_URL.search(text), f"{path} has a password in a URL"
    # Every environment variable of the hub is a secretKeyRef (nothing to leak in the values).
    for name, entry in values["hub"]["extraEnv"].items():
        assert set(entry) == {"valueFrom"}, name


def test_manifests_hold_no_secret(
    manifests: dict[str, dict[str, Any]], container: dict[str, Any]
) -> None:
    assert "Secret" not in manifests, "Secrets are created by the operator, not shipped"
    for name, entry in _env(container).items():
        if SECRETISH.search(name):
            assert "value" not in entry, name
            ref = entry["valueFrom"]["secretKeyRef"]
            assert ref["name"] and ref["key"], name
    for path, text in _strings(manifests):
        assert not KEYLIKE.fullmatch(text), f"{path} looks like a pasted credential"
        assert not PASSWORD_IN_URL.search(text), f"{path} has a password in a URL"


# -- hub roles, services, tokens --------------------------------------------------------------


def test_users_and_their_servers_may_call_the_dap_service(values: dict[str, Any]) -> None:
    hub = values["hub"]
    assert set(hub["loadRoles"]["user"]["scopes"]) >= {"self", "access:services!service=dap"}
    scopes = hub["config"]["Spawner"]["server_token_scopes"]
    assert "access:services!service=dap" in scopes
    assert "users:activity!user" in scopes, "the culler needs the server's activity"


def test_dap_is_a_hub_service_at_its_kubernetes_service(
    values: dict[str, Any], manifests: dict[str, dict[str, Any]]
) -> None:
    dap = values["hub"]["services"]["dap"]
    assert dap["oauth_no_confirm"] is True
    url = urlsplit(dap["url"])
    service = manifests["Service"]
    assert url.hostname == service["metadata"]["name"] == "dap"
    assert url.port in {p["port"] for p in service["spec"]["ports"]} == {8890}


def test_the_activity_channel_is_its_own_service(values: dict[str, Any]) -> None:
    """Activity events reach DAP only with the dap-hub service's token (kept in the Secret)."""
    assert "dap-hub" in values["hub"]["services"]
    assert "url" not in values["hub"]["services"]["dap-hub"], "a token-only service"
    role = values["hub"]["loadRoles"]["dap-hub"]
    assert role["services"] == ["dap-hub"]
    assert role["scopes"] == ["access:services!service=dap"]


def test_idle_servers_are_culled(values: dict[str, Any]) -> None:
    assert values["cull"]["enabled"] is True
    assert values["cull"]["timeout"] == 3600


# -- user pods: only the hub, the proxy and the DAP service ----------------------------------


def test_user_pods_reach_only_hub_proxy_and_dap(values: dict[str, Any]) -> None:
    policy = values["singleuser"]["networkPolicy"]
    assert policy["enabled"] is True
    # The chart itself always adds hub:8081, proxy:8000 and autohttps:8080/8443; these flags
    # are the ones that would add the internet, private ranges or the metadata server.
    allow = policy["egressAllowRules"]
    assert allow["nonPrivateIPs"] is False, "no internet (the chart's 0.0.0.0/0 rule)"
    assert allow["privateIPs"] is False, "no PostgreSQL or other in-cluster addresses"
    assert allow["cloudMetadataServer"] is False
    assert allow["dnsPortsPrivateIPs"] is False
    assert allow["dnsPortsKubeSystemNamespace"] is True, "cluster DNS to find dap and hub"
    for rule in policy["egress"]:
        for peer in rule["to"]:
            assert set(peer) == {"podSelector"}, "no ipBlock, no other namespace"
            assert peer["podSelector"]["matchLabels"] == DAP_LABELS
        assert [p["port"] for p in rule["ports"]] == [8890]


def test_kernels_are_pointed_at_the_dap_service(
    values: dict[str, Any], manifests: dict[str, dict[str, Any]]
) -> None:
    url = urlsplit(values["singleuser"]["extraEnv"]["DAP_SERVICE_URL"])
    assert (url.hostname, url.port) == ("dap", 8890)
    assert url.path == "/services/dap"
    pod_labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert manifests["Service"]["spec"]["selector"].items() <= pod_labels.items()


def test_hub_and_proxy_egress_name_the_dap_pods(
    values: dict[str, Any], manifests: dict[str, dict[str, Any]]
) -> None:
    pod_labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for policy in (values["hub"]["networkPolicy"], values["proxy"]["chp"]["networkPolicy"]):
        assert policy["enabled"] is True
        selectors = [p["podSelector"]["matchLabels"] for r in policy["egress"] for p in r["to"]]
        assert any(s.items() <= pod_labels.items() for s in selectors)


# -- the DAP service's pod --------------------------------------------------------------------


def test_dap_runs_as_a_non_root_user_with_a_read_only_root(
    manifests: dict[str, dict[str, Any]], container: dict[str, Any]
) -> None:
    spec = manifests["Deployment"]["spec"]
    assert spec["replicas"] == 1, "one replica is the supported shape (docs/deploy.md)"
    assert spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    ctx = container["securityContext"]
    assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] > 0
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == manifests["ServiceAccount"]["metadata"]["name"]


def test_dap_serves_from_its_own_volume_and_postgresql(
    manifests: dict[str, dict[str, Any]], container: dict[str, Any]
) -> None:
    assert container["command"][:2] == ["dap", "serve"]
    assert "--port=8890" in container["command"]
    env = _env(container)
    home = env["DAP_HOME"]["value"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in manifests["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    claim = volumes[mounts[home]]["persistentVolumeClaim"]["claimName"]
    assert claim == manifests["PersistentVolumeClaim"]["metadata"]["name"]
    assert env["DAP_META_URL"]["valueFrom"]["secretKeyRef"]["key"]


def test_dap_knows_the_hub_as_a_service_would(
    values: dict[str, Any], container: dict[str, Any]
) -> None:
    env = _env(container)
    plain = {k: v.get("value") for k, v in env.items()}
    assert plain["JUPYTERHUB_API_URL"] == "http://hub:8081/hub/api"
    assert plain["JUPYTERHUB_SERVICE_NAME"] == "dap"
    assert plain["JUPYTERHUB_SERVICE_PREFIX"] == "/services/dap/"
    assert plain["JUPYTERHUB_BASE_URL"] == "/"
    # The very token the hub registers for hub.services.dap: hub.existingSecret's copy.
    ref = env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": values["hub"]["existingSecret"], "key": "hub.services.dap.apiToken"}


def test_only_hub_proxy_and_user_servers_reach_dap(manifests: dict[str, dict[str, Any]]) -> None:
    policy = manifests["NetworkPolicy"]["spec"]
    pod_labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"] == DAP_LABELS
    assert DAP_LABELS.items() <= pod_labels.items()
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    components = set()
    for rule in policy["ingress"]:
        assert [p["port"] for p in rule["ports"]] == [8890]
        for peer in rule["from"]:
            assert set(peer) == {"podSelector"}, "no ipBlock, no namespaceSelector"
            labels = peer["podSelector"]["matchLabels"]
            if labels == HOST_LABELS:
                components.add("dashboards")
                continue
            assert set(labels) == {"app", "component"} and labels["app"] == "jupyterhub"
            components.add(labels["component"])
    assert components == JUPYTERHUB_COMPONENTS | {"dashboards"}


def test_dap_egress_is_hub_postgresql_and_dns_only(manifests: dict[str, dict[str, Any]]) -> None:
    egress = manifests["NetworkPolicy"]["spec"]["egress"]
    ports = sorted(p["port"] for rule in egress for p in rule["ports"])
    assert ports == [53, 53, 5432, 8081]
    for rule in egress:
        for peer in rule["to"]:
            assert "ipBlock" not in peer, "no address range (let alone 0.0.0.0/0) by default"


# -- the dashboard host -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def host() -> dict[str, dict[str, Any]]:
    """The documents of dap-dashboards.yaml by kind."""
    docs = [d for d in yaml.safe_load_all((Z2JH / "dap-dashboards.yaml").read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one document per kind"
    return by_kind


def test_the_dashboard_host_is_a_hub_service_viewers_may_use(
    values: dict[str, Any], host: dict[str, dict[str, Any]]
) -> None:
    service = values["hub"]["services"]["dashboards"]
    url = urlsplit(service["url"])
    assert url.hostname == host["Service"]["metadata"]["name"]
    assert url.port in {p["port"] for p in host["Service"]["spec"]["ports"]}
    # A viewer's token for the host may call DAP as the viewer, and nothing else of the hub's.
    assert service["oauth_client_allowed_scopes"] == ["access:services!service=dap"]
    assert "access:services!service=dashboards" in values["hub"]["loadRoles"]["user"]["scopes"]


def test_the_dashboard_host_holds_no_data_and_no_secret(host: dict[str, dict[str, Any]]) -> None:
    assert "Secret" not in host
    pod = host["Deployment"]["spec"]["template"]["spec"]
    assert [v for v in pod["volumes"] if "persistentVolumeClaim" in v] == [], "no DAP volume"
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "dap_server.dashboard_host"]
    env = _env(container)
    assert env["DAP_SERVICE_URL"]["value"] == "http://dap:8890/services/dap"
    assert not any(k.startswith(("DAP_META", "DAP_SECRET", "DAP_HOME")) for k in env)
    for name, entry in env.items():
        if SECRETISH.search(name):
            assert "value" not in entry and entry["valueFrom"]["secretKeyRef"]["key"], name
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsUser"] > 0


def test_only_the_proxy_reaches_the_host_and_it_reaches_hub_and_dap_only(
    host: dict[str, dict[str, Any]],
) -> None:
    policy = host["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"] == HOST_LABELS
    peers = [p["podSelector"]["matchLabels"] for r in policy["ingress"] for p in r["from"]]
    assert peers == [{"app": "jupyterhub", "component": "proxy"}]
    egress = sorted(p["port"] for rule in policy["egress"] for p in rule["ports"])
    assert egress == [53, 53, 8081, 8890]
    for rule in policy["egress"]:
        for peer in rule["to"]:
            assert "ipBlock" not in peer
