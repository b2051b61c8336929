"""config/serve.py: the server entry of `make run` applies its uvicorn tuning (in every worker: module level)."""

import inspect

from uvicorn.protocols.http import httptools_impl

import config.serve
from config.run import server_command


def test_the_request_body_window_is_widened_where_uvicorn_reads_it() -> None:
    assert httptools_impl.HIGH_WATER_LIMIT == config.serve.REQUEST_BODY_WINDOW == 1024 * 1024
    # uvicorn still compares the buffered body with this module global (an upgrade that renamed it would
    # silently drop the tuning)
    assert "HIGH_WATER_LIMIT" in inspect.getsource(httptools_impl.HttpToolsProtocol.on_body)


def test_make_run_starts_the_server_through_the_entry() -> None:
    command = server_command("127.0.0.1", "8000", 2, access_log=False)
    assert command[1:3] == ["-m", "config.serve"] and "--workers" in command
