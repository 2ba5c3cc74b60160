"""Gateway settings, from environment variables (README.md lists them)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from cadenza.audio.probe import MAX_EXPANSION, MAX_SAMPLES
from cadenza.runtime.settings import BusSettings, StorageSettings

# cadenza.music's MAX_EVENTS; the gateway does not import the MIDI libraries (file_checks).
MAX_EVENTS = 250_000

GIB = 1 << 30
MIB = 1 << 20

Role = Literal["owner", "admin", "producer", "artist", "reviewer"]


class Settings(BusSettings, StorageSettings):
    # Required: a PostgreSQL DSN, e.g. postgresql://user:pass@host:5432/cadenza
    database_url: str
    database_pool_size: int = Field(10, ge=1, le=200)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_upload_bytes: int = Field(2 * GIB, ge=1)
    # Longest audio accepted (uploads and songs); decoding stops as soon as it is exceeded.
    max_audio_seconds: float = Field(4 * 3600.0, gt=0)
    # Largest JSON (or other non-upload) request body; parsing one costs up to ~28× its size.
    max_json_bytes: int = Field(256 * 1024, ge=1024)
    # Seconds a JSON body may take to arrive; seconds an upload may go without a byte.
    request_body_timeout_s: float = Field(15.0, gt=0)
    upload_idle_timeout_s: float = Field(30.0, gt=0)
    # Samples (frames × channels) one audio file may hold, and how many times its size in
    # float32 it may decode to (past the first 10 million samples): a decompression bomb
    # is refused within its first megabytes of output.
    max_audio_samples: int = Field(MAX_SAMPLES, ge=1)
    max_audio_expansion: float = Field(MAX_EXPANSION, gt=1)
    # Events one MIDI file may hold (counted on its bytes before anything parses it).
    max_midi_events: int = Field(MAX_EVENTS, ge=100)
    # Uploaded files are checked in this many child processes, never in the threads that
    # serve requests, each file within these limits (address space, CPU, seconds in all);
    # an account may have this many files being checked at once (more get 429).
    probe_workers: int = Field(2, ge=1, le=64)
    probe_memory_mb: int = Field(512, ge=128)
    probe_cpu_s: float = Field(60.0, gt=0)
    probe_wall_s: float = Field(120.0, gt=0)
    probes_per_account: int = Field(2, ge=1, le=100)
    # How long a late WebSocket subscriber can still see events the projection has not stored.
    live_cache_jobs: int = Field(10_000, ge=100)

    # "production" refuses AUTH_MODE=dev and a short or missing JWT_SECRET.
    environment: Literal["development", "production"] = "development"
    # "required": every API call needs a token or API key. "dev": calls without credentials
    # act as DEFAULT_OWNER with DEV_ROLE (the one-command local start); credentials still count.
    auth_mode: Literal["required", "dev"] = "required"
    default_owner: str = "local"
    dev_role: Role = "owner"
    jwt_secret: SecretStr | None = None
    access_token_ttl_s: int = Field(900, ge=30, le=86_400)
    refresh_token_ttl_s: int = Field(30 * 86_400, ge=300)
    # New accounts: "open" lets anyone register; "closed" leaves it to admins and the CLI.
    registration: Literal["open", "closed"] = "open"

    # Requests per minute per principal (or per client address before sign-in), and burst.
    rate_limit_per_minute: int = Field(1200, ge=0)
    rate_limit_burst: int = Field(200, ge=1)
    # register/login/refresh attempts per minute per client address.
    auth_rate_limit_per_minute: int = Field(30, ge=0)
    # Failed sign-ins one account may have before each further attempt waits 1, 2, 4… s
    # (at most SIGN_IN_MAX_BACKOFF_S), whichever address they come from.
    sign_in_free_attempts: int = Field(5, ge=1)
    sign_in_max_backoff_s: float = Field(900.0, gt=0)
    # Requests with wrong, expired or revoked credentials per minute per client address;
    # past it they get 429 instead of 401 (guessing keys or replaying tokens is slow).
    auth_failures_per_minute: int = Field(60, ge=0)

    # Quotas per account: bytes stored (uploads, job outputs, songs' files, plus what its
    # running jobs are expected to write) and jobs queued or running at once; 0 = none.
    storage_quota_bytes: int = Field(5 * GIB, ge=0)
    max_active_jobs: int = Field(4, ge=0)
    # Budgets per job, estimated before it is accepted (422 naming the parameter): bytes it
    # may write, working memory a stage may need, CPU seconds per second of audio (at least
    # MIN_JOB_CPU_S). Workers hold every stage to them.
    max_job_output_bytes: int = Field(2 * GIB, ge=1)
    max_job_memory_bytes: int = Field(512 * MIB, ge=MIB)
    max_cpu_per_audio_second: float = Field(4.0, gt=0)
    min_job_cpu_s: float = Field(60.0, gt=0)

    # Retention (seconds): generated files and uploads 24 hours, job records 7 days after
    # the job ends; files no record points at are removed after the grace period.
    retention_artifacts_s: float = Field(24 * 3600.0, gt=0)
    retention_jobs_s: float = Field(7 * 24 * 3600.0, gt=0)
    retention_uploads_s: float = Field(24 * 3600.0, gt=0)
    retention_orphan_grace_s: float = Field(3600.0, gt=0)
    retention_interval_s: float = Field(600.0, gt=0)

    # How often the consumers' lag is read from JetStream for /metrics.
    queue_lag_interval_s: float = Field(15.0, gt=0)

    # How often open WebSockets' credentials are checked again (a backstop: sign-out, key
    # revocation, disabling and role changes close them at once).
    socket_recheck_s: float = Field(30.0, gt=0)

    # Live effects (WS /api/v1/live): sessions per principal (per gateway replica), how long
    # a session may go without a frame, blocks sent to the worker and not yet back, and how
    # long a block may take before the worker counts as gone.
    live_sessions_per_principal: int = Field(4, ge=0, le=1000)
    live_idle_timeout_s: float = Field(30.0, gt=0)
    live_max_in_flight: int = Field(8, ge=1, le=256)
    live_stall_timeout_s: float = Field(2.0, gt=0)

    # Connections: how many one address may hold open (HTTP and WebSocket; trusted proxies
    # are exempt), how long a request's headers may take, how large they may be, and how
    # many connections and requests the process serves at once (more get 503).
    max_connections_per_address: int = Field(64, ge=1)
    header_timeout_s: float = Field(10.0, gt=0)
    max_header_bytes: int = Field(32 * 1024, ge=1024)
    max_connections: int = Field(4096, ge=1)
    # Proxies (addresses or networks, e.g. 10.0.0.0/8) whose X-Forwarded-For is believed;
    # from anyone else the header is ignored, so it cannot dodge limits per address.
    trusted_proxies: tuple[str, ...] = ()

    # Downloads from S3 storage answer with a 307 to a URL signed for this many seconds
    # (clients fetch the bytes from S3 itself); 0 streams them through the gateway instead.
    # Local storage always streams.
    download_url_ttl_s: int = Field(300, ge=0, le=7 * 86_400)

    # Webhooks (README.md, "Webhooks"): private, loopback, link-local and multicast targets
    # are refused unless allowed here (tests and a local receiver); webhooks per account;
    # per attempt a timeout and the bytes of the answer read; attempts per delivery, with
    # back-off doubling from RETRY_BASE_S up to RETRY_MAX_S; deliveries in flight at once;
    # progress deliveries one webhook may have waiting (more are dropped, endings never);
    # how long a rotated-out secret still signs; how long finished deliveries stay logged.
    webhook_allow_private_targets: bool = False
    webhook_max_per_account: int = Field(20, ge=1, le=1000)
    webhook_timeout_s: float = Field(10.0, gt=0, le=120)
    webhook_response_bytes: int = Field(4096, ge=0, le=1024 * 1024)
    webhook_resolve_timeout_s: float = Field(5.0, gt=0, le=60)
    webhook_max_attempts: int = Field(10, ge=1, le=50)
    webhook_retry_base_s: float = Field(10.0, gt=0)
    webhook_retry_max_s: float = Field(3600.0, gt=0)
    webhook_max_concurrent: int = Field(16, ge=1, le=1024)
    webhook_max_pending_progress: int = Field(1000, ge=0)
    webhook_secret_grace_s: float = Field(24 * 3600.0, ge=0)
    webhook_log_retention_s: float = Field(7 * 24 * 3600.0, gt=0)

    # Projects (README.md, "Projects"): how many projects one account may own (archived
    # ones count), how many members a project may have (pending invitations count), how
    # long an invitation stays open.
    projects_per_account: int = Field(50, ge=1, le=10_000)
    members_per_project: int = Field(50, ge=2, le=1000)
    invitation_ttl_s: float = Field(14 * 86_400.0, gt=0, le=365 * 86_400.0)
    # Comments (replies included) and reviewers' decisions one project may hold.
    comments_per_project: int = Field(10_000, ge=1, le=1_000_000)
    approvals_per_project: int = Field(10_000, ge=1, le=1_000_000)

    # The seeds' own clients against Cadenza (docs/compat.md): Orpheus's /api/generate,
    # /api/status, /api/download and /api/health/*, Music Assistant's /api/jobs and
    # /api/health, the generation platform's WS /ws. Unset: on with AUTH_MODE=dev (the
    # local start), off otherwise.
    compat_routes: bool | None = None

    cors_origins: tuple[str, ...] = ()
    security_headers: bool = True
    hsts_seconds: int = Field(0, ge=0)

    @property
    def compat_routes_on(self) -> bool:
        return self.auth_mode == "dev" if self.compat_routes is None else self.compat_routes

    @model_validator(mode="after")
    def _production_is_locked_down(self) -> Settings:
        if self.environment == "production":
            if self.auth_mode == "dev":
                raise ValueError(
                    "AUTH_MODE=dev lets anyone act without signing in and is refused when "
                    "ENVIRONMENT=production; set AUTH_MODE=required"
                )
            secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
            if len(secret) < 32:
                raise ValueError(
                    "ENVIRONMENT=production needs JWT_SECRET of at least 32 characters"
                )
        return self
