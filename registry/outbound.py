"""Outbound HTTP(S) requests to user-given URLs (`source_url`) that cannot reach inside the network (no SSRF).

A URL is checked before any byte is sent: http/https only, the host is resolved once, and every address it
resolves to must be public (not loopback, private, link-local, multicast, reserved or unspecified, in IPv4 or
IPv6, including IPv4 embedded in IPv6), unless `MODELHUB_SOURCE_URL_ALLOW` names the host or a network that
holds the address. The request then goes to the address that was checked (`pinned_session`): the URL is
rewritten to the IP, Host and TLS SNI/certificate checks keep the name, so a DNS server that answers
differently the second time (rebinding) is never asked again. Redirects are followed here, hop by hop, each
hop checked like the first (`open_checked`).
"""

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from access.redaction import redact_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses the host resolves to, as text. Tests pass their own to point a name anywhere.
Resolver = Callable[[str, int], list[str]]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")

# Every entry of IANA's IPv4 and IPv6 Special-Purpose Address Registries (as of 2025), refused whatever
# `ipaddress` says of it: its flags lag the registries (it calls site-local fec0::/10 global, and several
# anycast and documentation ranges too). Ranges that carry an IPv4 address (IPv4-mapped, NAT64's 64:ff9b::/96,
# 6to4) are judged as that address before this table is consulted.
SPECIAL_PURPOSE: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(network), words)
    for network, words in (
        ("0.0.0.0/8", "'this network'"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata lives there)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved for IETF protocols"),
        ("192.0.2.0/24", "documentation"),
        ("192.31.196.0/24", "AS112 anycast"),
        ("192.52.193.0/24", "AMT anycast"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("192.175.48.0/24", "AS112 anycast"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("240.0.0.0/4", "reserved"),
        ("255.255.255.255/32", "broadcast"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::ffff:0:0/96", "IPv4-mapped"),
        ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
        ("100::/64", "discard-only"),
        ("100:0:0:1::/64", "dummy prefix"),
        ("2001::/23", "reserved for IETF protocols"),
        ("2001:db8::/32", "documentation"),
        ("2620:4f:8000::/48", "AS112 anycast"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing"),
        ("fc00::/7", "private (unique-local)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
    )
)


class OutboundRefused(ValueError):
    """The URL may not be fetched; the message says why, in words a user can act on."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused(f"The host {host} cannot be resolved ({exc}).") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Allowlist:
    """Hosts (exact names, case-insensitive) and networks that may be fetched although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, items: Iterable[str]) -> "Allowlist":
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for item in items:
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.replace("[", "").replace("]", ""), strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    @classmethod
    def from_settings(cls) -> "Allowlist":
        return cls.parse(settings.SOURCE_URL_ALLOW)

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def refusal_reason(address: IPAddress) -> str:
    """Why an address is not public ("" when it is). IPv4 carried inside IPv6 is judged as the IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal_reason(embedded)
    for flag, words in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local (cloud metadata lives there)"),
        ("is_multicast", "multicast"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
    ):
        if getattr(address, flag):
            return words
    if not address.is_global:
        return "not globally routable"
    for network, words in SPECIAL_PURPOSE:
        if address in network:
            return words
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST_V6:
        return "outside IPv6 global unicast (2000::/3)"
    return ""


@dataclass(frozen=True)
class Target:
    """A checked URL and the address its connection must go to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str

    @property
    def pinned_url(self) -> str:
        """The URL with the checked IP in place of the host name (what the connection pool dials)."""
        parts = urlsplit(self.url)
        ip = f"[{self.address}]" if ":" in self.address else self.address
        return urlunsplit((parts.scheme, f"{ip}:{self.port}", parts.path or "/", parts.query, ""))

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


def check_url(
    url: str,
    *,
    allow: Allowlist | None = None,
    resolver: Resolver | None = None,
    need_address: bool = True,
) -> Target:
    """Parse and resolve `url`; return where to connect, or raise OutboundRefused with the reason.

    With `need_address=False` (a check before storing the URL) a host allowed by name is not resolved, and
    the Target's address is "".
    """
    allow = Allowlist.from_settings() if allow is None else allow
    resolver = resolver or system_resolver
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"The URL {redact_url(url)!r} is malformed ({exc}).") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise OutboundRefused(f"Only http and https URLs can be fetched, not {scheme or 'a relative URL'!r}.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise OutboundRefused(f"The URL {redact_url(url)!r} has no host.")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("URLs with credentials (user:password@host) are not fetched.")
    port = port or (443 if scheme == "https" else 80)
    host_allowed = host.lower() in allow.hosts
    if host_allowed and not need_address:
        return Target(url=url, scheme=scheme, host=host, port=port, address="")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    texts = [str(literal)] if literal is not None else resolver(host, port)
    if not texts:
        raise OutboundRefused(f"The host {host} resolves to no address.")
    for text in texts:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        reason = refusal_reason(address)
        if reason and not host_allowed and not allow.allows_address(address):
            shown = host if literal is not None else f"{host} (resolves to {address})"
            raise OutboundRefused(
                f"The address of {shown} is {reason}; source_url must point to a public server. An operator "
                "can allow it with MODELHUB_SOURCE_URL_ALLOW (host names and CIDRs)."
            )
    return Target(url=url, scheme=scheme, host=host, port=port, address=texts[0].split("%", 1)[0])


class _PinnedAdapter(HTTPAdapter):
    """Dials the URL's (IP) host, but verifies TLS and sends SNI for `tls_host`."""

    def __init__(self, tls_host: str) -> None:
        self._tls_host = tls_host
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = self._tls_host
            pool_kwargs["assert_hostname"] = self._tls_host
        return host_params, pool_kwargs


def pinned_get(
    session: requests.Session, target: Target, *, headers: dict[str, str], timeout: tuple[float, float]
) -> requests.Response:
    """GET the target at its checked address (no redirect following, no proxies from the environment)."""
    session.trust_env = False  # a proxy would do its own DNS lookup of the name
    prefix = f"{target.scheme}://"
    previous = session.adapters.get(prefix)
    session.mount(prefix, _PinnedAdapter(target.host))
    if isinstance(previous, _PinnedAdapter):
        previous.close()  # its responses (an earlier hop or attempt) are closed by now
    return session.get(
        target.pinned_url,
        headers={**headers, "Host": target.host_header},
        stream=True,
        timeout=timeout,
        allow_redirects=False,
    )


def open_checked(
    session: requests.Session,
    url: str,
    *,
    headers: dict[str, str],
    timeout: tuple[float, float],
    max_redirects: int = 5,
    allow: Allowlist | None = None,
    resolver: Resolver | None = None,
) -> requests.Response:
    """GET `url`, following redirects ourselves: each hop is checked (OutboundRefused) and pinned.

    Returns the first response that is not a redirect (streamed: the caller closes it).
    """
    current = url
    for _ in range(max_redirects + 1):
        target = check_url(current, allow=allow, resolver=resolver)
        response = pinned_get(session, target, headers=headers, timeout=timeout)
        location = response.headers.get("Location")
        if response.status_code not in REDIRECT_STATUSES or not location:
            return response
        response.close()
        current = urljoin(current, location)
    raise OutboundRefused(f"{redact_url(url)} redirected more than {max_redirects} times.")
