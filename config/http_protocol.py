"""uvicorn's httptools protocol with the request-level bounds it lacks (README "Security", DESIGN.md section 11).

uvicorn buffers a header block of any size (httptools has no limit of its own), waits forever for a header block
that arrives a byte at a time (its keep-alive timer only runs between requests, and not at all before the first
one), and lets a body stall for ever. This subclass adds, from settings read once per process:

- MODELHUB_MAX_HEADER_BYTES / MODELHUB_MAX_HEADERS: a larger or longer header block (request line included) is
  answered 431 and the connection closed, before any application code runs;
- MODELHUB_HEADER_TIMEOUT_SECONDS: a header block not complete this long after it started is answered 408;
- MODELHUB_BODY_IDLE_TIMEOUT_SECONDS: a request body that receives nothing for this long (while the server is
  reading it) is answered 408 if no response started, and the connection closed; the application then sees
  `http.disconnect`, so an upload releases its disk reservation;
- MODELHUB_MAX_CONNECTIONS_PER_CLIENT: more open connections from one TCP peer address in this process are
  answered 503 and closed (the proxies of MODELHUB_FORWARDED_ALLOW_IPS are exempt: they do their own limiting);
- MODELHUB_WS_MAX_MESSAGE_BYTES: the largest message a WebSocket client may send (uvicorn's `ws_max_size`,
  16 MiB by default, which a consumer would parse as JSON), handed to the WebSocket protocol this one upgrades to.

The per-request cost is a few attribute stores (about 1 us, benchmarks/http_protocol.py): the deadlines are
enforced by one sweep per process every fraction of a second over the open connections, not by a timer per
request, so each deadline holds to within a quarter of its length (never earlier than stated).
"""

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_IDLE, _HEADERS, _BODY = 0, 1, 2  # waiting between requests (uvicorn's keep-alive timer), in headers, in body


@dataclass(frozen=True)
class Limits:
    max_header_bytes: int
    max_headers: int
    header_timeout: float
    body_idle_timeout: float
    max_connections_per_client: int
    ws_max_message_bytes: int
    exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @property
    def sweep_seconds(self) -> float:
        return max(0.05, min(1.0, self.header_timeout / 4, self.body_idle_timeout / 4))


_limits: Limits | None = None


def limits() -> Limits:
    """The bounds, from Django's settings (loaded with the application before the first connection)."""
    global _limits
    if _limits is None:
        from django.conf import settings

        _limits = Limits(
            max_header_bytes=settings.HTTP_MAX_HEADER_BYTES,
            max_headers=settings.HTTP_MAX_HEADERS,
            header_timeout=settings.HTTP_HEADER_TIMEOUT_SECONDS,
            body_idle_timeout=settings.HTTP_BODY_IDLE_TIMEOUT_SECONDS,
            max_connections_per_client=settings.HTTP_MAX_CONNECTIONS_PER_CLIENT,
            ws_max_message_bytes=settings.HTTP_WS_MAX_MESSAGE_BYTES,
            exempt=tuple(
                ipaddress.ip_network(value, strict=False)
                for value in getattr(settings, "FORWARDED_ALLOW_IPS", [])
            ),
        )
    return _limits


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a request that was already answered."""


_open: set["GuardedHttpToolsProtocol"] = set()  # connections whose deadlines the sweep checks
_per_client: dict[str, int] = {}  # open connections per TCP peer address (counted ones only)
_sweep_handle: asyncio.TimerHandle | None = None
_now = 0.0  # the event loop's clock as of the last sweep: deadlines are as coarse as the sweep anyway


def _sweep(loop: asyncio.AbstractEventLoop) -> None:
    global _sweep_handle, _now
    bounds = limits()
    now = _now = loop.time()
    for protocol in list(_open):
        if protocol._phase == _HEADERS:
            if now - protocol._since > bounds.header_timeout + bounds.sweep_seconds:
                protocol._give_up(408, "The request headers did not arrive in time.")
        elif protocol._phase == _BODY:
            cycle = protocol.cycle
            if protocol.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue):
                protocol._since = (
                    now  # the application is behind (or has not asked for the body yet), not the client
                )
            elif now - protocol._since > bounds.body_idle_timeout + bounds.sweep_seconds:
                protocol._give_up(408, "The request body stalled.")
    _sweep_handle = loop.call_later(bounds.sweep_seconds, _sweep, loop) if _open else None


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bounds = limits()
        self._phase = _IDLE
        self._since = 0.0
        self._header_bytes = 0
        self._counted_as: str | None = None
        self.config.ws_max_size = (
            self._bounds.ws_max_message_bytes
        )  # read by the WebSocket protocol it creates

    # --- connection ----------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        global _sweep_handle, _now
        super().connection_made(transport)
        address = self.client[0] if self.client else None
        if address is not None and not self._exempt(address):
            if _per_client.get(address, 0) >= self._bounds.max_connections_per_client:
                self._answer(503, "Too many connections from your address.")
                return
            _per_client[address] = _per_client.get(address, 0) + 1
            self._counted_as = address
        if _sweep_handle is None:
            _now = self.loop.time()
        self._phase, self._since = _HEADERS, _now
        _open.add(self)
        if _sweep_handle is None:
            _sweep_handle = self.loop.call_later(self._bounds.sweep_seconds, _sweep, self.loop)

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        super().connection_lost(exc)

    def _forget(self) -> None:
        _open.discard(self)
        address, self._counted_as = self._counted_as, None
        if address is not None:
            remaining = _per_client.get(address, 1) - 1
            if remaining > 0:
                _per_client[address] = remaining
            else:
                _per_client.pop(address, None)

    def _exempt(self, address: str) -> bool:
        if not self._bounds.exempt:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False  # a Unix socket peer or the like: counted under its name
        return any(ip in network for network in self._bounds.exempt)

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes over the transport: it keeps counting against the client's connections
        # until it closes, but our deadlines no longer apply.
        _open.discard(self)
        self._phase = _IDLE
        address, self._counted_as = self._counted_as, None
        super().handle_websocket_upgrade()
        if address is not None:
            websocket = self.transport.get_protocol()
            lost = websocket.connection_lost

            def connection_lost(exc: Exception | None) -> None:
                remaining = _per_client.get(address, 1) - 1
                if remaining > 0:
                    _per_client[address] = remaining
                else:
                    _per_client.pop(address, None)
                lost(exc)

            websocket.connection_lost = connection_lost  # type: ignore[method-assign]

    # --- data: uvicorn's own data_received, plus the header byte count -----------------------------------------
    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._phase == _BODY:
            self._since = _now
        else:
            self._header_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _Refused):
                return  # answered already
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._phase == _HEADERS and self._header_bytes > self._bounds.max_header_bytes:
            self._give_up(431, "Request header fields too large.")

    # --- parser callbacks ------------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != _HEADERS:
            self._phase, self._since = _HEADERS, _now

    def on_headers_complete(self) -> None:
        if len(self.headers) > self._bounds.max_headers:
            self._give_up(431, f"More than {self._bounds.max_headers} request header fields.")
            raise _Refused()
        # The byte count may include body bytes that came in the same read; count exactly only then.
        if self._header_bytes > self._bounds.max_header_bytes and self._exact_header_bytes() > (
            self._bounds.max_header_bytes
        ):
            self._give_up(431, "Request header fields too large.")
            raise _Refused()
        self._header_bytes = 0
        self._phase, self._since = _BODY, _now
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        super().on_message_complete()

    def _exact_header_bytes(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    # --- refusals --------------------------------------------------------------------------------------------
    def _give_up(self, status: int, message: str) -> None:
        """Answer `status` when no response of this connection is under way, then close the connection."""
        phase, self._phase = self._phase, _IDLE
        _open.discard(self)
        cycle = self.cycle
        if phase == _BODY and cycle is not None:
            can_answer = not cycle.response_started
        else:
            can_answer = cycle is None or cycle.response_complete
        self.logger.info("Closing a connection from %s: %s %s", self.client, status, message)
        if can_answer and not self.transport.is_closing():
            self._answer(status, message)
        elif not self.transport.is_closing():
            self.transport.close()

    def _answer(self, status: int, message: str) -> None:
        body = message.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, _REASONS[status], len(body), body)
        )
        self.transport.close()


_REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}
