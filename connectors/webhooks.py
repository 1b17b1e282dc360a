"""Sending a signed event to a customer's endpoint, and refusing endpoints that point inside our network.

A target must be https and resolve only to public addresses: never loopback, private, link-local (the
cloud metadata service lives there), shared, reserved or multicast ones. The check runs when a delivery is
sent, after DNS (a name may point elsewhere than when it was saved), and redirects are not followed.
Outside production, loopback and plain http are allowed, so tests and `make run` can target a local
receiver.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2

from connectors import http


class TargetNotAllowed(Exception):
    pass


@dataclass(frozen=True)
class Answer:
    status_code: int | None  # None: no answer (refused, timed out)
    error: str | None


def check_target(url: str, *, allow_local: bool) -> None:
    """Raises TargetNotAllowed for a URL a delivery must not reach."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (allow_local and parts.scheme == "http"):
        raise TargetNotAllowed("the endpoint must be https")
    if not parts.hostname:
        raise TargetNotAllowed("the endpoint has no host")
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except (socket.gaierror, UnicodeError) as error:
        raise TargetNotAllowed(f"the endpoint's host does not resolve ({error})") from None
    for address in resolved:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if allow_local and ip.is_loopback:
            continue
        if not ip.is_global or ip.is_multicast:
            raise TargetNotAllowed(f"the endpoint resolves to a non-public address ({ip})")


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """One attempt: the answer's status, or why there was none. Redirects are not followed."""
    try:
        with http.client(timeout) as client:
            response = client.post(url, content=body, headers=headers, follow_redirects=False)
        return Answer(response.status_code, None)
    except httpx2.TimeoutException:
        return Answer(None, f"no answer within {timeout:g} s")
    except http.HTTPError as error:
        return Answer(None, f"{type(error).__name__}: {error}"[:500])
