"""Webhook targets: strict URL parsing and the address rules that keep webhooks from reaching private networks.

Pure except `resolve_host` (the DNS edge). A webhook goes to public addresses only: loopback, private,
link-local, multicast, reserved, unspecified and shared addresses (also inside IPv4-mapped, NAT64, 6to4 and
Teredo IPv6 addresses) are refused unless an operator lists their network in `batch_webhook_allowed_networks`.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

DEFAULT_PORTS = {"http": 80, "https": 443}
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
HOST_NAME = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*\.?$")
NUMBER = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")


class InvalidTargetError(ValueError):
    """A webhook URL that is not a plain http(s) URL with a host (the message says what is wrong)."""


class RefusedTargetError(ValueError):
    """A webhook target whose address is not allowed (loopback, private, ... and not in the allowlist)."""


@dataclass(frozen=True)
class Target:
    """A parsed webhook URL: scheme, host (a lower-case name, or an IP literal in `ip`), port and the URL."""

    url: httpx.URL
    host: str
    port: int
    ip: IPAddress | None

    @property
    def host_header(self) -> str:
        """The Host header the receiver expects (the name, with the port unless it is the default)."""
        host = f"[{self.host}]" if isinstance(self.ip, ipaddress.IPv6Address) else self.host
        return host if self.port == DEFAULT_PORTS[self.url.scheme] else f"{host}:{self.port}"


def parse_target(url: str) -> Target:
    """A webhook URL parsed strictly: http(s), a host, no user info, a valid port; IPv4 in any of the integer,
    octal or hex forms a resolver accepts (2130706433, 0x7f.1, 0177.0.0.1) is read as the address it means."""
    if FORBIDDEN_CHARACTERS.search(url):
        raise InvalidTargetError("must not contain spaces, control characters or backslashes")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise InvalidTargetError("is not a valid URL") from exc
    if parsed.scheme not in DEFAULT_PORTS:
        raise InvalidTargetError("must be an http:// or https:// URL")
    if parsed.userinfo:
        raise InvalidTargetError("must not contain user info (user:password@)")
    port = DEFAULT_PORTS[parsed.scheme] if parsed.port is None else parsed.port
    if not 1 <= port <= 65535:
        raise InvalidTargetError("has an invalid port")
    host, ip = _host(parsed.raw_host.decode("ascii", errors="replace").lower())
    return Target(url=parsed, host=host, port=port, ip=ip)


def _host(raw: str) -> tuple[str, IPAddress | None]:
    """The canonical host and its address when it is an IP literal."""
    if not raw:
        raise InvalidTargetError("has no host")
    if "%" in raw:  # percent-encoded host names and IPv6 zone ids
        raise InvalidTargetError("has an invalid host")
    if ":" in raw:  # httpx only lets bracketed IPv6 literals through with a colon in the host
        try:
            return raw, ipaddress.IPv6Address(raw)
        except ValueError as exc:
            raise InvalidTargetError("has an invalid IPv6 address") from exc
    labels = raw.rstrip(".").split(".")
    if NUMBER.match(labels[-1]):  # a host ending in a number is an IPv4 address or nothing (WHATWG URL)
        ipv4 = _ipv4(labels)
        return str(ipv4), ipv4
    if not HOST_NAME.match(raw) or len(raw) > 253:
        raise InvalidTargetError("has an invalid host name")
    return raw, None


def _ipv4(labels: Sequence[str]) -> ipaddress.IPv4Address:
    """An IPv4 address in inet_aton form: 1-4 decimal, octal (leading 0) or hex (0x) parts, the last filling
    the remaining bytes."""
    if len(labels) > 4 or not all(NUMBER.match(label) for label in labels):
        raise InvalidTargetError("has an invalid IPv4 address")
    numbers = [_number(label) for label in labels]
    last_bits = 8 * (5 - len(numbers))
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 2**last_bits:
        raise InvalidTargetError("has an invalid IPv4 address")
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value |= number << (24 - 8 * index)
    return ipaddress.IPv4Address(value)


def _number(label: str) -> int:
    """One IPv4 part: 0x.. hex, 0.. octal, else decimal."""
    try:
        if label.startswith("0x"):
            return int(label[2:] or "0", 16)
        if len(label) > 1 and label.startswith("0"):
            return int(label, 8)
        return int(label)
    except ValueError as exc:  # e.g. 09 is not octal
        raise InvalidTargetError("has an invalid IPv4 address") from exc


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The allowlist of `batch_webhook_allowed_networks` (CIDR strings); a bad entry raises naming the setting."""
    networks: list[IPNetwork] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"batch_webhook_allowed_networks: {value!r} is not a network (CIDR)") from exc
    return tuple(networks)


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, NAT64, 6to4, Teredo client), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return ip.teredo[1] if ip.teredo is not None else None


def is_public(ip: IPAddress) -> bool:
    """Whether an address is a globally routable unicast one (and so is any IPv4 address it carries)."""
    special = (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
               or ip.is_unspecified or not ip.is_global)
    inner = embedded_ipv4(ip)
    return not special and (inner is None or is_public(inner))


def is_allowed(ip: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    """Public addresses are allowed; others only inside an allowlisted network (an IPv4-mapped address counts
    as the IPv4 address it maps)."""
    candidates = [ip] + ([ip.ipv4_mapped] if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else [])
    if any(c.version == net.version and c in net for c in candidates for net in allowed):
        return True
    return is_public(ip)


def checked_addresses(target: Target, allowed: Sequence[IPNetwork], resolve: Resolver) -> list[IPAddress]:
    """Every address the target's host resolves to, all of them allowed (else RefusedTargetError): the
    addresses a delivery may connect to. OSError when the name does not resolve."""
    if target.ip is not None:
        addresses: list[IPAddress] = [target.ip]
    else:
        addresses = list(dict.fromkeys(ipaddress.ip_address(a.split("%")[0])
                                       for a in resolve(target.host, target.port)))
    if not addresses or not all(is_allowed(address, allowed) for address in addresses):
        raise RefusedTargetError("address not allowed")
    return addresses


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses of a host name (IPv4 and IPv6), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]
