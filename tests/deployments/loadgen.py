"""A small closed-loop load generator: N threads, each with its own keep-alive connection, sending KServe v2
inferences back to back and recording (sent, received, answer or error) for every request."""

import threading
import time
from dataclasses import dataclass, field

import requests


@dataclass
class Sample:
    sent: float
    received: float
    value: float | None
    error: str | None


@dataclass
class LoadGenerator:
    url: str
    model: str
    threads: int = 8
    samples: list[list[Sample]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.body = {
            "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.0, 1.0, 2.0, 3.0]}]
        }

    def start(self) -> "LoadGenerator":
        self.samples = [[] for _ in range(self.threads)]
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(self.samples[index],), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def _run(self, out: list[Sample]) -> None:
        session = requests.Session()
        target = f"{self.url}/v2/models/{self.model}/infer"
        while not self._stop.is_set():
            sent = time.time()
            try:
                response = session.post(target, json=self.body, timeout=10)
                received = time.time()
                if response.status_code == 200:
                    out.append(Sample(sent, received, float(response.json()["outputs"][0]["data"][0]), None))
                else:
                    out.append(Sample(sent, received, None, f"{response.status_code} {response.text[:200]}"))
            except requests.RequestException as exc:
                out.append(Sample(sent, time.time(), None, repr(exc)))

    def stop(self) -> list[Sample]:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=15)
        return sorted((s for thread in self.samples for s in thread), key=lambda s: s.sent)

    def all(self) -> list[Sample]:
        return sorted((s for thread in self.samples for s in list(thread)), key=lambda s: s.sent)
