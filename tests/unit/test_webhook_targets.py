"""Which addresses a webhook delivery may connect to (connectors/webhooks.py): IPv6 forms that carry an IPv4
address are judged by that address, and a refusal never names the address it found."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from connectors.webhooks import TargetNotAllowed, carried_ipv4, checked_addresses, is_allowed_address


def teredo(server: str, client: str) -> str:
    """A Teredo address (RFC 4380): 2001:0::/32, the server, flags and port, then the client obfuscated."""
    obfuscated_client = int(IPv4Address(client)) ^ 0xFFFF_FFFF
    value = (0x2001_0000 << 96) | (int(IPv4Address(server)) << 64) | (0x8000_FFFF << 32) | obfuscated_client
    return str(IPv6Address(value))


def test_the_teredo_helper_builds_what_ipaddress_reads() -> None:
    assert IPv6Address(teredo("65.54.227.120", "127.0.0.1")).teredo == (
        IPv4Address("65.54.227.120"),
        IPv4Address("127.0.0.1"),
    )


INSIDE = [
    "127.0.0.1",
    "10.1.2.3",
    "192.168.0.10",
    "169.254.169.254",  # the cloud metadata service
    "100.64.0.1",  # shared (carrier-grade NAT)
    "0.0.0.0",  # noqa: S104
    "224.0.0.1",
    "240.0.0.1",
    "::1",
    "::",
    "fe80::1%eth0",
    "fc00::1",
    "fec0::1",  # site-local (deprecated, still routed by some networks)
    "ff02::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT): in ::/8, reserved
    "::127.0.0.1",  # IPv4-compatible
    "::10.0.0.1",
    "::a9fe:a9fe",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::7f00:1",
    "64:ff9b::10.0.0.1",
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64
    "64:ff9b:1::808:808",  # refused whatever it carries: the site decides where the IPv4 sits
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "2002:7f00:1::1",
    "2002:a00:1::",
    teredo("65.54.227.120", "127.0.0.1"),
    teredo("65.54.227.120", "169.254.169.254"),
    teredo("65.54.227.120", "10.0.0.1"),
]

PUBLIC = [
    "8.8.8.8",
    "93.184.215.14",
    "2606:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of a public address
    "2002:808:808::",  # 6to4 of a public address
    "2002:808:808:1::1",
]


@pytest.mark.parametrize("address", INSIDE)
def test_inside_addresses_and_forms_carrying_one_are_refused(address: str) -> None:
    assert not is_allowed_address(address, allow_local=False)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_and_forms_carrying_one_are_allowed(address: str) -> None:
    assert is_allowed_address(address, allow_local=False)


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("::127.0.0.1", "127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("2002:a9fe:a9fe::", "169.254.169.254"),
        (teredo("65.54.227.120", "192.168.1.2"), "192.168.1.2"),
        ("2606:4700::1111", None),
        ("::1", None),
        ("::", None),
    ],
)
def test_the_ipv4_an_ipv6_form_carries(address: str, carried: str | None) -> None:
    assert carried_ipv4(IPv6Address(address)) == (IPv4Address(carried) if carried else None)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1", "::127.0.0.1"])
def test_outside_production_loopback_is_allowed_in_every_form(address: str) -> None:
    assert is_allowed_address(address, allow_local=True)


@pytest.mark.parametrize(
    "address", ["10.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::", "64:ff9b:1::7f00:1"]
)
def test_outside_production_other_inside_addresses_are_still_refused(address: str) -> None:
    assert not is_allowed_address(address, allow_local=True)


@pytest.mark.parametrize(
    "url", ["https://10.1.2.3/hooks", "https://[64:ff9b::a9fe:a9fe]/latest", "https://[::ffff:192.168.7.9]:8443/"]
)
def test_a_refusal_does_not_name_the_address_it_found(url: str) -> None:
    """The reason is shown to the customer (a delivery's lastError): it must not map our network."""
    with pytest.raises(TargetNotAllowed) as refused:
        checked_addresses(url, allow_local=False)

    assert str(refused.value) == "the endpoint's host resolves to a non-public address"


def test_a_public_literal_is_checked_without_a_lookup() -> None:
    assert checked_addresses("https://[2606:4700::1111]:8443/hooks", allow_local=False) == ["2606:4700::1111"]
    assert checked_addresses("https://8.8.8.8/hooks", allow_local=False) == ["8.8.8.8"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://8.8.8.8/hooks", "the endpoint must be https"),
        ("ftp://8.8.8.8/hooks", "the endpoint must be https"),
        ("https:///hooks", "the endpoint has no host"),
        ("https://8.8.8.8:99999/hooks", "the endpoint's URL is not valid"),
        ("https://8.8.8.8:0/hooks", "the endpoint's URL is not valid"),
        ("https://[::1/hooks", "the endpoint's URL is not valid"),
    ],
)
def test_urls_a_delivery_cannot_take(url: str, reason: str) -> None:
    with pytest.raises(TargetNotAllowed, match=reason):
        checked_addresses(url, allow_local=False)
