"""Sending a signed event to a customer's endpoint, and refusing endpoints that point inside our network.

A target must be https and resolve only to public addresses: never loopback, private, link-local (the
cloud metadata service lives there), shared, reserved or multicast ones, nor an IPv6 form that carries such
an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo). The check runs when a delivery is sent, on one
DNS answer (a name may point elsewhere than when it was saved), and the connection goes to exactly the
addresses checked: the name is not resolved again, so a name that rebinds between two lookups cannot reach
inside. The URL, the Host header and TLS (SNI, certificate) stay on the name. Redirects are not followed
and proxy settings from the environment do not apply. Outside production, loopback and plain http are
allowed, so tests and `make run` can target a local receiver.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Any

import httpcore2
import httpx2

from connectors import http

_IPV4_COMPATIBLE = IPv6Network("::/96")  # ::a.b.c.d (deprecated, still parsed and routed by some stacks)
_NAT64 = IPv6Network("64:ff9b::/96")
_LOCAL_NAT64 = IPv6Network("64:ff9b:1::/48")


class TargetNotAllowed(Exception):
    pass


@dataclass(frozen=True)
class Answer:
    status_code: int | None  # None: no answer (refused, timed out)
    error: str | None


def carried_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 form stands for (where its packets end up), if it is one of those forms."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):  # :: and ::1 are IPv6's own
        return IPv4Address(int(ip) & 0xFFFF_FFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client; the server only relays
    return None


def is_allowed_address(address: str, *, allow_local: bool) -> bool:
    """Whether a delivery may connect to this address (as getaddrinfo gives it, maybe with a %scope)."""
    ip: IPv4Address | IPv6Address = ip_address(address.split("%", 1)[0])
    if isinstance(ip, IPv6Address):
        if ip in _LOCAL_NAT64:
            return False  # a site's own translator: where its IPv4 sits depends on the site's prefix length
        ip = carried_ipv4(ip) or ip
    if allow_local and ip.is_loopback:
        return True
    site_local = isinstance(ip, IPv6Address) and ip.is_site_local
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or site_local)


def allowed_scheme(scheme: str, *, allow_local: bool) -> bool:
    """The one https rule: an endpoint is https, or plain http where local targets are allowed."""
    return scheme == "https" or (allow_local and scheme == "http")


def checked_addresses(url: str, *, allow_local: bool) -> list[str]:
    """The addresses the URL's host resolves to (one lookup), in the resolver's order, all of them allowed;
    else TargetNotAllowed, whose message may be shown to the customer and so never names an address."""
    try:
        parsed = httpx2.URL(url)
    except httpx2.InvalidURL:
        raise TargetNotAllowed("the endpoint's URL is not valid") from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise TargetNotAllowed("the endpoint's URL is not valid")
    if not allowed_scheme(parsed.scheme, allow_local=allow_local):
        raise TargetNotAllowed("the endpoint must be https")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise TargetNotAllowed("the endpoint has no host")
    try:
        answers = socket.getaddrinfo(
            host, parsed.port or (443 if parsed.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as error:
        raise TargetNotAllowed(f"the endpoint's host does not resolve ({error})") from None
    addresses = list(dict.fromkeys(str(answer[4][0]) for answer in answers))
    if not addresses:
        raise TargetNotAllowed("the endpoint's host does not resolve")
    if not all(is_allowed_address(address, allow_local=allow_local) for address in addresses):
        raise TargetNotAllowed("the endpoint's host resolves to a non-public address")
    return addresses


def check_target(url: str, *, allow_local: bool) -> None:
    """Raises TargetNotAllowed for a URL a delivery must not reach."""
    checked_addresses(url, allow_local=allow_local)


class _PinnedBackend(httpcore2.NetworkBackend):
    """Connects to the checked addresses, in order while they refuse, within one connect deadline."""

    def __init__(self, host: str, addresses: Sequence[str]) -> None:
        self.host = host
        self.addresses = addresses
        self.system = httpcore2.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        if host != self.host:
            raise httpcore2.ConnectError("only the checked host may be reached")
        deadline = None if timeout is None else time.monotonic() + timeout
        failure: Exception = httpcore2.ConnectError("no address to connect to")
        for address in self.addresses:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise httpcore2.ConnectTimeout("timed out")
            try:
                return self.system.connect_tcp(address, port, left, local_address, socket_options)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as error:
                failure = error
        raise failure


def deliver(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_local: bool) -> Answer:
    """One attempt: resolve once, check every address, and POST to those addresses only (no redirects).
    Raises TargetNotAllowed before anything is sent; otherwise the answer's status, or why there was none."""
    addresses = checked_addresses(url, allow_local=allow_local)
    backend = _PinnedBackend(httpx2.URL(url).raw_host.decode("ascii"), addresses)
    try:
        with http.pinned_client(timeout, backend) as client:
            response = client.post(url, content=body, headers=headers, follow_redirects=False)
        return Answer(response.status_code, None)
    except httpx2.TimeoutException:
        return Answer(None, f"no answer within {timeout:g} s")
    except http.HTTPError as error:
        return Answer(None, f"{type(error).__name__}: {error}"[:500])
