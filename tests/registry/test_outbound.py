"""The SSRF guard of outbound fetches (registry/outbound.py): address rules with a resolver that points a name
anywhere, then the real fetcher against a local HTTP server, and registration through the API."""

import ipaddress
import shutil
import socket
import time

import pytest
import requests

from inference.lifecycle.fetch import FetchFailed, fetch
from registry.outbound import Allowlist, OutboundRefused, check_url, open_checked, refusal_reason
from tests.lifecycle.conftest import sha256_of
from tests.lifecycle.fileserver import FileServer, Served

NOTHING_ALLOWED = Allowlist()


def resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return list(addresses)

    resolver.asked = asked  # type: ignore[attr-defined]
    return resolver


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("169.254.169.254", "link-local"),
        ("fd00:ec2::254", "private"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address, words):
    assert words in refusal_reason(ipaddress.ip_address(address))
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(OutboundRefused, match="public server"):
        check_url(f"http://{literal}/m.zip", allow=NOTHING_ALLOWED)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert refusal_reason(ipaddress.ip_address(address)) == ""


def test_a_public_name_resolving_to_a_private_address_is_refused():
    resolver = resolving_to("93.184.215.14", "10.0.0.7")  # one bad answer among good ones is enough
    with pytest.raises(OutboundRefused, match=r"models\.example\.org \(resolves to 10\.0\.0\.7\) is private"):
        check_url("https://models.example.org/m.zip", allow=NOTHING_ALLOWED, resolver=resolver)
    assert resolver.asked == [("models.example.org", 443)]


def test_a_public_name_is_pinned_to_its_checked_address():
    target = check_url(
        "https://models.example.org:8443/a/m.zip?x=1",
        allow=NOTHING_ALLOWED,
        resolver=resolving_to("93.184.215.14"),
    )
    assert target.address == "93.184.215.14"
    assert target.pinned_url == "https://93.184.215.14:8443/a/m.zip?x=1"
    assert target.host_header == "models.example.org:8443"
    v6 = check_url("http://v6.example.org/m", allow=NOTHING_ALLOWED, resolver=resolving_to("2606:4700::1111"))
    assert v6.pinned_url == "http://[2606:4700::1111]:80/m" and v6.host_header == "v6.example.org"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("file:///etc/passwd", "Only http and https"),
        ("gopher://example.org/", "Only http and https"),
        ("ftp://example.org/m.zip", "Only http and https"),
        ("/relative/m.zip", "Only http and https"),
        ("http:///m.zip", "no host"),
        ("http://user:pw@example.org/m.zip", "credentials"),
        ("http://example.org:99999/m.zip", "malformed"),
    ],
)
def test_other_schemes_and_malformed_urls_are_refused(url, words):
    with pytest.raises(OutboundRefused, match=words):
        check_url(url, allow=NOTHING_ALLOWED, resolver=resolving_to("93.184.215.14"))


def test_an_unresolvable_name_is_refused():
    with pytest.raises(OutboundRefused, match="cannot be resolved"):
        check_url("http://no-such-host.invalid/m.zip", allow=NOTHING_ALLOWED)


def test_the_allow_list_names_hosts_and_networks():
    allow = Allowlist.parse(["Models.Internal.", "10.20.0.0/16", " ", "[fd12::]/64", "127.0.0.1"])
    assert allow.hosts == frozenset({"models.internal"})
    check_url("http://models.internal/m", allow=allow, resolver=resolving_to("10.99.0.1"))
    check_url("http://a.example.org/m", allow=allow, resolver=resolving_to("10.20.3.4"))
    check_url("http://[fd12::5]/m", allow=allow)
    check_url("http://127.0.0.1:8000/m", allow=allow)
    with pytest.raises(OutboundRefused):
        check_url("http://127.0.0.2/m", allow=allow)
    with pytest.raises(OutboundRefused):
        check_url("http://b.example.org/m", allow=allow, resolver=resolving_to("10.21.0.1"))
    # Before storing a URL, a host allowed by name need not resolve (it may be down today).
    assert (
        check_url("http://models.internal/m", allow=allow, resolver=_fail, need_address=False).address == ""
    )


def _fail(host: str, port: int) -> list[str]:
    raise OutboundRefused(f"The host {host} cannot be resolved (test).")


def test_https_pins_the_address_but_keeps_the_name_for_sni_and_certificate_checks():
    target = check_url(
        "https://models.example.org/m.zip", allow=NOTHING_ALLOWED, resolver=resolving_to("93.184.215.14")
    )
    session = requests.Session()
    from registry.outbound import _PinnedAdapter

    adapter = _PinnedAdapter(target.host)
    prepared = requests.Request("GET", target.pinned_url, headers={"Host": target.host_header}).prepare()
    host_params, pool_kwargs = adapter.build_connection_pool_key_attributes(prepared, True)
    assert host_params["host"] == "93.184.215.14"
    assert pool_kwargs["server_hostname"] == pool_kwargs["assert_hostname"] == "models.example.org"
    session.close()


# --- against a real HTTP server on 127.0.0.1 -------------------------------------------------------------


@pytest.fixture
def source():  # type: ignore[no-untyped-def]
    server = FileServer().start()
    yield server
    server.stop()


def test_the_connection_goes_to_the_checked_address_with_the_name_in_host(source):
    """The name resolves (in our resolver) to 127.0.0.1; a second, system DNS lookup would fail."""
    url = source.serve("/m.zip", Served(b"zip bytes"))
    named = url.replace("127.0.0.1", "models.nowhere.invalid")
    resolver = resolving_to("127.0.0.1")
    with requests.Session() as session:
        response = open_checked(
            session,
            named,
            headers={},
            timeout=(5, 5),
            allow=Allowlist.parse(["127.0.0.1"]),
            resolver=resolver,
        )
        assert response.status_code == 200 and response.content == b"zip bytes"
    port = int(url.split(":")[2].split("/")[0])
    assert resolver.asked == [("models.nowhere.invalid", port)]
    assert source.requests_for("/m.zip")[0]["Host"] == f"models.nowhere.invalid:{port}"


def test_an_allowed_host_is_fetched(source, tmp_path, settings):
    settings.SOURCE_URL_ALLOW = ["127.0.0.1"]
    url = source.serve("/m.zip", Served(b"x" * 5000))
    result = fetch(url, tmp_path / "m.zip", expected_sha256=sha256_of(b"x" * 5000))
    assert result.size == 5000


@pytest.mark.parametrize("host", ["169.254.169.254", "127.0.0.1", "10.0.0.1", "[::1]", "[fd00:ec2::254]"])
def test_fetch_refuses_non_public_hosts_without_connecting(host, tmp_path, settings):
    settings.SOURCE_URL_ALLOW = []
    with pytest.raises(FetchFailed, match="Refused to fetch .* public server"):
        fetch(f"http://{host}/latest/meta-data/", tmp_path / "m.zip", retries=0, connect_timeout=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "location",
    ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.2:{port}/m.zip", "http://10.0.0.1/m.zip"],
)
def test_a_redirect_to_a_private_address_is_refused(source, tmp_path, settings, location):
    settings.SOURCE_URL_ALLOW = ["127.0.0.1"]  # the first hop is allowed, the second is not
    port = source.httpd.server_address[1]
    source.serve("/m.zip", Served(b"secret"))
    url = source.serve("/go", Served(b"", redirect_to=location.format(port=port)))
    with pytest.raises(FetchFailed, match="Refused to fetch .* public server"):
        fetch(url, tmp_path / "m.zip", retries=0, connect_timeout=1)
    assert source.requests_for("/m.zip") == []


def test_an_allowed_redirect_is_followed_and_checked_again(source, tmp_path, settings):
    settings.SOURCE_URL_ALLOW = ["127.0.0.1"]
    url = source.serve("/m.zip", Served(b"payload"))
    first = source.serve("/go", Served(b"", redirect_to="/m.zip"))
    assert fetch(first, tmp_path / "m.zip").path.read_bytes() == b"payload"
    assert url.endswith("/m.zip")


def test_redirect_loops_stop(source, tmp_path, settings):
    settings.SOURCE_URL_ALLOW = ["127.0.0.1"]
    url = source.serve("/loop", Served(b"", redirect_to="/loop"))
    with pytest.raises(FetchFailed, match="redirected more than"):
        fetch(url, tmp_path / "m.zip", retries=0)


def test_size_limit_stops_and_removes_the_file(source, tmp_path, settings):
    settings.SOURCE_URL_ALLOW = ["127.0.0.1"]
    url = source.serve("/big.zip", Served(b"x" * 100_000))
    with pytest.raises(FetchFailed, match="larger than the limit of 1000 bytes"):
        fetch(url, tmp_path / "m.zip", max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


def test_time_limit_stops_a_slow_download(source, tmp_path, settings):
    settings.SOURCE_URL_ALLOW = ["127.0.0.1"]
    url = source.serve("/slow.zip", Served(b"x" * 200_000, rate=50_000))
    with pytest.raises(FetchFailed, match="took longer than the limit"):
        fetch(url, tmp_path / "m.zip", max_seconds=0.5)


# --- registration: the spec's 422 ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8000/m.zip",
        "http://10.1.2.3/m.zip",
        "http://[::1]/m.zip",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
        "http://localhost/m.zip",
        "file:///etc/passwd",
    ],
)
def test_registration_refuses_non_public_source_urls(client, settings, url):
    settings.SOURCE_URL_ALLOW = []
    response = client.post(
        "/models", {"name": "ssrf", "version": "1", "source_url": url}, content_type="application/json"
    )
    assert response.status_code == 422, response.content
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "source_url"]
    assert error["type"] in ("value_error.url_refused", "value_error")


@pytest.mark.django_db
def test_registration_accepts_an_allowed_host_and_update_checks_too(client, settings):
    settings.SOURCE_URL_ALLOW = ["127.0.0.1"]
    response = client.post(
        "/models",
        {"name": "ok", "version": "1", "source_url": "http://127.0.0.1:9/m.zip"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    model_id = response.content.decode()
    response = client.put(
        f"/models/{model_id}", {"source_url": "http://169.254.169.254/"}, content_type="application/json"
    )
    assert response.status_code == 422 and "link-local" in response.json()["detail"][0]["msg"]


def test_system_resolver_answers_loopback_for_localhost():
    from registry.outbound import system_resolver

    assert set(system_resolver("localhost", 80)) <= {"127.0.0.1", "::1"}
    assert socket.gethostbyname("localhost") == "127.0.0.1"


# --- HTTPS: connect to the checked IP, verify the certificate and send SNI for the name -------------------


def _https_server(tmp_path, name: str):  # type: ignore[no-untyped-def]
    import ssl
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    seen: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            seen["host"] = self.headers["Host"]
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, server_name, ctx: seen.__setitem__("sni", server_name or "")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, cert, seen


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_goes_to_the_checked_address_with_sni_and_a_verified_certificate(tmp_path):
    httpd, cert, seen = _https_server(tmp_path, "models.test")
    port = httpd.server_address[1]
    allow = Allowlist.parse(["127.0.0.1"])
    try:
        with requests.Session() as session:
            session.verify = str(cert)  # trust this test certificate only
            response = open_checked(
                session, f"https://models.test:{port}/m.zip", headers={}, timeout=(5, 5), allow=allow,
                resolver=resolving_to("127.0.0.1"),
            )  # fmt: skip
            assert response.status_code == 200 and response.content == b"ok"
        assert seen == {"sni": "models.test", "host": f"models.test:{port}"}
        # The same server under another name: the certificate does not match, the request fails.
        with requests.Session() as session, pytest.raises(requests.exceptions.SSLError):
            session.verify = str(cert)
            open_checked(
                session, f"https://other.test:{port}/m.zip", headers={}, timeout=(5, 5), allow=allow,
                resolver=resolving_to("127.0.0.1"),
            )  # fmt: skip
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    "url", ["http://2130706433/", "http://0x7f.0.0.1/", "http://127.1/", "http://0/", "http://localhost./"]
)
def test_other_spellings_of_loopback_are_refused_by_what_they_resolve_to(url):
    with pytest.raises(OutboundRefused, match="loopback|unspecified"):
        check_url(url, allow=NOTHING_ALLOWED)


# IANA IPv4 and IPv6 Special-Purpose Address Registries, every entry, typed from the registries themselves
# (https://www.iana.org/assignments/iana-ipv4-special-registry, .../iana-ipv6-special-registry), plus the
# deprecated site-local fec0::/10 and IPv6 multicast. Not derived from registry/outbound.py on purpose.
IANA_SPECIAL_PURPOSE = [
    "0.0.0.0/8", "0.0.0.0/32", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.0.0/29", "192.0.0.8/32", "192.0.0.9/32", "192.0.0.10/32", "192.0.0.170/32",
    "192.0.0.171/32", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
    "255.255.255.255/32",
    "::1/128", "::/128", "64:ff9b:1::/48", "100::/64", "100:0:0:1::/64", "2001::/23", "2001::/32",
    "2001:1::1/128", "2001:1::2/128", "2001:1::3/128", "2001:2::/48", "2001:3::/32", "2001:4:112::/48",
    "2001:10::/28", "2001:20::/28", "2001:30::/28", "2001:db8::/32", "2620:4f:8000::/48", "3fff::/20",
    "5f00::/16", "fc00::/7", "fe80::/10",
    "fec0::/10", "ff00::/8",
]  # fmt: skip
# Ranges that carry an IPv4 address: judged as that address, so a private one inside is refused.
IPV4_CARRYING = {
    "::ffff:0:0/96": ("::ffff:10.0.0.1", "::ffff:8.8.8.8"),
    "64:ff9b::/96": ("64:ff9b::10.0.0.1", "64:ff9b::8.8.8.8"),
    "2002::/16": ("2002:0a00:0001::", "2002:0808:0808::"),
}


def _edges(network: str) -> list[str]:
    net = ipaddress.ip_network(network)
    return sorted({str(net[0]), str(net[-1]), str(net[net.num_addresses // 2])})


@pytest.mark.parametrize(
    "address", [a for network in IANA_SPECIAL_PURPOSE for a in _edges(network)], ids=lambda a: a
)
def test_every_iana_special_purpose_address_is_refused(address):
    """Finding 11: fec0::/10 passed (ipaddress calls it global), and so did several anycast and
    documentation ranges."""
    assert refusal_reason(ipaddress.ip_address(address)) != ""
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(OutboundRefused, match="public server"):
        check_url(f"http://{literal}/m.zip", allow=NOTHING_ALLOWED)


@pytest.mark.parametrize(("network", "pair"), IPV4_CARRYING.items())
def test_ranges_carrying_ipv4_are_judged_by_the_carried_address(network, pair):
    private, public = pair
    assert ipaddress.ip_address(private) in ipaddress.ip_network(network)
    assert refusal_reason(ipaddress.ip_address(private)) == "private"
    assert refusal_reason(ipaddress.ip_address(public)) == ""


def test_a_source_that_trickles_is_given_up_at_the_minimum_rate(source, tmp_path, settings):
    """Finding 9: one byte every few seconds never hits the read timeout; only the overall limit stopped it."""
    settings.SOURCE_URL_ALLOW = ["127.0.0.1"]
    url = source.serve("/trickle.zip?X-Amz-Signature=s3cr3t", Served(b"x" * 10_000, trickle=0.1))
    began = time.monotonic()
    with pytest.raises(FetchFailed, match="below the minimum of 1000") as failed:
        fetch(url, tmp_path / "m.zip", min_rate=1000, rate_window=1.0, max_seconds=20, read_timeout=5)
    assert time.monotonic() - began < 5
    assert "s3cr3t" not in str(failed.value)


def test_a_source_at_the_minimum_rate_finishes(source, tmp_path, settings):
    settings.SOURCE_URL_ALLOW = ["127.0.0.1"]
    url = source.serve("/steady.zip", Served(b"x" * 60_000, rate=40_000))
    fetched = fetch(url, tmp_path / "m.zip", min_rate=10_000, rate_window=0.5)
    assert fetched.size == 60_000
