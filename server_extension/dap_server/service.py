"""``dap serve``: the same extension as a server of its own — the DAP service.

This is the shape JupyterHub runs as a service: under its own system user it owns the lake, the
metadata and the secrets, and serves nothing but DAP. No contents, kernels or terminals API, no
other server extensions, and no Jupyter token: callers come in with a DAP API key or, as a hub
service (``JUPYTERHUB_SERVICE_*`` env), with their hub identity.

TLS is Jupyter Server's own (``ServerApp.certfile`` / ``keyfile``, by default from
``DAP_TLS_CERTFILE`` / ``DAP_TLS_KEYFILE``); :mod:`dap_kernel.tls` checks the pair before the
server binds, and plain HTTP off loopback needs ``allow_plain_http``.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.serverapp import ServerApp
from jupyter_server.services.contents.largefilemanager import LargeFileManager
from traitlets import Bool, default

from dap_kernel.errors import ConfigError
from dap_kernel.tls import CERT_ENV, KEY_ENV, check_listener, check_pair

from .auth import HubIdentity, NoJupyterIdentity
from .handlers import request_log


class _NoFilesContentsManager(LargeFileManager):
    """Jupyter serves ``/files/…`` from its contents manager even without the contents API."""

    def get_extra_handlers(self) -> list[Any]:
        return []


class DapServiceApp(ServerApp):
    name = "dap-serve"
    description = "The DAP service: the governed REST API, and nothing else."
    default_services = ()  # type: ignore[assignment]

    reuse_port = Bool(
        False,
        config=True,
        help="Listen with SO_REUSEPORT, beside the other workers of `dap serve --workers N` on "
        "the same port (the kernel spreads connections over them).",
    )

    allow_plain_http = Bool(
        False,
        config=True,
        help="Serve plain HTTP on an address other than loopback (something else encrypts the "
        "link: a TLS-terminating proxy, a service mesh). Off: such a start is refused.",
    )

    @default("certfile")
    def _certfile_default(self) -> str:
        return os.environ.get(CERT_ENV, "").strip()

    @default("keyfile")
    def _keyfile_default(self) -> str:
        return os.environ.get(KEY_ENV, "").strip()

    def init_webapp(self) -> None:
        """Refuse, in one line, a TLS pair that cannot work or plain HTTP on the network, before
        Jupyter builds its TLS options from the pair (it would fail with a traceback)."""
        try:
            tls = check_pair(self.certfile, self.keyfile)
            if not self.sock:
                check_listener(self.ip, tls, self.allow_plain_http)
        except ConfigError as e:
            self.log.critical("%s", e)
            self.exit(1)
        self.tornado_settings = {"log_function": request_log, **self.tornado_settings}
        super().init_webapp()

    def _find_http_port(self) -> None:
        if not self.reuse_port:  # a worker's port is given, and its siblings hold it already
            super()._find_http_port()

    def _bind_http_server_tcp(self) -> bool:
        if not self.reuse_port:
            return bool(super()._bind_http_server_tcp())
        self.http_server.listen(self.port, self.ip, reuse_port=True)
        return True

    @default("identity_provider_class")
    def _identity_provider_class_default(self) -> type:
        return NoJupyterIdentity

    @default("contents_manager_class")
    def _contents_manager_class_default(self) -> type:
        return _NoFilesContentsManager

    @default("allow_root")
    def _allow_root_default(self) -> bool:
        # Jupyter refuses root because a root kernel or terminal is dangerous; this server runs
        # neither. (Under a hub, run it as its own system user all the same.)
        return True

    @default("open_browser")
    def _open_browser_default(self) -> bool:
        return False

    @default("default_url")
    def _default_url_default(self) -> str:
        return "/dap/api/v1/health"

    def _get_urlparts(
        self, path: str | None = None, include_token: bool = False, ip: str | None = None
    ) -> Any:
        # Jupyter's token opens nothing here: never print one.
        return super()._get_urlparts(path, include_token=False, ip=ip)

    def stop(self, from_signal: bool = False) -> None:
        """Jupyter's stop (SIGTERM), except that the service keeps listening while it drains.

        Jupyter closes the listening socket first; a load balancer then sees refused
        connections rather than a failing readiness, and a client's new query a connection
        error rather than a 503 it can retry elsewhere. Here the socket stays open until the
        extension's drain (its ``stop_extension``, run by Jupyter's cleanup) is over; Jupyter's
        cleanup closes it then. A second signal cuts the grace period short.
        """
        state = self.web_app.settings.get("dap_state") if hasattr(self, "web_app") else None
        if state is None:
            super().stop(from_signal=from_signal)
            return
        if self._stopping:
            state.runtime.cut_grace()
            return
        self._stopping = True
        state.runtime.begin_drain()
        if from_signal:
            self.io_loop.add_callback_from_signal(self._stop)
        else:
            self.io_loop.add_callback(self._stop)

    def find_server_extensions(self) -> None:
        """Only DAP, whatever else is installed and enabled for Jupyter."""
        self.jpserver_extensions = {"dap_server": True}


_PLAIN_HTTP_HELP = "serve plain HTTP off loopback (something else encrypts the link)"


def service_argv(
    port: int, ip: str = "127.0.0.1", home: str = "", extra: list[str] | None = None
) -> list[str]:
    """Command-line configuration of the service (hub settings come from the environment)."""
    argv = [
        f"--ServerApp.port={port}",
        f"--ServerApp.ip={ip}",
        "--ServerApp.port_retries=0",
        "--DapExtension.json_access_log=True",
        "--DapExtension.service_url=",  # this is the service: it never forwards
    ]
    if home:
        argv.append(f"--DapExtension.dap_home={home}")
    if HubIdentity.configured():
        argv += ["--DapExtension.hub_service=True", "--DapExtension.identity=user"]
        if os.environ.get("DAP_HUB_CACHE"):  # seconds the hub's answer about a token is reused
            argv.append(f"--DapExtension.hub_cache={os.environ['DAP_HUB_CACHE']}")
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
        if prefix:
            argv.append(f"--ServerApp.base_url={prefix}")
    return argv + list(extra or [])


def serve(port: int, ip: str = "127.0.0.1", home: str = "", extra: list[str] | None = None) -> Any:
    """Run until interrupted."""
    return DapServiceApp.launch_instance(argv=service_argv(port, ip, home, extra))


def main(argv: list[str] | None = None) -> None:
    """``python -m dap_server.service --port P [--ip A] [server options…]`` (what `dap serve`
    runs: the core's CLI never imports Jupyter Server itself)."""
    import argparse

    parser = argparse.ArgumentParser(prog="dap serve", description=__doc__)
    parser.add_argument("--port", type=int, default=8890)
    parser.add_argument("--ip", default="127.0.0.1")
    # --certfile / --keyfile are Jupyter Server's own options, passed on with the rest.
    parser.add_argument("--allow-plain-http", action="store_true", help=_PLAIN_HTTP_HELP)
    parser.add_argument("--reuse-port", action="store_true", help="one of several workers")
    known, extra = parser.parse_known_args(argv)
    if known.allow_plain_http:
        extra = ["--DapServiceApp.allow_plain_http=True", *extra]
    if known.reuse_port:
        extra = ["--DapServiceApp.reuse_port=True", *extra]
    serve(known.port, known.ip, extra=extra)


if __name__ == "__main__":
    main()
