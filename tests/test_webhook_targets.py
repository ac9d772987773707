"""Webhook targets: strict URL parsing, IPv4 in every form a resolver reads, and the address rules."""

from __future__ import annotations

import ipaddress

import pytest

from batchsearch.jobs.webhook_targets import (
    InvalidTargetError,
    RefusedTargetError,
    checked_addresses,
    is_allowed,
    is_public,
    parse_networks,
    parse_target,
    resolve_host,
)


@pytest.mark.parametrize("url", [
    "http://[::1", "http://[::1]:99999/", "http://h:0/", "ftp://example.com/", "file:///etc/passwd", "example.com/x",
    "http:///x", "http://user:pw@example.com/", "http://example.com@127.0.0.1/", "http://127.0.0.1\\@example.com/",
    "http://exa mple.com/", "http://example.com/\n", "http://1.2.3.4.5/", "http://256.1.1.1/", "http://foo.123/",
    "http://0x100.1.1.1/", "http://1.16777216/", "http://4294967296/", "http://%31%32%37.0.0.1/",
    "http://[fe80::1%25eth0]/", "http://-bad-.example.com/", "http://" + "a" * 64 + ".com/",
])
def test_invalid_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidTargetError):
        parse_target(url)


@pytest.mark.parametrize(("url", "address"), [
    ("http://2130706433/", "127.0.0.1"), ("http://0x7f000001/", "127.0.0.1"), ("http://0x7f.1/", "127.0.0.1"),
    ("http://127.1/", "127.0.0.1"), ("http://127.0.1/", "127.0.0.1"), ("http://017700000001/", "127.0.0.1"),
    ("http://0x0a.0x0.0x0.0x1./", "10.0.0.1"), ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),
    ("http://[::1]:8080/x", "::1"), ("http://8.8.8.8/", "8.8.8.8"),
])
def test_ip_literals_in_any_form_are_read_as_the_address_they_mean(url: str, address: str) -> None:
    assert parse_target(url).ip == ipaddress.ip_address(address)


def test_a_name_keeps_its_port_path_and_host_header() -> None:
    target = parse_target("HTTPS://Hooks.Example.com:8443/a/b?c=d")
    assert (target.host, target.port, target.ip) == ("hooks.example.com", 8443, None)
    assert target.host_header == "hooks.example.com:8443" and target.url.raw_path == b"/a/b?c=d"
    assert parse_target("https://example.com/").host_header == "example.com"
    assert parse_target("http://[::1]:81/").host_header == "[::1]:81"
    assert parse_target("http://bücher.de/").host == "xn--bcher-kva.de"


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.255.0.9", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "fe80::1",
    "fc00::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "ff0e::1", "100.64.0.1", "192.0.2.1", "198.18.0.1",
    "240.0.0.1", "255.255.255.255", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:7f00:1::1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1
])
def test_special_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    assert not is_allowed(ipaddress.ip_address(address), ())


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(ipaddress.ip_address(address)) and is_allowed(ipaddress.ip_address(address), ())


def test_the_allowlist_admits_its_networks_only() -> None:
    allowed = parse_networks(["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"])
    assert is_allowed(ipaddress.ip_address("127.0.0.1"), allowed)
    assert is_allowed(ipaddress.ip_address("::ffff:127.0.0.1"), allowed)  # mapped: the IPv4 address counts
    assert is_allowed(ipaddress.ip_address("10.9.9.9"), allowed) and is_allowed(ipaddress.ip_address("fd00::5"), allowed)
    assert not is_allowed(ipaddress.ip_address("127.0.0.2"), allowed)
    assert not is_allowed(ipaddress.ip_address("::1"), allowed)
    assert not is_allowed(ipaddress.ip_address("169.254.169.254"), allowed)


@pytest.mark.parametrize("value", ["localhost", "10.0.0.0/33", "not a network", ""])
def test_a_bad_allowlist_entry_names_the_setting(value: str) -> None:
    with pytest.raises(ValueError, match="batch_webhook_allowed_networks"):
        parse_networks([value])


def test_every_resolved_address_must_be_allowed() -> None:
    answers = {"public.test": ["93.184.216.34"], "mixed.test": ["93.184.216.34", "10.0.0.1"],
               "loop.test": ["127.0.0.1"], "none.test": []}

    def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    assert checked_addresses(parse_target("http://public.test/"), (), resolve) == [
        ipaddress.ip_address("93.184.216.34")]
    for name in ("mixed.test", "loop.test", "none.test"):
        with pytest.raises(RefusedTargetError):
            checked_addresses(parse_target(f"http://{name}/"), (), resolve)
    assert checked_addresses(parse_target("http://loop.test/"), parse_networks(["127.0.0.0/8"]), resolve) == [
        ipaddress.ip_address("127.0.0.1")]


def test_literals_are_checked_without_dns_and_names_through_the_real_resolver() -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError("an IP literal needs no DNS")

    with pytest.raises(RefusedTargetError):
        checked_addresses(parse_target("http://2130706433/"), (), no_dns)
    with pytest.raises(RefusedTargetError):
        checked_addresses(parse_target("http://localhost/"), (), resolve_host)
    loopback = {ipaddress.ip_address(a) for a in resolve_host("localhost", 80)}
    assert loopback and all(a.is_loopback for a in loopback)


def test_a_bad_allowlist_entry_is_refused_when_settings_load() -> None:
    import pydantic

    from batchsearch.config import Settings

    assert Settings(batch_webhook_allowed_networks=["10.0.0.0/8", "::1"]).batch_webhook_allowed_networks
    with pytest.raises(pydantic.ValidationError, match="batch_webhook_allowed_networks"):
        Settings(batch_webhook_allowed_networks=["localhost"])
