"""Start-up configuration: passed to ``create_app``, never global."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.demo import DEMO_EMAIL, DEMO_TOKEN

__all__ = ["DAY_S", "DEMO_EMAIL", "DEMO_TOKEN", "SimConfig"]

DAY_S = 24 * 3600


@dataclass
class SimConfig:
    """Everything the simulator needs to start; the CLI and the pytest plugin build one."""

    tokens: list[str] = field(default_factory=lambda: [DEMO_TOKEN])
    demo: bool = True  # one demo LTX user and one configured account per token
    speed: float = 1.0  # simulated seconds per real second
    paused: bool = False  # start with the clock frozen (tests)
    seed: int | None = None  # reproducible ids and fake data
    store_url: str | None = None  # None: memory; a path: SQLite; redis://: Redis
    scenario: str | None = None  # YAML scenario file loaded at start-up (and on reset)
    max_upload_bytes: int = 20 * 1024 * 1024
    upload_budget_bytes: int = 512 * 1024 * 1024  # all stored uploads together; past it 507 (--upload-budget MiB)
    job_retention_s: int = 7 * DAY_S  # GET /assets/{jobId} answers 404 after this
    asset_url_ttl_s: int = DAY_S  # signed assetUrl lifetime
    demo_credits: int = 28000  # the Standard plan's monthly credits
    strict_responses: bool = False  # a response outside the contract becomes a 500 (tests)
    journal: bool = True  # keep the request journal (/__admin/requests)
    journal_limit: int = 10000
    journal_max_bytes: int = 32 * 1024 * 1024  # stored characters of all entries; the oldest go first beyond it
    webhook_timeout_s: float = 5.0
    webhook_attempts: int = 3
    webhook_log_limit: int = 5000  # deliveries kept in the log (oldest finished dropped first)
    webhook_log_bytes: int = 32 * 1024 * 1024  # and about this many bytes of them
    webhook_allow: list[str] | None = None  # hosts (or host:port) webhooks may reach; None: any (--webhook-allow)
    body_timeout_s: float = 10.0  # a request body silent this long gets 408 and its connection closed (--body-timeout)
    poll_waits: int = 32  # pollForResult waits held at once; one more is refused with 503 (--poll-waits)
    webhook_lease_s: float = 30.0  # a claimed delivery whose process died is retried by another after this
    background: bool = True  # run the worker thread (webhooks, settling) in this process
    # Signs asset URLs and fake JWTs. None (the default): a random key made once per store and kept in it
    # (meta "signing-key"), so URLs survive a restart on --state/--store and nobody can forge one.
    secret: str | None = None
    public_url: str | None = None  # the origin URLs are built on (--public-url); None: each request's own Host
    host: str = "127.0.0.1"  # where the server is bound (webhooks, which have no request, use it without public_url)
    port: int | None = None
    admin_token: str | None = None  # --admin-token: /__admin then needs it (Authorization: Bearer / X-Admin-Token)
    metrics: bool = True  # GET /__admin/metrics and its counters (--no-metrics: off; mock_server/metrics.py)
    access_log: str | None = None  # --access-log: "-" (standard output) or a file; None: no access log
    log_format: str = "plain"  # --log-format: the access log's lines, plain or json
    log_level: str = "warning"  # --log-level: the simulator's own log (and granian's at info or debug)
