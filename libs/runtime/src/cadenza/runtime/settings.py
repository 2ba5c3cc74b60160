"""Settings shared by services. Each service composes these into one `Settings` class.

Every field reads an UPPER_CASE environment variable of the same name (for example
`NATS_URL`, `STORAGE_BACKEND`); README.md lists them all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"


class BusSettings(CommonSettings):
    # Several servers comma-separated; user:password@ in a URL for user/password auth;
    # tls:// for TLS against the system's CAs.
    nats_url: str = "nats://127.0.0.1:4222"
    nats_connect_timeout_s: int = Field(5, ge=1)
    # A server that stops answering without closing the connection (frozen, partitioned) is
    # left after this many seconds without a PONG (a ping every third of it): the clients'
    # default, a ping every 2 minutes with 2 outstanding, kept services on a dead node 4 min.
    nats_stale_after_s: int = Field(15, ge=3)
    # Replicas for streams this process creates; 3 on a production NATS cluster.
    nats_stream_replicas: int = Field(1, ge=1, le=5)
    # A NATS credentials file (user JWT + NKey seed, decentralized auth).
    nats_creds_file: Path | None = None
    # TLS: the CA that signed the servers' certificates (turns TLS on), and a client
    # certificate and key where the servers verify clients (mutual TLS).
    nats_tls_ca_file: Path | None = None
    nats_tls_cert_file: Path | None = None
    nats_tls_key_file: Path | None = None

    @model_validator(mode="after")
    def _client_certificate_comes_with_its_key(self) -> BusSettings:
        if (self.nats_tls_cert_file is None) != (self.nats_tls_key_file is None):
            raise ValueError("NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together: set both")
        return self

    @property
    def nats_servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    @property
    def nats_ping_interval_s(self) -> int:
        return max(1, self.nats_stale_after_s // 3)

    @property
    def nats_user_password(self) -> tuple[str, str] | None:
        """The user and password of the first URL that has them. Given to the client for
        every server, not left in the URL: nodes a cluster announces (INFO connect_urls)
        join the client's list without them, and a reconnect there would log in as the
        server's anonymous user (another account, without JetStream)."""
        for url in self.nats_servers:
            parsed = urlsplit(url)
            if parsed.username is not None and parsed.password is not None:
                return unquote(parsed.username), unquote(parsed.password)
        return None

    @property
    def nats_addresses(self) -> list[str]:
        """The servers without their user:password@ (`nats_user_password` gives them to the
        client on their own); a token (a user without a password) stays in its URL."""
        return [re.sub(r"//[^/@:]*:[^/@]*@", "//", url) for url in self.nats_servers]

    @property
    def nats_where(self) -> str:
        """The servers, for messages and logs: any user:password@ left out."""
        return ", ".join(re.sub(r"//[^/@]*@", "//", url) for url in self.nats_servers)


class StorageSettings(CommonSettings):
    storage_backend: Literal["local", "s3"] = "local"
    storage_dir: Path = Path("var/artifacts")
    s3_bucket: str = "cadenza"
    s3_endpoint_url: str | None = None
    # Where clients reach the same S3 (download URLs are signed for it), when that is not
    # S3_ENDPOINT_URL: e.g. the gateway uses http://minio:9000, browsers https://s3.example.
    s3_public_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    # Create the bucket on start if missing (development and tests).
    s3_create_bucket: bool = False


class WorkerSettings(BusSettings, StorageSettings):
    """What every command-consuming service needs."""

    max_deliver: int = Field(5, ge=1, le=100)
    ack_wait_s: float = Field(30.0, ge=1.0)
    # A job that reports no progress for this long stops heartbeating and is redelivered.
    stall_timeout_s: float = Field(600.0, ge=1.0)
    # Redelivery delays after a transient error, indexed by attempt (last one repeats).
    retry_backoff_s: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    # How many commands one process works on at once, how many of them one account may
    # have, and how many more it holds waiting for a turn (served round robin by account,
    # so one account's backlog does not delay another's jobs).
    concurrency: int = Field(1, ge=1, le=64)
    per_account_concurrency: int = Field(1, ge=1, le=64)
    fair_window: int = Field(8, ge=0, le=256)
    http_host: str = "127.0.0.1"
    http_port: int = Field(8010, ge=0, le=65535)
