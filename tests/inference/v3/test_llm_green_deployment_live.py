"""A green deployment of a new LLM version under streaming load: no request fails, streams that started on the
old version finish on it, and every stream after the switch is the new version's text."""

import json
import threading
import time
from datetime import datetime
from pathlib import Path

import openvino_genai as genai
import pytest
import requests

from inference.genai.builder import build_llm, zip_folder
from tests.deployments.test_green_deployment import deploy, register, wait_task
from tests.live import live_service

pytestmark = pytest.mark.live

F32 = {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32"}
PROMPT = "green deployments"
TOKENS = 24


def expected_text(folder: Path) -> str:
    pipeline = genai.ContinuousBatchingPipeline(str(folder), genai.SchedulerConfig(), "CPU", F32)
    tokenizer = pipeline.get_tokenizer()
    config = pipeline.get_config()
    config.max_new_tokens = TOKENS
    config.ignore_eos = True
    result = pipeline.generate([tokenizer.encode(PROMPT).input_ids], [config])[0]
    return tokenizer.decode(list(result.m_generation_ids[0]))


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def stream_once(url: str) -> tuple[float, float, str]:
    """(started, ended, text) of one streamed completion; raises on any failure."""
    body = {"model": "llm", "prompt": PROMPT, "max_tokens": TOKENS, "ignore_eos": True, "stream": True}
    started = time.time()
    text, done = "", False
    with requests.post(f"{url}/v3/completions", json=body, stream=True, timeout=60) as response:
        assert response.status_code == 200, response.text
        for line in response.iter_lines():
            if line == b"data: [DONE]":
                done = True
            elif line.startswith(b"data: "):
                event = json.loads(line[6:])
                assert "error" not in event, event
                text += "".join(choice["text"] for choice in event["choices"])
    assert done, "the stream ended without [DONE]"
    return started, time.time(), text


def test_green_deployment_of_an_llm_under_streaming_load(tmp_path: Path) -> None:
    old_folder, new_folder = build_llm(tmp_path / "v1", seed=11), build_llm(tmp_path / "v2", seed=12)
    old_text, new_text = expected_text(old_folder), expected_text(new_folder)
    assert old_text != new_text
    env = {
        "MODELHUB_DEPLOYMENT_STALE_SECONDS": "30"
    }  # a worker compiling on a busy machine misses 3 s (and 8)
    with live_service(tmp_path / "data", workers=2, env=env) as service:
        v1 = register(service, zip_folder(old_folder), name="llm", version="1")
        v2 = register(service, zip_folder(new_folder), name="llm", version="2")
        first = wait_task(service, "deploy", deploy(service, v1, plugin_config=F32)["task_id"])
        assert first["status"] == "done", first

        results: list[tuple[float, float, str]] = []
        failures: list[str] = []
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                try:
                    results.append(stream_once(service.url))
                except Exception as exc:  # counted: the assertion below shows them
                    failures.append(repr(exc))

        threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)
            task = wait_task(
                service, "deploy", deploy(service, v2, plugin_config=F32)["task_id"], timeout=180
            )
            assert task["status"] == "done", task
            metadata = task["metadata"]
            switched = _timestamp(metadata["switched_at"])
            # a server process too busy to read the switch in time switches when it reads it (the task records when)
            everywhere = _timestamp(metadata.get("all_switched_at", metadata["switched_at"]))
            time.sleep(2.0)
        finally:  # the load stops whatever happened, or its threads would outlive the test
            stop.set()
            for thread in threads:
                thread.join(60)
        assert not failures, (failures[:5], service.log_tail())

    assert {text for _, _, text in results} <= {old_text, new_text}
    before = [text for started, ended, text in results if ended < switched]
    after = [text for started, _, text in results if started > everywhere + 0.5]
    assert before and all(text == old_text for text in before)
    assert after and all(text == new_text for text in after)
