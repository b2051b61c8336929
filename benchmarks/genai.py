"""LLM and embedding serving benchmark: modelhub's /v3 against openvino-genai called in-process.

    .venv/bin/python benchmarks/genai.py [--rounds 3] [--tokens 128] [--streams 16] [--models DIR]

Sides, measured in interleaved rounds on the same model files and scheduler settings (ratios within a round,
the median of the rounds kept; machines are shared and noisy):
  - limit: openvino-genai's ContinuousBatchingPipeline in this process (what a server on top of it can reach);
  - naive: a plain LLMPipeline.generate loop in this process, one request after the other;
  - modelhub: `make run`'s server (one server process) answering POST /v3/completions with `stream: true`,
    read by an asyncio HTTP client: time to first token, tokens/s of one stream, aggregate tokens/s of N streams;
  - embeddings: texts/s of POST /v3/embeddings at batch 1 (one text per request, one client) and batch 32,
    against TextEmbeddingPipeline.embed_documents in this process;
  - bare: benchmarks/bare_genai_server.py under uvicorn (uvloop, httptools), the same two routes with nothing
    but the essential work (no validation, access, metrics): the ceiling of a Python server on these pipelines,
    measured where a target against the in-process limit cannot be met.
Every generation is greedy, ignores EOS and produces exactly --tokens tokens, so all sides do the same work.
--models: a folder with `tiny-llm` and `tiny-embed` openvino-genai model folders (for example
`manage.py build_genai_models DIR`, or real `optimum-cli export openvino` exports under those names); default: the
tiny models, built into a temporary folder. Memory: the resident set of the server process before and after the
LLM loads, i.e. what each further server process holding it would add.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import openvino_genai as genai  # noqa: E402
import requests  # noqa: E402

from benchmarks.report import machine_load  # noqa: E402
from benchmarks.serving import Server, http, terminate, wait_until  # noqa: E402

PROMPT = "The history of the model server begins with"
ENCODERS = {"tiny": {}, "minilm": {"hidden": 384, "layers": 6, "heads": 6, "ffn": 1536}}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128, help="tokens generated per request")
    parser.add_argument("--streams", type=int, default=16, help="concurrent streams")
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of one embeddings measurement")
    parser.add_argument(
        "--models", type=Path, help="folder with tiny-llm/ and tiny-embed/ (default: build them)"
    )
    parser.add_argument(
        "--hidden", type=int, default=64, help="hidden size of the built LLM (768 = a ~19M model)"
    )
    parser.add_argument("--layers", type=int, default=2, help="layers of the built LLM")
    parser.add_argument(
        "--embed-size", choices=sorted(ENCODERS), default="tiny",
        help="the built encoder: tiny (hidden 32, 2 layers) or minilm (all-MiniLM-L6-v2's shape: hidden 384, "
        "6 layers, 6 heads, feed-forward 1536)",
    )  # fmt: skip
    options = parser.parse_args()
    machine_load()
    with tempfile.TemporaryDirectory(prefix="genai-bench-") as scratch:
        models = options.models or _build(Path(scratch) / "models", options)
        llm, embed = models / "tiny-llm", models / "tiny-embed"
        with Server(Path(scratch), workers=1) as server, BareServer(llm, embed) as bare:
            pid = _server_pid(server)
            rss_before = _rss(pid)
            _register(server, "llm", llm)
            _register(server, "embed", embed)
            rss_after = _rss(pid)
            limit = genai.ContinuousBatchingPipeline(str(llm), genai.SchedulerConfig(), "CPU", {})
            naive = genai.LLMPipeline(str(llm), "CPU")
            embedder = genai.TextEmbeddingPipeline(str(embed), "CPU")
            rounds: dict[str, list[dict[str, float]]] = {}
            for index in range(options.rounds):
                sides = [
                    ("limit", lambda: _limit(limit, options)),
                    ("naive", lambda: _naive(naive, options)),
                    ("modelhub", lambda: asyncio.run(_server(server.url, options))),
                    ("bare", lambda: asyncio.run(_server(bare.url, options))),
                    ("embed-limit", lambda: _embed_limit(embedder, options)),
                    ("embed-modelhub", lambda: asyncio.run(_embed_server(server.url, options))),
                    ("embed-bare", lambda: asyncio.run(_embed_server(bare.url, options))),
                ]
                if index % 2:
                    sides.reverse()
                for name, run in sides:
                    rounds.setdefault(name, []).append(run())
                print(f"round {index + 1}/{options.rounds} done")
    _report(rounds, options, rss_before, rss_after)
    return 0


def _build(folder: Path, options: argparse.Namespace) -> Path:
    from inference.genai import builder

    hidden = options.hidden
    builder.build_llm(folder / "tiny-llm", hidden=hidden, layers=options.layers, heads=max(hidden // 64, 1))
    builder.build_embedding(folder / "tiny-embed", **ENCODERS[options.embed_size])
    return folder


class BareServer:
    """benchmarks/bare_genai_server.py on the same model folders, idle while the other sides are measured."""

    def __init__(self, llm: Path, embed: Path) -> None:
        from tests.live import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.bare_genai_server:create_app",
                        "--port", str(self.port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                        "--log-level", "warning"]  # fmt: skip
        self.env = {**os.environ, "BARE_LLM": str(llm), "BARE_EMBED": str(embed)}
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "BareServer":
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stderr=subprocess.DEVNULL)
        body = {"model": "tiny-embed", "input": ["ready?"]}
        wait_until(
            lambda: http("POST", f"{self.url}/v3/embeddings", json.dumps(body).encode(), {})[0] == 200,
            120, "the bare /v3 server did not start",
        )  # fmt: skip
        warm_up = {"model": "tiny-llm", "prompt": PROMPT, "max_tokens": 4, "stream": True}
        http(
            "POST", f"{self.url}/v3/completions", json.dumps(warm_up).encode(), {}
        )  # compiles, as a load's warm-up
        return self

    def __exit__(self, *exc: object) -> None:
        terminate(self.process)


def _register(server: Server, model_id: str, folder: Path) -> None:
    from inference.genai.builder import zip_folder

    response = requests.post(
        f"{server.url}/models",
        data={"id": model_id, "name": f"tiny-{model_id}", "version": "1"},
        files={"file": (f"{model_id}.zip", zip_folder(folder), "application/zip")},
        timeout=120,
    )
    if response.status_code != 201:
        raise RuntimeError(f"registering {model_id} failed: {response.status_code} {response.text[:200]}")
    server.manage("serve_model", model_id, "--wait", "--timeout", "300")


def _config(pipeline: Any, tokens: int) -> Any:
    config = (
        pipeline.get_generation_config()
        if hasattr(pipeline, "get_generation_config")
        else pipeline.get_config()
    )
    config.max_new_tokens = tokens
    config.ignore_eos = True
    config.do_sample = False
    return config


def _limit(pipeline: Any, options: argparse.Namespace) -> dict[str, float]:
    """One stream stepped by hand (as the server's engine does, minus HTTP), then N streams batched."""
    config = _config(pipeline, options.tokens)
    started = time.perf_counter()
    handle = pipeline.add_request(0, PROMPT, config)
    first = None
    while handle.get_status() == genai.GenerationStatus.RUNNING or handle.can_read():
        if pipeline.has_non_finished_requests():
            pipeline.step()
        if handle.can_read():
            handle.read()
            first = first or time.perf_counter()
        elif not pipeline.has_non_finished_requests():
            break
    one = time.perf_counter() - started
    ttft = (first - started) if first else 0.0
    prompts = [f"{PROMPT} {index}" for index in range(options.streams)]
    started = time.perf_counter()
    pipeline.generate(prompts, [config] * len(prompts))
    many = time.perf_counter() - started
    return {
        "ttft_ms": ttft * 1e3,
        "tokens_per_s": options.tokens / one,
        "aggregate_tokens_per_s": options.tokens * options.streams / many,
    }


def _naive(pipeline: Any, options: argparse.Namespace) -> dict[str, float]:
    config = _config(pipeline, options.tokens)
    started = time.perf_counter()
    pipeline.generate(PROMPT, config)
    elapsed = time.perf_counter() - started
    return {"tokens_per_s": options.tokens / elapsed}


async def _stream(
    session: aiohttp.ClientSession, url: str, prompt: str, tokens: int
) -> tuple[float, float, int]:
    """(time to first token, total time, tokens) of one streamed completion."""
    body = {"model": "tiny-llm", "prompt": prompt, "max_tokens": tokens, "ignore_eos": True, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
    started = time.perf_counter()
    first = 0.0
    generated = 0
    async with session.post(f"{url}/v3/completions", json=body) as response:
        response.raise_for_status()
        async for raw in response.content:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if not first and event["choices"]:  # the first event carries the first token(s)
                first = time.perf_counter() - started
            if event.get("usage"):
                generated = event["usage"]["completion_tokens"]
    return first, time.perf_counter() - started, generated


async def _server(url: str, options: argparse.Namespace) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=options.streams)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=600)
    ) as session:
        first, total, generated = await _stream(session, url, PROMPT, options.tokens)
        if generated != options.tokens:
            raise RuntimeError(f"the server generated {generated} tokens, not {options.tokens}")
        started = time.perf_counter()
        results = await asyncio.gather(
            *(_stream(session, url, f"{PROMPT} {index}", options.tokens) for index in range(options.streams))
        )
        many = time.perf_counter() - started
    return {
        "ttft_ms": first * 1e3,
        "tokens_per_s": generated / total,
        "aggregate_tokens_per_s": sum(result[2] for result in results) / many,
    }


def _texts(batch: int) -> list[str]:
    return [f"sentence number {index} about serving models" for index in range(batch)]


def _embed_limit(pipeline: Any, options: argparse.Namespace) -> dict[str, float]:
    result = {}
    for batch in (1, 32):
        texts, count, deadline = _texts(batch), 0, time.perf_counter() + options.seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            pipeline.embed_documents(texts)
            count += batch
        result[f"batch{batch}"] = count / (time.perf_counter() - started)
    return result


async def _embed_server(url: str, options: argparse.Namespace) -> dict[str, float]:
    result = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        for batch in (1, 32):
            body = {"model": "tiny-embed", "input": _texts(batch), "encoding_format": "base64"}
            count, deadline = 0, time.perf_counter() + options.seconds
            started = time.perf_counter()
            while time.perf_counter() < deadline:
                async with session.post(f"{url}/v3/embeddings", json=body) as response:
                    response.raise_for_status()
                    await response.read()
                count += batch
            result[f"batch{batch}"] = count / (time.perf_counter() - started)
    return result


def _server_pid(server: Server) -> int:
    assert server.process is not None
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    return int(children[0]) if children else server.process.pid


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _median(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(item[key] for item in rounds)


def _ratio(
    rounds: dict[str, list[dict[str, float]]], top: str, bottom: str, key: str, bottom_key: str | None = None
) -> float:
    return statistics.median(
        a[key] / b[bottom_key or key] for a, b in zip(rounds[top], rounds[bottom], strict=True)
    )


def _report(
    rounds: dict[str, list[dict[str, float]]], options: argparse.Namespace, before: int, after: int
) -> None:
    print(
        f"\n{options.tokens} tokens per request, {options.streams} concurrent streams, median of {options.rounds} rounds"
    )
    print(f"  in-process limit : one stream {_median(rounds['limit'], 'tokens_per_s'):8.1f} tok/s, "
          f"TTFT {_median(rounds['limit'], 'ttft_ms'):6.1f} ms, {options.streams} streams "
          f"{_median(rounds['limit'], 'aggregate_tokens_per_s'):8.1f} tok/s")  # fmt: skip
    print(f"  naive LLMPipeline: one stream {_median(rounds['naive'], 'tokens_per_s'):8.1f} tok/s")
    print(f"  modelhub /v3     : one stream {_median(rounds['modelhub'], 'tokens_per_s'):8.1f} tok/s, "
          f"TTFT {_median(rounds['modelhub'], 'ttft_ms'):6.1f} ms, {options.streams} streams "
          f"{_median(rounds['modelhub'], 'aggregate_tokens_per_s'):8.1f} tok/s")  # fmt: skip
    print(f"  bare /v3 server  : one stream {_median(rounds['bare'], 'tokens_per_s'):8.1f} tok/s, "
          f"TTFT {_median(rounds['bare'], 'ttft_ms'):6.1f} ms, {options.streams} streams "
          f"{_median(rounds['bare'], 'aggregate_tokens_per_s'):8.1f} tok/s")  # fmt: skip
    print(f"  embeddings encoder: {options.embed_size}")
    for batch in (1, 32):
        print(f"  embeddings batch {batch:2}: in-process {_median(rounds['embed-limit'], f'batch{batch}'):8.1f} texts/s, "
              f"modelhub {_median(rounds['embed-modelhub'], f'batch{batch}'):8.1f} texts/s, "
              f"bare server {_median(rounds['embed-bare'], f'batch{batch}'):8.1f} texts/s")  # fmt: skip
    print(
        f"  server process RSS: {before / 2**20:.0f} MB before the models, {after / 2**20:.0f} MB after "
        f"(+{(after - before) / 2**20:.0f} MB per server process holding them)"
    )
    checks = [
        ("one stream tokens/s >= 0.9x in-process", _ratio(rounds, "modelhub", "limit", "tokens_per_s"), 0.9, False),
        ("time to first token within 1.2x in-process", _ratio(rounds, "modelhub", "limit", "ttft_ms"), 1.2, True),
        (f"{options.streams} streams aggregate >= 3x one stream",
         _ratio(rounds, "modelhub", "modelhub", "aggregate_tokens_per_s", "tokens_per_s"), 3.0, False),
        (f"{options.streams} streams aggregate >= 0.85x in-process continuous batching",
         _ratio(rounds, "modelhub", "limit", "aggregate_tokens_per_s"), 0.85, False),
        ("one stream vs naive LLMPipeline loop (info)", _ratio(rounds, "modelhub", "naive", "tokens_per_s"), 0.0, False),
        ("embeddings batch 1 texts/s >= 0.85x in-process", _ratio(rounds, "embed-modelhub", "embed-limit", "batch1"), 0.85, False),
        ("embeddings batch 32 texts/s >= 0.85x in-process", _ratio(rounds, "embed-modelhub", "embed-limit", "batch32"), 0.85, False),
    ]  # fmt: skip
    ceilings = [
        ("bare server TTFT vs in-process", _ratio(rounds, "bare", "limit", "ttft_ms")),
        (f"bare server {options.streams} streams vs in-process", _ratio(rounds, "bare", "limit", "aggregate_tokens_per_s")),
        ("bare server embeddings batch 1 vs in-process", _ratio(rounds, "embed-bare", "embed-limit", "batch1")),
        ("bare server embeddings batch 32 vs in-process", _ratio(rounds, "embed-bare", "embed-limit", "batch32")),
        ("modelhub TTFT vs the bare server", _ratio(rounds, "modelhub", "bare", "ttft_ms")),
        (f"modelhub {options.streams} streams vs the bare server", _ratio(rounds, "modelhub", "bare", "aggregate_tokens_per_s")),
        ("modelhub embeddings batch 1 vs the bare server", _ratio(rounds, "embed-modelhub", "embed-bare", "batch1")),
        ("modelhub embeddings batch 32 vs the bare server", _ratio(rounds, "embed-modelhub", "embed-bare", "batch32")),
    ]  # fmt: skip
    print("\nTargets (median of per-round ratios):")
    for text, ratio, target, at_most in checks:
        ok = ratio <= target if at_most else ratio >= target
        print(f"  {'PASS' if ok else 'FAIL'}  {ratio:5.2f}  {text}")
    print(
        "\nThe ceiling (no target): what a bare Python server on the same pipelines reaches, and modelhub against it"
    )
    for text, ratio in ceilings:
        print(f"        {ratio:5.2f}  {text}")


if __name__ == "__main__":
    raise SystemExit(main())
