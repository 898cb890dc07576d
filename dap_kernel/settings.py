"""One settings object for the whole core, read from ``DAP_*`` environment variables.

Front doors (CLI, magics, the server extension) build a :class:`Settings` once and pass it
down, so nothing below them reads the environment on its own. The server extension maps its
traitlets onto the same fields (see ``dap_server.extension``).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

# The engines DAP_ENGINE, `dap sql --engine` and `dap.sql(..., engine=…)` may name.
ENGINES = ("duckdb", "chdb", "spark", "clickhouse")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _number(name: str, default: str) -> float:
    value = _env(name, default)
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0:
        from .errors import ConfigError

        raise ConfigError(f"{name}={value!r} is not a valid number (use 0 or more)")
    return number


def _list(name: str) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in _env(name, "").split(",") if p.strip())


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return "local"


@dataclass(frozen=True)
class Settings:
    """Where DAP keeps its state and how it runs queries.

    >>> Settings(home=Path("/tmp/dap")).lake_dir
    PosixPath('/tmp/dap/lake')
    """

    home: Path = field(default_factory=lambda: Path(_env("DAP_HOME", "~/.dap")).expanduser())
    meta_url: str = ""
    engine: str = "duckdb"
    user: str = field(default_factory=lambda: _env("DAP_USER", _default_user()))
    threads: int = 0
    memory_limit: str = ""
    # The spark engine (dap_kernel.engines.spark): DAP_SPARK_MASTER is a master URL
    # (default: local[DAP_THREADS or *]); DAP_SPARK_REMOTE a Spark Connect server (sc://…).
    spark_master: str = ""
    spark_remote: str = ""
    # DAP_CLICKHOUSE_URL: the ClickHouse server of --engine clickhouse (http://user:pw@host:8123/).
    clickhouse_url: str = field(default="", repr=False)  # holds a password: never printed
    # Seconds a query may run when its caller names no timeout (0 = no default), and the most a
    # caller may ask for (0 = the default is also the most). See dap_kernel.admission.
    query_timeout_s: float = 300.0
    max_query_timeout_s: float = 0.0
    audit_sql_max_chars: int = 20_000
    result_cache_mb: float = 256.0
    result_cache_ttl_s: float = 600.0
    secret_key: str = field(default="", repr=False)  # DAP_SECRET_KEY; never printed
    # DAP_METRICS_TOKEN: a bearer token that reads /dap/metrics (and nothing else), for a
    # Prometheus scraper that should not hold an administrator's key. Never printed.
    metrics_token: str = field(default="", repr=False)
    openlineage_url: str = ""  # DAP_OPENLINEAGE_URL: POST OpenLineage run events here
    openlineage_file: str = ""  # DAP_OPENLINEAGE_FILE: or append them to this NDJSON file
    chromium: str = "/usr/bin/chromium"  # DAP_CHROMIUM: the browser that renders PDFs
    # Scheduled reports (dap_kernel.scheduler): mail and webhook delivery, links, limits.
    smtp_host: str = ""  # DAP_SMTP_HOST: no host, no mail (runs still record their outputs)
    smtp_port: int = 25  # DAP_SMTP_PORT
    smtp_from: str = "dap@localhost"  # DAP_SMTP_FROM
    smtp_user: str = ""  # DAP_SMTP_USER
    smtp_password: str = field(default="", repr=False)  # DAP_SMTP_PASSWORD; never printed
    smtp_starttls: bool = False  # DAP_SMTP_STARTTLS=1
    # DAP_MAIL_DOMAINS: comma list of recipient domains reports may go to ("" = any).
    mail_domains: tuple[str, ...] = ()
    # DAP_WEBHOOK_HOSTS: comma list of hosts webhooks may call; none set, no webhook may be
    # added (a webhook is a door out of the service: to internal hosts, or to anyone).
    webhook_hosts: tuple[str, ...] = ()
    public_url: str = ""  # DAP_PUBLIC_URL: base of the links in mails and alerts
    schedule_concurrency: int = 2  # DAP_SCHEDULE_CONCURRENCY: runs at once per scheduler
    schedule_tick_s: float = 5.0  # DAP_SCHEDULE_TICK: seconds between looks at what is due
    # Single sign-on through JupyterHub (dap_kernel.governance.claims): provider groups → DAP
    # roles, administrators, and the claims that become user attributes for row filters.
    role_map: str = ""  # DAP_ROLE_MAP: JSON {"provider group": "role" | ["role", …]}
    admin_groups: str = ""  # DAP_ADMIN_GROUPS: comma list; members are DAP administrators
    attribute_claims: str = ""  # DAP_ATTRIBUTE_CLAIMS: JSON {"attribute": "claim"}
    # DAP_HUB_EVENT_SERVICES: the hub services whose activity events (logins, servers) DAP
    # records; any other caller is refused (see dap_kernel.governance.hub_activity).
    hub_event_services: tuple[str, ...] = ("dap-hub",)
    # DAP_PROVIDER_IDENTITY_MAX_AGE: seconds a hub user's provider groups, recorded at login or
    # refresh, still count for their API keys and schedules (governance.provider_identity).
    provider_identity_max_age_s: float = 8 * 24 * 3600
    # DAP_RATE_LIMIT_PER_MIN: REST requests one caller (an API key, else a user) may send a
    # minute, in bursts of a sixth of that; 0 = no limit (dap_kernel.ratelimit). A key may carry
    # its own limit.
    rate_limit_per_min: float = 600.0
    # DAP_SHUTDOWN_GRACE_S: seconds a stopping service lets running queries finish before it
    # cancels them.
    shutdown_grace_s: float = 30.0
    # DAP_EXACT_DISTINCT_ROWS: catalog statistics count distinct values exactly in tables up to
    # this many rows; larger tables get HyperLogLog estimates, shown as ≈ (0: always estimate).
    exact_distinct_rows: int = 5_000_000

    def __post_init__(self) -> None:
        if not self.meta_url:
            object.__setattr__(self, "meta_url", f"sqlite:///{self.home / 'meta.db'}")
        if self.engine not in ENGINES:
            from .errors import ConfigError

            raise ConfigError(
                f"DAP_ENGINE={self.engine!r} is not supported; choose one of {', '.join(ENGINES)}"
            )

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def is_sqlite(self) -> bool:
        return self.meta_url.startswith("sqlite")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Build settings from ``DAP_*`` variables; keyword overrides win."""
        base = cls(
            home=Path(_env("DAP_HOME", "~/.dap")).expanduser(),
            meta_url=_env("DAP_META_URL", ""),
            engine=_env("DAP_ENGINE", "duckdb"),
            user=_env("DAP_USER", _default_user()),
            threads=int(_number("DAP_THREADS", "0")),
            memory_limit=_env("DAP_MEMORY_LIMIT", ""),
            spark_master=_env("DAP_SPARK_MASTER", ""),
            spark_remote=_env("DAP_SPARK_REMOTE", ""),
            clickhouse_url=_env("DAP_CLICKHOUSE_URL", ""),
            query_timeout_s=_number("DAP_QUERY_TIMEOUT", "300"),
            max_query_timeout_s=_number("DAP_MAX_QUERY_TIMEOUT", "0"),
            secret_key=_env("DAP_SECRET_KEY", ""),
            metrics_token=_env("DAP_METRICS_TOKEN", ""),
            result_cache_mb=_number("DAP_RESULT_CACHE_MB", "256"),
            result_cache_ttl_s=_number("DAP_RESULT_CACHE_TTL", "600"),
            openlineage_url=_env("DAP_OPENLINEAGE_URL", ""),
            openlineage_file=_env("DAP_OPENLINEAGE_FILE", ""),
            chromium=_env("DAP_CHROMIUM", "/usr/bin/chromium"),
            smtp_host=_env("DAP_SMTP_HOST", ""),
            smtp_port=int(_number("DAP_SMTP_PORT", "25")),
            smtp_from=_env("DAP_SMTP_FROM", "dap@localhost"),
            smtp_user=_env("DAP_SMTP_USER", ""),
            smtp_password=_env("DAP_SMTP_PASSWORD", ""),
            smtp_starttls=_env("DAP_SMTP_STARTTLS", "0").lower() in ("1", "true", "yes"),
            mail_domains=_list("DAP_MAIL_DOMAINS"),
            webhook_hosts=_list("DAP_WEBHOOK_HOSTS"),
            public_url=_env("DAP_PUBLIC_URL", ""),
            schedule_concurrency=max(1, int(_number("DAP_SCHEDULE_CONCURRENCY", "2"))),
            schedule_tick_s=_number("DAP_SCHEDULE_TICK", "5"),
            role_map=_env("DAP_ROLE_MAP", ""),
            admin_groups=_env("DAP_ADMIN_GROUPS", ""),
            attribute_claims=_env("DAP_ATTRIBUTE_CLAIMS", ""),
            hub_event_services=_list("DAP_HUB_EVENT_SERVICES") or ("dap-hub",),
            provider_identity_max_age_s=_number(
                "DAP_PROVIDER_IDENTITY_MAX_AGE", str(8 * 24 * 3600)
            ),
            rate_limit_per_min=_number("DAP_RATE_LIMIT_PER_MIN", "600"),
            shutdown_grace_s=_number("DAP_SHUTDOWN_GRACE_S", "30"),
            exact_distinct_rows=int(_number("DAP_EXACT_DISTINCT_ROWS", "5000000")),
        )
        return replace(base, **overrides) if overrides else base  # type: ignore[arg-type]
