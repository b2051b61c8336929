"""A real server under MODELHUB_AUTH=writes, probed as the outside review did (issues 20 and 24): forwarded
headers, the admin lockout, what anonymous readers see, what reaches the log."""

import re

import pytest
import requests

from tests.live import LiveService, live_service

pytestmark = pytest.mark.live

ADMIN_PASSWORD = "a-long-right-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    env = {
        "MODELHUB_AUTH": "writes",
        "MODELHUB_KEY_CACHE_SECONDS": "1",
        "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
        "MODELHUB_SOURCE_URL_ALLOW": "127.0.0.1",
        "MODELHUB_DOWNLOAD_RETRIES": "0",
    }
    with live_service(tmp_path_factory.mktemp("hardening"), with_worker=False, env=env) as service:
        service.manage("createsuperuser", "--noinput", "--username", "root", "--email", "root@example.com")
        yield service


def admin_login(server: LiveService, password: str, *, forwarded_for: str | None = None) -> int:
    session = requests.Session()
    login = f"{server.url}/admin/login/?next=/admin/"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(login).text)
    assert token is not None
    headers = {"Referer": login}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    response = session.post(
        login,
        data={"username": "root", "password": password, "csrfmiddlewaretoken": token.group(1)},
        headers=headers,
        allow_redirects=False,
    )
    return response.status_code


def test_rotating_x_forwarded_for_does_not_escape_the_admin_lockout(server: LiveService) -> None:
    """Finding 5 / point 6: the peer (127.0.0.1) is no configured proxy, so X-Forwarded-For is ignored; and the
    lockout counts the user name on its own, whatever address the failures come from."""
    statuses = [admin_login(server, "wrong", forwarded_for=f"203.0.113.{n}") for n in range(1, 8)]
    assert statuses[:4] == [200] * 4 and set(statuses[4:]) == {429}, statuses
    assert admin_login(server, ADMIN_PASSWORD, forwarded_for="198.51.100.99") == 429
    rows = server.query("SELECT ip_address, username FROM axes_accessattempt")
    assert {str(row["ip_address"]) for row in rows} == {"127.0.0.1"}, rows  # PostgreSQL returns an inet


def new_key(server: LiveService, name: str, scopes: str) -> str:
    return server.manage("create_api_key", name, "--scopes", scopes).stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def simple_model(server: LiveService, tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.inference.conftest import serve
    from tests.modelfiles import build_simple_model, ir_zip

    writer = new_key(server, "model-writer", "write")
    archive = ir_zip(build_simple_model(), tmp_path_factory.mktemp("simple"))
    response = requests.post(
        f"{server.url}/models",
        files={"file": ("simple.zip", archive, "application/zip")},
        data={"id": "simple", "name": "simple", "version": "1"},
        headers={"Authorization": f"Bearer {writer}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    serve(server, "simple")
    return "simple"


def test_a_revoked_key_loses_its_open_grpc_stream(server: LiveService, simple_model: str) -> None:
    """Finding 6: ModelStreamInfer checked the key once, when the stream opened."""
    import queue
    import time

    import grpc
    import numpy as np

    from inference.grpc.protos import grpc_service_pb2 as pb

    key = new_key(server, "streamer", "infer")
    requests_queue: queue.Queue[object] = queue.Queue()

    def request_stream():  # type: ignore[no-untyped-def]
        while (item := requests_queue.get()) is not None:
            yield item

    def request() -> pb.ModelInferRequest:
        message = pb.ModelInferRequest(model_name=simple_model)
        for name in ("INPUT0", "INPUT1"):
            tensor = message.inputs.add(name=name, datatype="INT32", shape=[1, 16])
            tensor.contents.int_contents.extend(np.ones(16, np.int32).tolist())
        return message

    with grpc.insecure_channel(server.grpc_address) as channel:
        call = channel.stream_stream(
            "/inference.GRPCInferenceService/ModelStreamInfer",
            request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelStreamInferResponse.FromString,
        )
        responses = call(request_stream(), metadata=[("authorization", f"Bearer {key}")])
        requests_queue.put(request())
        first = next(responses)
        assert not first.error_message and first.infer_response.model_name == simple_model
        assert "Revoked" in server.manage("revoke_api_key", "streamer").stdout
        time.sleep(1.5)  # MODELHUB_KEY_CACHE_SECONDS=1
        requests_queue.put(request())
        with pytest.raises(grpc.RpcError) as refused:
            next(responses)
        requests_queue.put(None)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_websocket_query_strings_stay_out_of_the_log(server: LiveService) -> None:
    """Point 5 of issue 24: the handshake line is logged even with the access log off."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = (
        server.url.replace("http://", "ws://") + "/model/x/download/progress?token=mh_leaked.secret-in-query"
    )
    with connect(url, open_timeout=10) as ws:
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=10)
    log = (server.data_dir / "server.out").read_text()
    assert '"WebSocket /model/x/download/progress" [accepted]' in log
    assert "secret-in-query" not in log


def test_secrets_in_source_urls_are_shown_only_to_writers(server: LiveService) -> None:
    """Point 1 of issue 24: a presigned URL's signature was readable by anyone, in GET /models and in the
    failed download's error (snapshot, progress over HTTP and WebSocket), the log and the audit rows."""
    import json

    from websockets.sync.client import connect

    from tests.live import free_port

    writer, reader = new_key(server, "url-writer", "write"), new_key(server, "url-reader", "read")
    secret_url = f"http://127.0.0.1:{free_port()}/bucket/m.zip?X-Amz-Signature=s3cr3t-sig&token=tok3n"
    shown = secret_url.split("?")[0] + "?[redacted]"
    response = requests.post(
        f"{server.url}/models",
        data={"id": "presigned", "name": "presigned", "version": "1", "source_url": secret_url},
        headers={"Authorization": f"Bearer {writer}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text

    def listed(key: str | None) -> str:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        one = requests.get(f"{server.url}/models/presigned", headers=headers, timeout=10).json()["source_url"]
        rows = requests.get(f"{server.url}/models", headers=headers, timeout=10).json()
        assert [row["source_url"] for row in rows if row["id"] == "presigned"] == [one]
        return one

    assert listed(None) == shown
    assert listed(reader) == shown
    assert listed(writer) == secret_url

    download = server.manage("download_model", "presigned", "--inline", "--no-progress", check=False)
    assert download.returncode != 0
    progress = requests.get(f"{server.url}/model/presigned/download/progress", timeout=10).json()
    assert progress["status"] == "FAILED" and "[redacted]" in progress["error"], progress
    with connect(
        server.url.replace("http://", "ws://") + "/model/presigned/download/progress", open_timeout=10
    ) as ws:
        frame = json.loads(ws.recv(timeout=10))
    assert frame["status"] == "FAILED" and frame["error"] == progress["error"]
    audit = server.query("SELECT detail FROM access_auditevent")
    everything = [
        download.stdout, download.stderr, json.dumps(progress), json.dumps(frame), repr(audit),
        (server.data_dir / "server.out").read_text(), (server.data_dir / "logs" / "modelhub.log").read_text(),
    ]  # fmt: skip
    for text in everything:
        assert "s3cr3t-sig" not in text and "tok3n" not in text


def test_readers_see_neither_host_names_nor_absolute_paths(server: LiveService, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Finding 12: node names were `<hostname>:<cache dir>`, and a failed load's OpenVINO error quoted the
    model's absolute path; readers now get a node name that names neither, and paths relative to the cache."""
    import json
    import socket
    from pathlib import Path

    from tests.modelfiles import build_constant_model, ir_zip

    writer = new_key(server, "broken-writer", "write")
    response = requests.post(
        f"{server.url}/models",
        files={"file": ("m.zip", ir_zip(build_constant_model(2.0), tmp_path), "application/zip")},
        data={"id": "broken", "name": "broken", "version": "1"},
        headers={"Authorization": f"Bearer {writer}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    download = server.manage("download_model", "broken", "--inline", "--no-progress", check=False)
    assert download.returncode == 0, download.stdout + download.stderr
    frame = requests.get(f"{server.url}/model/broken/download/progress", timeout=10).json()
    assert frame["status"] == "COMPLETED" and frame["nodes"], frame
    shown = json.dumps(frame)
    assert socket.gethostname() not in shown and str(server.data_dir) not in shown
    assert all(node["node"].startswith("node-") for node in frame["nodes"])

    code = "from registry.models import Model; from inference.cache import cached_path, model_file_in; "
    code += "print(model_file_in(cached_path(Model.objects.get(pk='broken'))))"
    model_file = Path(server.manage("shell", "-c", code).stdout.strip().splitlines()[-1])
    assert model_file.is_absolute() and model_file.exists()
    model_file.write_text("<net>")  # the cache now holds a model OpenVINO cannot read
    served = server.manage("serve_model", "broken", "--wait", "--timeout", "60", check=False)
    # The command prints the error the server process reported (its VersionReport row, which the deployment
    # status and the lifecycle load show too) before the failed version is unloaded.
    reported = served.stdout + served.stderr
    assert served.returncode != 0 and 'Unable to read the model: "broken/1/model.xml"' in reported, reported
    assert str(server.data_dir) not in reported and str(server.data_dir.resolve()) not in reported
    assert str(model_file) in (server.data_dir / "server.out").read_text()  # the log keeps the whole text
