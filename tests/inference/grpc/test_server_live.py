"""The gRPC endpoint's process model: every server process listens on GRPC_PORT (SO_REUSEPORT) and answers
from its own runtime; GRPC_PORT=0 turns gRPC off."""

from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton

from tests.inference.conftest import register, serve
from tests.inference.grpc.conftest import simple_inputs
from tests.live import live_service
from tests.modelfiles import build_simple_model, ir_zip

pytestmark = pytest.mark.live


def listeners(port: int) -> list[str]:
    """The sockets listening on `port` (one per process with SO_REUSEPORT), from /proc/net/tcp and tcp6 (gRPC
    may bind 127.0.0.1 as a v4-mapped IPv6 address)."""
    lines = [
        line for table in ("tcp", "tcp6") for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]
    ]
    return [line for line in lines if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"]


def test_every_server_process_listens_on_the_grpc_port(tmp_path):
    with live_service(tmp_path / "data", workers=2, with_worker=False) as service:
        register(service, ir_zip(build_simple_model(), tmp_path), model_id="simple", name="simple")
        serve(service, "simple")
        assert len(listeners(service.grpc_port)) == 2  # one socket per server process
        first, second = simple_inputs()
        for _ in range(8):  # a new connection each time: the kernel spreads them over both processes
            client = triton.InferenceServerClient(service.grpc_address)
            inputs = [
                triton.InferInput("INPUT0", [1, 16], "INT32"),
                triton.InferInput("INPUT1", [1, 16], "INT32"),
            ]
            inputs[0].set_data_from_numpy(first)
            inputs[1].set_data_from_numpy(second)
            np.testing.assert_array_equal(client.infer("simple", inputs).as_numpy("OUTPUT0"), first + second)
            client.close()


def test_grpc_port_zero_turns_grpc_off(tmp_path):
    with live_service(tmp_path / "data", with_worker=False, env={"GRPC_PORT": "0"}) as service:
        assert listeners(service.grpc_port) == []
        assert "gRPC listening" not in service.log_tail()
