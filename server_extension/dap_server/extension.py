"""The extension class: wiring only (traits, settings, route table)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Int, Unicode, default

from dap_kernel.settings import Settings

from .auth import default_identity_mode
from .proxy import proxy_handlers

if TYPE_CHECKING:
    from .state import DapState

# A hub user's server only forwards to the DAP service: the governed core (DuckDB, polars,
# Arrow, Delta, sqlglot, SQLAlchemy) is imported where the service's own workspace is opened,
# not when the extension loads. That is ~170 MiB less per user server (bench/RESULTS.md).


class DapExtension(ExtensionApp):
    """Serves ``/dap/api/v1/…`` from the same governed core as the magics."""

    name = "dap_server"
    load_other_extensions = True

    dap_home = Unicode(
        "", config=True, help="DAP home folder (metadata, lake). Default: $DAP_HOME or ~/.dap."
    )
    meta_url = Unicode(
        "", config=True, help="Metadata database URL. Default: $DAP_META_URL or SQLite in DAP home."
    )
    identity = Unicode(
        config=True,
        help="Whose DAP identity a Jupyter-authenticated request carries: 'owner' (the server's "
        "owner, DAP_USER: a personal server) or 'user' (the Jupyter user's name: a hub's "
        "single-user server). Default: 'user' under JupyterHub, else 'owner'.",
    )
    hub_service = Bool(
        False,
        config=True,
        help="Authenticate users through JupyterHub (running as a hub service). Default: on "
        "when JUPYTERHUB_API_TOKEN and JUPYTERHUB_API_URL are set and this is `dap serve`.",
    )
    hub_cache = Float(
        60.0,
        config=True,
        help="Seconds the hub's answer about a token is reused: a group removed at the identity "
        "provider stops counting at most auth_refresh_age + hub_cache after the change.",
    )
    query_workers = Int(
        4,
        config=True,
        help="Threads that run queries (engine work), shared fairly between users: one user "
        "runs on at most query_workers - reserved_query_workers of them (at least 2 are made).",
    )
    reserved_query_workers = Int(
        1,
        config=True,
        help="Query threads kept free for users with nothing running, so another user's short "
        "query starts at once however busy one user keeps the rest (at least 1).",
    )
    user_running_queries = Int(
        0,
        config=True,
        help="Most queries of one user running at once; the rest wait in that user's queue. "
        "0 = one fewer than the CPU cores (DuckDB spreads each query over all of them), and "
        "never more than query_workers - reserved_query_workers.",
    )
    api_workers = Int(8, config=True, help="Threads for metadata requests (catalog, keys, …).")
    per_user_queries = Int(
        8,
        config=True,
        help="Queries one user may have running or waiting at once; more get 429. 0 = no "
        "limit. Those beyond the user's share of the workers wait in the user's own queue.",
    )
    max_rows = Int(
        1_000_000, config=True, help="Most rows one REST query returns (the rest is cut off)."
    )
    query_timeout = Float(
        0.0,
        config=True,
        help="Seconds a query may run when the caller names no timeout. 0 = DAP_QUERY_TIMEOUT "
        "(default 300).",
    )
    max_query_timeout = Float(
        0.0,
        config=True,
        help="The most seconds a caller may ask for (a longer `timeout` is cut to this). "
        "0 = DAP_MAX_QUERY_TIMEOUT, or the default timeout when that is unset.",
    )
    metrics_token = Unicode(
        "",
        config=True,
        help="A bearer token that reads /dap/metrics and nothing else (for a Prometheus "
        "scraper). Default: $DAP_METRICS_TOKEN; without one, only administrators read them.",
    )
    json_access_log = Bool(
        False,
        config=True,
        help="Write one JSON line per DAP request (route, status, ms, user) to stderr. "
        "On in `dap serve`; in a user's Jupyter server its own request log suffices.",
    )
    shutdown_grace = Float(
        -1.0,
        config=True,
        help="Seconds a stopping server lets running queries finish (new ones get 503 and "
        "readiness fails meanwhile) before it cancels them. -1 = DAP_SHUTDOWN_GRACE_S "
        "(default 30).",
    )
    rate_limit_per_min = Float(
        -1.0,
        config=True,
        help="REST requests one caller (an API key, else a user) may send a minute, in bursts "
        "of a sixth of that; more get 429. 0 = no limit; -1 = DAP_RATE_LIMIT_PER_MIN "
        "(default 600). A key's own limit (dap apikey create --rate-limit) wins.",
    )
    result_store_mb = Float(
        512.0,
        config=True,
        help="Largest finished result (MiB) kept for paging through any worker (encrypted, in "
        "the metadata database, for 15 minutes); of a larger one only the first answer has rows.",
    )

    scheduler = Bool(
        True,
        config=True,
        help="Run scheduled reports in this server (`dap serve`, the lab server of `dap up`). "
        "Report kernels reach DAP through this server's own URL with a key of their run. "
        "Several servers on one metadata database share the work through leases.",
    )
    schedule_lease_s = Float(
        60.0,
        config=True,
        help="Seconds a running report's lease lasts without a heartbeat: after that another "
        "server's scheduler takes the run over (its scheduler is presumed dead).",
    )

    service_url = Unicode(
        config=True,
        help="The DAP service this server forwards its DAP routes to, holding no workspace of "
        "its own (a hub user's server). Default: $DAP_SERVICE_URL, unless this is the service.",
    )

    @default("service_url")
    def _service_url_default(self) -> str:
        return "" if self.hub_service else os.environ.get("DAP_SERVICE_URL", "").strip()

    @default("identity")
    def _identity_default(self) -> str:
        return default_identity_mode()

    def dap_settings(self) -> Settings:
        overrides: dict[str, Any] = {}
        if self.dap_home:
            overrides["home"] = Path(self.dap_home).expanduser()
        if self.meta_url:
            overrides["meta_url"] = self.meta_url
        elif self.dap_home:
            overrides["meta_url"] = f"sqlite:///{Path(self.dap_home).expanduser() / 'meta.db'}"
        if self.query_timeout > 0:
            overrides["query_timeout_s"] = self.query_timeout
        if self.metrics_token:
            overrides["metrics_token"] = self.metrics_token
        if self.max_query_timeout > 0:
            overrides["max_query_timeout_s"] = self.max_query_timeout
        if self.shutdown_grace >= 0:
            overrides["shutdown_grace_s"] = self.shutdown_grace
        if self.rate_limit_per_min >= 0:
            overrides["rate_limit_per_min"] = self.rate_limit_per_min
        return Settings.from_env(**overrides)

    def initialize_settings(self) -> None:
        if self.service_url:  # every door through the service: nothing of its own to open
            self.log.info("DAP: forwarding /dap/api/v1 to the DAP service at %s", self.service_url)
            return
        from dap_kernel.governance.hub_activity import claim_mapping

        from .auth import HubIdentity
        from .handlers import access_log
        from .metrics import Metrics
        from .runtime import Runtime
        from .state import DapState

        settings = self.dap_settings()
        runtime = Runtime(
            query_workers=self.query_workers,
            light_workers=self.api_workers,
            per_user_queries=self.per_user_queries,
            max_rows=self.max_rows,
            result_store_mb=self.result_store_mb,
            metrics=Metrics(streams_home=settings.home),
            settings=settings,
            reserved_query_workers=self.reserved_query_workers,
            user_running_queries=self.user_running_queries,
        )
        if self.json_access_log and not access_log.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            access_log.addHandler(handler)
            access_log.setLevel(logging.INFO)
            access_log.propagate = False
        self.settings["dap_access_log"] = self.json_access_log  # see handlers.request_log
        hub = HubIdentity(claim_mapping(settings), self.hub_cache) if self.hub_service else None
        self.settings["dap_state"] = DapState(settings, runtime, hub, self.identity)

    def initialize_handlers(self) -> None:
        if self.service_url:
            self.handlers.extend(proxy_handlers(self.service_url))
            return
        import dap_server.endpoints  # noqa: F401 - registers the routes

        from .api import router
        from .handlers import make_handlers

        self.handlers.extend(make_handlers(router))
        state: DapState = self.settings["dap_state"]
        if state.hub is not None:  # the browser's OAuth round trip through the hub
            from jupyterhub.services.auth import HubOAuthCallbackHandler

            self.settings["hub_auth"] = state.hub.oauth
            self.handlers.append(("/oauth_callback", HubOAuthCallbackHandler))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Once the server listens (its URL is known), start its report scheduler, and watch
        again the streams an earlier run of the service started."""
        if self.service_url:
            return
        state_: DapState = self.settings["dap_state"]
        if (state_.settings.home / "streams").is_dir():  # no stream ever: nothing to import
            from dap_kernel.streams.supervisor import shared

            adopted = shared(state_.settings).adopt()
            if adopted:
                self.log.info("DAP: watching the streams %s", ", ".join(adopted))
        if not self.scheduler:
            return
        from .scheduling import ServiceScheduler, own_url

        url = own_url(serverapp)
        if not url:
            self.log.warning("DAP: no scheduled reports on a server without a TCP port")
            return
        state: DapState = self.settings["dap_state"]
        scheduler = ServiceScheduler(state.workspace, url, lease_s=self.schedule_lease_s)
        state.runtime.scheduler = scheduler
        scheduler.start()

    async def stop_extension(self) -> None:
        """Jupyter Server's shutdown hook (SIGTERM, Ctrl-C): drain, then close. Readiness
        fails and new queries get 503 at once; running ones have the grace period to finish,
        and are cancelled after it."""
        state: DapState | None = self.settings.get("dap_state")
        if state is not None:
            grace = state.settings.shutdown_grace_s
            self.log.info("DAP: draining: no new queries; running ones have %g s to finish", grace)
            cancelled = await state.drain()
            if cancelled:
                self.log.warning("DAP: grace period over: cancelled queries: %d", cancelled)
            state.close()
