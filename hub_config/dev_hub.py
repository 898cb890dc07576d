"""``make hub``: the whole multi-user deployment on 127.0.0.1:8000 for development.

A local OpenID provider (``oidc-provider-mock``: its login page asks only for a user name),
JupyterHub with its proxy and idle culler, and the DAP service, over the demo data in
``DAP_HOME``. Users of the provider: ``ann`` (group ``analysts``, region EMEA), ``raj``
(``analysts``, APAC) and ``ada`` (``dap-admins``). For a real provider set ``DAP_OIDC_ISSUER``,
``OAUTH_CLIENT_ID`` and ``OAUTH_CLIENT_SECRET`` before ``make hub``: no local provider starts then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PROVIDER_PORT = 9400
USERS = [
    {"sub": "ann", "preferred_username": "ann", "groups": ["analysts"], "region": "EMEA"},
    {"sub": "raj", "preferred_username": "raj", "groups": ["analysts"], "region": "APAC"},
    {"sub": "ada", "preferred_username": "ada", "groups": ["dap-admins"]},
]


def main() -> int:
    env = dict(os.environ)
    home = Path(env.setdefault("DAP_HOME", str(Path("~/.dap").expanduser())))
    if not (home / "meta.db").exists():
        subprocess.run([str(BIN / "dap"), "demo"], env=env, check=True)
    provider = None
    if not env.get("DAP_OIDC_ISSUER"):
        args = [str(BIN / "oidc-provider-mock"), f"--port={PROVIDER_PORT}"]
        args += [a for user in USERS for a in ("--user-claims", json.dumps(user))]
        provider = subprocess.Popen(args)
        issuer = f"http://127.0.0.1:{PROVIDER_PORT}"
        for _ in range(100):
            try:
                # B310: the local dev provider on http://127.0.0.1.
                urllib.request.urlopen(  # nosec B310
                    f"{issuer}/.well-known/openid-configuration", timeout=1
                )
                break
            except OSError:
                time.sleep(0.2)
        env.update(
            DAP_OIDC_ISSUER=issuer, OAUTH_CLIENT_ID="dap-hub", OAUTH_CLIENT_SECRET="dev-only"
        )
    env.setdefault("DAP_HUB_AUTH", "generic-oauth")
    env.setdefault("DAP_ROLE_MAP", '{"analysts": "analyst"}')
    env.setdefault("DAP_ADMIN_GROUPS", "dap-admins")
    env.setdefault("DAP_ATTRIBUTE_CLAIMS", '{"region": "region"}')
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    print("JupyterHub with DAP on http://127.0.0.1:8000 (sign in as ann, raj or ada)")
    hub = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(HERE / "jupyterhub_config.py")], env=env
    )
    try:
        return hub.wait()
    except KeyboardInterrupt:
        hub.terminate()
        return hub.wait()
    finally:
        if provider is not None:
            provider.terminate()


if __name__ == "__main__":
    sys.exit(main())
