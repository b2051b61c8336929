"""Test settings: the real settings, with all local state in a fresh temporary folder."""

import os
import tempfile

os.environ.setdefault("MODELHUB_DATA_DIR", tempfile.mkdtemp(prefix="modelhub-test-"))
# Tests of everything but access run without keys (tests/access/ switches the mode per test).
os.environ.setdefault("MODELHUB_AUTH", "off")

from config.settings import *  # noqa: E402,F403

# Login throttling stays out of the way of Client.login() (axes needs a request); its own test enables it.
AXES_ENABLED = False
