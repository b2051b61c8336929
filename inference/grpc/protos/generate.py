"""`make protos`: generate the Python modules of the .proto files in this folder with grpcio-tools.

The modules register their messages in a private descriptor pool (`_pool.POOL`), not in protobuf's default
one: tritonclient and ovmsclient register the same message names (`inference.ModelInferRequest`,
`tensorflow.TensorProto`) from their own files, and the default pool refuses a second definition, so a
process that imports both (a test, a notebook) would fail.
"""

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def main() -> int:
    protos = sorted(str(path.relative_to(ROOT)) for path in HERE.glob("*.proto"))
    for stale in HERE.glob("*_pb2.py*"):
        stale.unlink()
    command = [sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.", "--pyi_out=.", *protos]
    subprocess.run(command, cwd=ROOT, check=True)
    for module in HERE.glob("*_pb2.py"):
        text = module.read_text()
        text, count = re.subn(r"_descriptor_pool\.Default\(\)", "_pool.POOL", text)
        if count != 1:
            raise SystemExit(f"{module.name}: expected one default pool, found {count}")
        text = text.replace(
            "from google.protobuf.internal import builder as _builder\n",
            "from google.protobuf.internal import builder as _builder\nfrom inference.grpc.protos import _pool\n",
            1,
        )
        module.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
