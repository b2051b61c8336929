"""How modelhub talks to Redis (channel layer): connection options that keep idle WebSockets open.

channels-redis waits for messages with BZPOPMIN blocking up to `brpop_timeout` (5 s) on a pooled redis-py
connection. redis-py (>= 6 for asyncio pools from a URL) reads with a 5 s socket timeout by default, the
same length: the reply of an idle wait and the client's timeout race, and the loser raises
`TimeoutError: Timeout reading from ...`, which kills the consumer and closes its socket (1011) after ~5 s.
The read timeout must be well above the blocking time; it still exists so a Redis that vanished without
closing the connection is noticed (then the socket closes and the client reconnects).
"""

from typing import Any

CHANNELS_BLOCK_SECONDS = 5  # channels-redis's brpop_timeout (a class attribute, not configurable)
SOCKET_TIMEOUT_SECONDS = CHANNELS_BLOCK_SECONDS + 25.0
CONNECT_TIMEOUT_SECONDS = 5.0
HEALTH_CHECK_SECONDS = 30


def channel_layer(url: str) -> dict[str, Any]:
    """settings.CHANNEL_LAYERS["default"] for channels-redis on `url`."""
    host = {
        "address": url,
        "socket_timeout": SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "retry_on_timeout": True,
    }
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [host]},
    }
