"""The spool's replay uses the OTLP exporter's own TLS settings (issue 18).

A private certificate authority signs an HTTPS receiver's certificate; the exporter trusts it
through its certificate file (what OTEL_EXPORTER_OTLP_CERTIFICATE sets). The live export
reaches the receiver, and so must a replayed batch. In process: the receiver is a thread.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from claude_session.proxy import spool


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    signer: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(signer, hashes.SHA256())


class Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        Receiver.bodies.append(self.rfile.read(length))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def https_receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An OTLP/HTTP receiver on 127.0.0.1 whose certificate a private CA signed; (endpoint, CA file)."""
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("claude-session test CA", ca_key, None, ca_key)
    server = _certificate("127.0.0.1", server_key, ca, ca_key)
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Receiver.bodies = []
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/v1/traces", ca_file
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_a_replayed_batch_reaches_phoenix_behind_a_private_ca(
    https_receiver: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests (the exporter's transport) lets these variables override a session's own CA file;
    # this machine sets them for its proxy. Without them the exporter's certificate file rules.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    endpoint, ca_file = https_receiver
    exporter = OTLPSpanExporter(endpoint=endpoint, certificate_file=str(ca_file))
    send = spool.exporter_sender(exporter, endpoint, {})
    assert send(b"spooled batch") is spool.Sent.OK
    assert Receiver.bodies == [b"spooled batch"]
    exporter.shutdown()


def test_a_sender_without_the_exporters_tls_settings_cannot_replay(https_receiver: tuple[str, Path]) -> None:
    # What the replay did before: its own HTTP client, the system's CAs only.
    endpoint, _ = https_receiver
    assert spool.http_sender(endpoint, {})(b"spooled batch") is spool.Sent.RETRY
    assert Receiver.bodies == []
