"""A webhook delivery connects to exactly the addresses it checked (connectors/webhooks.py), against real local
receivers (plain and TLS, pytest-httpserver). The system resolver is replaced by a fake DNS for names of the
test's own, so a name can answer differently on its second lookup, as a rebinding DNS server does; any lookup,
ours or the HTTP client's, goes through it."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pytest_httpserver import HTTPServer

from connectors.webhooks import TargetNotAllowed, deliver

NAME = "hooks.customer.test"  # .test never resolves for real (RFC 6761)
PUBLIC = "93.184.215.14"
BODY = b'{"type":"business.updated"}'
HEADERS = {"Content-Type": "application/json", "webhook-id": "msg_1"}
Authority = Callable[[str], ssl.SSLContext]  # a server's TLS context for a name, from a trusted CA


class FakeDns:
    """socket.getaddrinfo for the names in `answers`: each lookup takes the next answer, the last one repeats.
    Anything else (literal addresses included) is resolved as usual."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []
        self.system = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        if host not in self.answers:
            return self.system(host, port, family, type, proto, flags)
        self.lookups.append(host)
        queue = self.answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port), 0, 0))
            if ":" in address
            else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))
            for address in addresses
        ]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


def _cert_builder(subject: x509.Name, issuer: x509.Name, public_key: Any) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@pytest.fixture
def authority(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Authority:
    """A certificate authority of the test's own, trusted as an operator trusts one (SSL_CERT_FILE); yields
    a function that writes a server certificate for a name and returns the server's TLS context."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Switchboard test CA")])
    ca = (
        _cert_builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))

    def server_context(name: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            _cert_builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), ca_name, key.public_key())
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        chain, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
        chain.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, key_file)
        return context

    return server_context


class Receiver:
    """A customer's endpoint on 127.0.0.1 (TLS when given a context), noting each request and the TLS server
    name each client asked for."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.server_names: list[str | None] = []
        if ssl_context is not None:
            ssl_context.sni_callback = lambda _socket, name, _context: self.server_names.append(name)
        self.server = HTTPServer(host="127.0.0.1", port=0, ssl_context=ssl_context)
        self.server.expect_request("/hooks", method="POST").respond_with_data("ok")
        self.server.start()
        self.port = self.server.port

    def url(self, host: str = NAME) -> str:
        return f"{'https' if self.server.ssl_context else 'http'}://{host}:{self.port}/hooks"

    @property
    def requests(self) -> list[Any]:
        return [request for request, _ in self.server.log]

    def stop(self) -> None:
        self.server.clear()
        self.server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    plain = Receiver()
    yield plain
    plain.stop()


@pytest.fixture
def tls_receiver(authority: Authority) -> Iterator[Receiver]:
    secure = Receiver(authority(NAME))
    yield secure
    secure.stop()


def test_a_name_that_rebinds_to_loopback_after_the_check_never_reaches_it(dns: FakeDns, tls_receiver: Receiver) -> None:
    """Public when checked, loopback on any later lookup: the delivery goes to the public address it checked
    (nothing answers there: no network in tests), never to the receiver."""
    dns.answers[NAME] = [[PUBLIC], ["127.0.0.1"]]

    answer = deliver(tls_receiver.url(), BODY, HEADERS, timeout=2, allow_local=False)

    assert tls_receiver.requests == []
    assert dns.lookups == [NAME]
    assert answer.status_code is None


def test_a_delivery_connects_to_the_checked_address_and_keeps_the_name_as_host(
    dns: FakeDns, receiver: Receiver
) -> None:
    dns.answers[NAME] = [["127.0.0.1"], ["10.9.9.9"]]  # a second lookup would fail to connect

    answer = deliver(receiver.url(), BODY, HEADERS, timeout=5, allow_local=True)

    assert (answer.status_code, answer.error) == (200, None)
    (request,) = receiver.requests
    assert request.headers["Host"] == f"{NAME}:{receiver.port}"
    assert request.get_data() == BODY
    assert dns.lookups == [NAME]


def test_tls_is_verified_against_the_name_while_connecting_to_the_checked_address(
    dns: FakeDns, tls_receiver: Receiver
) -> None:
    dns.answers[NAME] = [["127.0.0.1"]]

    answer = deliver(tls_receiver.url(), BODY, HEADERS, timeout=5, allow_local=True)

    assert (answer.status_code, answer.error) == (200, None)
    assert tls_receiver.server_names == [NAME]
    assert tls_receiver.requests[0].headers["Host"] == f"{NAME}:{tls_receiver.port}"


def test_a_certificate_for_another_name_is_refused(dns: FakeDns, authority: Authority) -> None:
    """Connecting to a pinned address does not loosen verification: the certificate must name the URL's host."""
    other = Receiver(authority("other.customer.test"))
    try:
        dns.answers[NAME] = [["127.0.0.1"]]

        answer = deliver(other.url(), BODY, HEADERS, timeout=5, allow_local=True)

        assert answer.status_code is None
        assert "CERTIFICATE_VERIFY_FAILED" in (answer.error or "")
        assert other.requests == []
    finally:
        other.stop()


def test_the_checked_addresses_are_tried_in_order_while_they_refuse(dns: FakeDns, receiver: Receiver) -> None:
    dns.answers[NAME] = [["127.0.0.2", "127.0.0.1"]]  # nothing listens on 127.0.0.2: refused

    answer = deliver(receiver.url(), BODY, HEADERS, timeout=5, allow_local=True)

    assert answer.status_code == 200
    assert len(receiver.requests) == 1


def test_one_inside_address_among_the_answers_refuses_the_delivery(dns: FakeDns, receiver: Receiver) -> None:
    dns.answers[NAME] = [["127.0.0.1", "169.254.169.254"]]

    with pytest.raises(TargetNotAllowed) as refused:
        deliver(receiver.url(), BODY, HEADERS, timeout=5, allow_local=True)

    assert str(refused.value) == "the endpoint's host resolves to a non-public address"  # not which one
    assert receiver.requests == []


def test_proxy_settings_in_the_environment_do_not_apply_to_deliveries(
    dns: FakeDns, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = Receiver()
    try:
        for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy.port}")
        for variable in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(variable, raising=False)
        dns.answers[NAME] = [["127.0.0.1"]]

        answer = deliver(receiver.url(), BODY, HEADERS, timeout=5, allow_local=True)

        assert answer.status_code == 200
        assert len(receiver.requests) == 1
        assert proxy.server.log == []
    finally:
        proxy.stop()
