"""The helpers the README's lifecycle walk-through runs: a padded model ZIP and the throttled file server CLI."""

import hashlib
import subprocess
import sys
import zipfile

import requests

from tests.live import ROOT, free_port
from tests.modelfiles import main as modelfiles_main


def test_a_padded_constant_model_and_the_file_server_that_serves_it(tmp_path):
    archive = tmp_path / "remote.zip"
    assert modelfiles_main(["constant", "--value", "1", "--pad-mb", "1", str(archive)]) == 0
    with zipfile.ZipFile(archive) as zipped:
        assert {"model.xml", "model.bin", "extra/padding.dat"} <= set(zipped.namelist())
        assert zipped.getinfo("extra/padding.dat").file_size == 1_000_000

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.lifecycle.fileserver", "--port", str(port), str(archive)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url, _, digest = server.stdout.readline().split()  # "<url>  sha256 <hex>"
        assert url == f"http://127.0.0.1:{port}/remote.zip"
        assert digest == hashlib.sha256(archive.read_bytes()).hexdigest()
        server.stdout.readline()  # "2 MB/s, Ctrl-C stops it.", once it serves
        tail = requests.get(url, headers={"Range": "bytes=1000000-"}, timeout=10)
        assert tail.status_code == 206 and tail.content == archive.read_bytes()[1_000_000:]
    finally:
        server.terminate()
        server.wait(timeout=10)
