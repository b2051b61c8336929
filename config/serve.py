"""The ASGI server of `make run`, the tests and the benchmarks: uvicorn's own command line, plus one tuning
that uvicorn has no option for.

uvicorn stops reading a request body from the socket once 64 KiB of it wait for the application. For a
1 GiB model upload that means ~16,000 pause/resume cycles and as many small pieces through the ASGI receive
loop; a 1 MiB window per connection cuts the event loop's share of an upload by about a tenth (see README,
Benchmarks). The module-level assignment also runs in each worker process, which re-imports this module.
"""

import signal
import sys

from uvicorn.main import main
from uvicorn.protocols.http import h11_impl, httptools_impl

from config.processes import die_with_parent

REQUEST_BODY_WINDOW = 1024 * 1024

for _protocol in (httptools_impl, h11_impl):
    if hasattr(_protocol, "HIGH_WATER_LIMIT"):
        _protocol.HIGH_WATER_LIMIT = REQUEST_BODY_WINDOW

if __name__ == "__mp_main__":  # a worker process of `--workers N`, spawned by uvicorn's supervisor
    die_with_parent(signal.SIGTERM)

if __name__ == "__main__":
    sys.exit(main())
