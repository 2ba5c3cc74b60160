"""NATS over TLS (mutual), and with user/password, against real nats-servers configured so:
the services' broker and plain nats-py clients connect with the settings, and are refused
without them. Certificates are made here (a throwaway CA)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from faststream.nats.security import parse_security
from pydantic import ValidationError

from cadenza.devstack.nats import NatsServer
from cadenza.runtime.bus import (
    connect_options,
    ensure_streams,
    make_broker,
    nats_answers,
    nats_security,
)
from cadenza.runtime.settings import BusSettings


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    folder: Path,
    stem: str,
    subject: str,
    usage: x509.ObjectIdentifier,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    issuer_cert, issuer_key = ca if ca else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_cert.subject if issuer_cert else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )
    if ca is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), False)
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            False,
        )
    cert = builder.sign(issuer_key, hashes.SHA256())
    (folder / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{stem}-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    ca = _issue(folder, "ca", "Cadenza test CA", ExtendedKeyUsageOID.SERVER_AUTH)
    _issue(folder, "server", "nats", ExtendedKeyUsageOID.SERVER_AUTH, ca)
    _issue(folder, "client", "cadenza-worker", ExtendedKeyUsageOID.CLIENT_AUTH, ca)
    # A CA the server never heard of, with a client certificate of its own.
    stranger = tmp_path_factory.mktemp("stranger")
    other = _issue(stranger, "ca", "Someone else", ExtendedKeyUsageOID.SERVER_AUTH)
    _issue(stranger, "client", "intruder", ExtendedKeyUsageOID.CLIENT_AUTH, other)
    return folder


@pytest.fixture(scope="module")
def tls_server(
    certificates: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NatsServer]:
    server = NatsServer(
        tmp_path_factory.mktemp("nats-tls"),
        accounts=False,
        extra_config=(
            "tls {\n"
            f'  cert_file: "{certificates / "server.pem"}"\n'
            f'  key_file: "{certificates / "server-key.pem"}"\n'
            f'  ca_file: "{certificates / "ca.pem"}"\n'
            "  verify: true\n"
            "  timeout: 2\n"
            "}\n"
        ),
    )
    server.start()
    yield server
    server.stop()


# Run in a process of its own: nats-py leaves the transport of a refused connection for the
# garbage collector, whose warning would otherwise land in whichever test runs next.
_TRY_TO_CONNECT = """
import asyncio, sys
import nats
from cadenza.runtime.bus import connect_options
from cadenza.runtime.settings import BusSettings

async def main() -> int:
    try:
        nc = await nats.connect(
            **connect_options(BusSettings()), allow_reconnect=False, max_reconnect_attempts=0
        )
    except Exception as e:
        print(type(e).__name__, e)
        return 3
    await nc.close()
    return 0

sys.exit(asyncio.run(main()))
"""


def connects(settings: BusSettings) -> bool:
    """Whether a client with these settings (given as the environment variables a service
    reads) gets a connection."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    for name, value in settings.model_dump().items():
        if name.startswith("nats_") and value is not None:
            env[name.upper()] = str(value)
    done = subprocess.run(
        [sys.executable, "-c", _TRY_TO_CONNECT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 3), done.stderr
    return done.returncode == 0


def tls_settings(server: NatsServer, pki: Path, **overrides: object) -> BusSettings:
    values: dict[str, object] = {
        "nats_url": f"tls://127.0.0.1:{server.port}",
        "nats_connect_timeout_s": 2,
        "nats_tls_ca_file": pki / "ca.pem",
        "nats_tls_cert_file": pki / "client.pem",
        "nats_tls_key_file": pki / "client-key.pem",
    }
    return BusSettings(**{**values, **overrides})  # type: ignore[arg-type]


async def test_services_connect_over_mutual_tls(tls_server: NatsServer, certificates: Path) -> None:
    settings = tls_settings(tls_server, certificates)
    broker = make_broker(settings, name="tls-test")
    await broker.connect()
    try:
        assert await nats_answers(broker)
        js = broker.connection.jetstream()
        await ensure_streams(js)
        ack = await js.publish("job.progress.tls", b"{}")
        assert ack.stream == "JOBS"
    finally:
        await broker.stop()
    # Plain nats-py clients (the replay CLI, the bulk import) take the same options.
    nc = await nats.connect(**connect_options(settings))
    try:
        assert nc.connected_url is not None and nc.connected_url.scheme == "tls"
        await nc.flush()
    finally:
        await nc.close()


@pytest.mark.parametrize(
    ("what", "overrides"),
    [
        ("no client certificate", {"nats_tls_cert_file": None, "nats_tls_key_file": None}),
        ("a certificate from another CA", "stranger"),
        (
            "no TLS at all",
            {
                "nats_url": "nats://127.0.0.1:{port}",
                "nats_tls_ca_file": None,
                "nats_tls_cert_file": None,
                "nats_tls_key_file": None,
            },
        ),
    ],
)
def test_without_the_right_credentials_the_server_refuses(
    tls_server: NatsServer, certificates: Path, what: str, overrides: object
) -> None:
    if overrides == "stranger":
        stranger = certificates.parent / next(
            p.name for p in certificates.parent.iterdir() if p.name.startswith("stranger")
        )
        changes: dict[str, object] = {
            "nats_tls_cert_file": stranger / "client.pem",
            "nats_tls_key_file": stranger / "client-key.pem",
        }
    else:
        assert isinstance(overrides, dict)
        changes = {
            k: v.format(port=tls_server.port) if isinstance(v, str) else v
            for k, v in overrides.items()
        }
    assert connects(tls_settings(tls_server, certificates)), "the control case"
    assert not connects(tls_settings(tls_server, certificates, **changes)), what


async def test_user_and_password_in_the_url(tmp_path: Path) -> None:
    server = NatsServer(
        tmp_path,
        accounts=False,
        extra_config='authorization { user: cadenza, password: "s3cret-pass" }\n',
    )
    server.start()
    try:
        good = BusSettings(nats_url=f"nats://cadenza:s3cret-pass@127.0.0.1:{server.port}")
        assert good.nats_where == f"nats://127.0.0.1:{server.port}", "never show the password"
        broker = make_broker(good, name="auth-test")
        await broker.connect()
        try:
            assert await nats_answers(broker)
        finally:
            await broker.stop()
        assert connects(good)
        assert not connects(BusSettings(nats_url=f"nats://cadenza:wrong@127.0.0.1:{server.port}"))
    finally:
        server.stop()


def test_settings_refuse_half_a_client_certificate(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="go together"):
        BusSettings(nats_tls_cert_file=tmp_path / "client.pem")
    several = BusSettings(nats_url="nats://a:4222, nats://u:p@b:4222,")
    assert several.nats_servers == ["nats://a:4222", "nats://u:p@b:4222"]
    assert several.nats_where == "nats://a:4222, nats://b:4222"


def test_a_credentials_file_goes_to_both_kinds_of_client(tmp_path: Path) -> None:
    """Decentralized auth needs an operator-mode server (nsc-made JWTs), not run here: this
    checks the file reaches FastStream and nats-py as their credentials option."""
    creds = tmp_path / "worker.creds"
    creds.write_text("-----BEGIN NATS USER JWT-----\n…\n------END NATS USER JWT------\n")
    settings = BusSettings(nats_creds_file=creds)
    assert connect_options(settings)["user_credentials"] == str(creds)
    # What the broker hands nats.connect: FastStream's own translation of our security.
    assert parse_security(nats_security(settings))["user_credentials"] == creds
