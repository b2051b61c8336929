"""A WebSocket to a path without a route is accepted and closed with 4404 (it was a 500), on the real server."""

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

pytestmark = pytest.mark.live


@pytest.mark.parametrize("path", ["/no/such/socket", "/models", "/model/x/download/progress/extra"])
def test_unknown_websocket_path_closes_with_4404(live, path):
    with connect(live.url.replace("http://", "ws://") + path, open_timeout=10) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4404
    assert closed.value.rcvd.reason == f"No WebSocket route for {path}"
