"""modelhub settings: everything is read from environment variables here, nowhere else.

Embedded defaults (SQLite in WAL mode, local files, in-memory channel layer, django-q2 on the ORM broker)
switch to PostgreSQL (DATABASE_URL), S3 (MODELHUB_S3_BUCKET) and Redis (REDIS_URL) without code changes.
"""

import hashlib
import ipaddress
import os
import secrets
import socket
from pathlib import Path

import dj_database_url

from config.env import ConfigurationError, env_bool, env_float, env_int, env_list, env_path, env_str
from config.redis import channel_layer as redis_channel_layer

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Local state: database, artifacts, model cache, logs, temporary uploads -----------------------------
DATA_DIR = env_path("MODELHUB_DATA_DIR", BASE_DIR / "data")
ARTIFACTS_DIR = env_path("MODELHUB_ARTIFACTS_DIR", DATA_DIR / "artifacts")  # a shared disk (NFS) also works
MODEL_CACHE_DIR = env_path("MODELHUB_MODEL_CACHE_DIR", DATA_DIR / "models")
LOG_DIR = DATA_DIR / "logs"
UPLOAD_TEMP_DIR = DATA_DIR / "tmp"
STATIC_ROOT = DATA_DIR / "static"
for _directory in (DATA_DIR, ARTIFACTS_DIR, MODEL_CACHE_DIR, LOG_DIR, UPLOAD_TEMP_DIR, STATIC_ROOT):
    _directory.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """DJANGO_SECRET_KEY, else a key generated once and kept in the data folder (sessions survive restarts)."""
    configured = env_str("DJANGO_SECRET_KEY")
    if configured:
        return configured
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)

# --- Access (docs/security.md) ---------------------------------------------------------------------------
# HOST is the address the server binds to (config/run.py); on loopback the API may run without keys.
LISTEN_HOST = env_str("HOST", "127.0.0.1")
LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]", "::1"]


def _is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


LISTENS_ON_LOOPBACK = _is_loopback(LISTEN_HOST)
MODELHUB_AUTH = env_str("MODELHUB_AUTH", "off" if LISTENS_ON_LOOPBACK else "writes").lower()
if MODELHUB_AUTH not in {"off", "writes", "all"}:
    raise ConfigurationError(f"MODELHUB_AUTH must be off, writes or all, got {MODELHUB_AUTH!r}")
if MODELHUB_AUTH == "off" and not LISTENS_ON_LOOPBACK:
    raise ConfigurationError(
        f"MODELHUB_AUTH=off is only allowed when the server binds to loopback, but HOST={LISTEN_HOST!r}: "
        "use MODELHUB_AUTH=writes (or all) and create keys with `manage.py create_api_key`"
    )
MODELHUB_METRICS_SCOPE = env_str("MODELHUB_METRICS_SCOPE", "read").lower()
if MODELHUB_METRICS_SCOPE not in {"open", "read", "infer", "admin"}:
    raise ConfigurationError(
        f"MODELHUB_METRICS_SCOPE must be open, read, infer or admin, got {MODELHUB_METRICS_SCOPE!r}"
    )
MODELHUB_KEY_CACHE_SECONDS = env_float("MODELHUB_KEY_CACHE_SECONDS", 10.0)
MODELHUB_GRPC_SCOPES_MODULE = env_str("MODELHUB_GRPC_SCOPES_MODULE", "inference.grpc")

# Host names clients may use. Loopback names always; on another address the operator names the others
# (DJANGO_ALLOWED_HOSTS, '*' accepts any, which also gives up the DNS-rebinding protection).


def _bound_host_names(host: str, configured: list[str]) -> list[str]:
    """The bound address itself is a name clients may use; binding to every address needs explicit names."""
    if LISTENS_ON_LOOPBACK:
        return []
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return [host]  # a host name
    if address.is_unspecified:
        if not configured:
            raise ConfigurationError(
                f"HOST={host!r} listens on every address: set DJANGO_ALLOWED_HOSTS to the names clients "
                "use (e.g. modelhub.example.com,10.0.0.5), or '*' to accept any Host header"
            )
        return []
    return [f"[{address}]" if address.version == 6 else str(address)]


_configured_hosts = env_list("DJANGO_ALLOWED_HOSTS", [])
ALLOWED_HOSTS = [*LOOPBACK_NAMES, *_bound_host_names(LISTEN_HOST, _configured_hosts), *_configured_hosts]
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# Behind a TLS-terminating proxy (docs/security.md): secure cookies, HSTS, trust X-Forwarded-Proto.
MODELHUB_HTTPS = env_bool("MODELHUB_HTTPS", False)
if MODELHUB_HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("MODELHUB_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("MODELHUB_HSTS_INCLUDE_SUBDOMAINS", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"


def _proxy_networks(values: list[str]) -> list[str]:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigurationError(
                f"MODELHUB_FORWARDED_ALLOW_IPS takes the proxies' addresses or CIDRs (comma-separated), got {value!r}"
            ) from None
    return values


# Client addresses: X-Forwarded-For/-Proto are taken only from these proxies (config/serve.py hands the list to
# uvicorn's proxy headers); empty (the default) trusts no one, so the address is always the TCP peer's.
FORWARDED_ALLOW_IPS = _proxy_networks(env_list("MODELHUB_FORWARDED_ALLOW_IPS", []))

# Admin login throttling (django-axes): 5 failures for one user name (from any address), or from one address
# (for any user names), lock out for 15 minutes. The address is REMOTE_ADDR, which only a configured proxy can
# change (above): rotating X-Forwarded-For gains nothing.
AXES_FAILURE_LIMIT = env_int("MODELHUB_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_float("MODELHUB_LOGIN_LOCKOUT_MINUTES", 15.0) / 60
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "access/lockout.html"
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

INSTALLED_APPS = [
    "console",  # before the admin: its admin/base_site.html frames every admin page
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "channels",
    "axes",
    "access",
    "registry",
    "geti",
    "inference",
    "inference.lifecycle",
    "deployments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "access.middleware.RequestContextMiddleware",
    "access.middleware.BrowserGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "access.middleware.AccessPolicyMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_path("MODELHUB_SQLITE_PATH", DATA_DIR / "modelhub.sqlite3"),
            "OPTIONS": {
                # WAL lets readers run beside the writer (web processes + worker); IMMEDIATE transactions
                # take the write lock up front so concurrent writers wait instead of failing mid-way.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Storage of artifacts (local disk by default, S3 when a bucket is configured) ------------------------
S3_BUCKET = env_str("MODELHUB_S3_BUCKET")
if S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("MODELHUB_S3_ENDPOINT_URL") or None,
            "region_name": env_str("MODELHUB_S3_REGION") or None,
            "access_key": env_str("MODELHUB_S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("MODELHUB_S3_SECRET_ACCESS_KEY") or None,
            "location": env_str("MODELHUB_S3_PREFIX"),
            "file_overwrite": False,
            "querystring_auth": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": ARTIFACTS_DIR, "base_url": None},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

STATIC_URL = "static/"
WHITENOISE_USE_FINDERS = True  # serve admin and Swagger/Redoc assets straight from the packages

# Uploads: bodies bigger than this spill to disk in the data folder (same disk as artifacts: a rename, not a copy).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(UPLOAD_TEMP_DIR)
FILE_UPLOAD_PERMISSIONS = 0o644
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MODELHUB_MAX_FORM_BYTES", 10 * 1024 * 1024, minimum=1024)
# Fields of a form (Django's own limit; also the multipart parts of an upload, the file part aside): 413 past it.
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("MODELHUB_MAX_FORM_FIELDS", 200, minimum=1)
# Values (arrays, objects, scalars) in one JSON body of the registry's API: a 422 past it, before parsing.
MAX_JSON_ITEMS = env_int("MODELHUB_MAX_JSON_ITEMS", 100_000, minimum=100)
# Headers of one multipart part (Content-Disposition, Content-Type, a few more tolerated) and their bytes: 413.
UPLOAD_MAX_PART_HEADERS = env_int("MODELHUB_MAX_PART_HEADERS", 8, minimum=2)
UPLOAD_MAX_PART_HEADER_BYTES = env_int("MODELHUB_MAX_PART_HEADER_BYTES", 8 * 1024, minimum=256)

# --- The HTTP server's own bounds (config/http_protocol.py), before any application code runs -----------
# A header block (request line included) larger or longer than this is a 431.
HTTP_MAX_HEADER_BYTES = env_int("MODELHUB_MAX_HEADER_BYTES", 32 * 1024, minimum=1024)
HTTP_MAX_HEADERS = env_int("MODELHUB_MAX_HEADERS", 100, minimum=8)
# A header block not complete this long after its first byte (or after the connection opened) is a 408.
HTTP_HEADER_TIMEOUT_SECONDS = env_float("MODELHUB_HEADER_TIMEOUT_SECONDS", 10.0)
# A request body that receives nothing for this long is a 408 and its connection is closed.
HTTP_BODY_IDLE_TIMEOUT_SECONDS = env_float("MODELHUB_BODY_IDLE_TIMEOUT_SECONDS", 30.0)
# Open connections from one client address, per server process (proxies in MODELHUB_FORWARDED_ALLOW_IPS are
# exempt); one more is answered 503 and closed.
HTTP_MAX_CONNECTIONS_PER_CLIENT = env_int("MODELHUB_MAX_CONNECTIONS_PER_CLIENT", 128, minimum=1)
# A WebSocket message a client sends (the progress sockets expect none, or a few bytes): larger closes with 1009.
HTTP_WS_MAX_MESSAGE_BYTES = env_int("MODELHUB_WS_MAX_MESSAGE_BYTES", 64 * 1024, minimum=1024)
for _name, _seconds in (
    ("MODELHUB_HEADER_TIMEOUT_SECONDS", HTTP_HEADER_TIMEOUT_SECONDS),
    ("MODELHUB_BODY_IDLE_TIMEOUT_SECONDS", HTTP_BODY_IDLE_TIMEOUT_SECONDS),
):
    if _seconds <= 0:
        raise ConfigurationError(f"{_name} must be a positive number of seconds, got {_seconds}")

# --- Registry limits -------------------------------------------------------------------------------------
REGISTRY_MAX_UPLOAD_BYTES = env_int("MODELHUB_MAX_UPLOAD_BYTES", 20 * 1024**3, minimum=1)
# Disk reserved (fallocate) by the uploads in flight in one server process, all together; one more is a 503.
REGISTRY_MAX_RESERVED_BYTES = env_int(
    "MODELHUB_UPLOADS_MAX_RESERVED_BYTES", 2 * REGISTRY_MAX_UPLOAD_BYTES, minimum=1
)
# Free space uploads never eat into: the larger of a fixed amount and a share of the disk (507 below it).
REGISTRY_DISK_FREE_FLOOR_BYTES = env_int("MODELHUB_DISK_FREE_FLOOR_BYTES", 1024**3, minimum=0)
REGISTRY_DISK_FREE_FLOOR_RATIO = env_float("MODELHUB_DISK_FREE_FLOOR_RATIO", 0.05)
if not 0 <= REGISTRY_DISK_FREE_FLOOR_RATIO < 1:
    raise ConfigurationError(
        f"MODELHUB_DISK_FREE_FLOOR_RATIO is a share of the disk, 0 to 1 (0.05 is 5 %), got {REGISTRY_DISK_FREE_FLOOR_RATIO}"
    )
# An upload that sends nothing for this long is closed (408) and its disk reservation released.
UPLOAD_IDLE_TIMEOUT_SECONDS = env_float(
    "MODELHUB_UPLOAD_IDLE_TIMEOUT_SECONDS", HTTP_BODY_IDLE_TIMEOUT_SECONDS
)
REGISTRY_ZIP_MAX_ENTRIES = env_int("MODELHUB_ZIP_MAX_ENTRIES", 10_000, minimum=1)
REGISTRY_ZIP_MAX_UNCOMPRESSED_BYTES = env_int("MODELHUB_ZIP_MAX_UNCOMPRESSED_BYTES", 64 * 1024**3, minimum=1)

# --- Channels: in-memory for one process, Redis to cross processes and hosts -----------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}  # connection options: config/redis.py
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- django-q2: background work (downloads, imports, deployments) ---------------------------------------
# Our own task tables are the source of truth; django-q2 only delivers. Retries are explicit so a failing
# task is not redelivered forever: `retry` must exceed `timeout`, and one redelivery after a crash.
Q_TIMEOUT = env_int("MODELHUB_TASK_TIMEOUT", 6 * 3600, minimum=10)
Q_CLUSTER = {
    "name": "modelhub",
    "workers": env_int("MODELHUB_WORKERS", 2, minimum=1),
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 60,
    "max_attempts": env_int("MODELHUB_TASK_MAX_ATTEMPTS", 2, minimum=1),
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": env_float("MODELHUB_TASK_POLL_SECONDS", 0.2),
    "label": "Background tasks",
}
# URL downloads have a queue and a cluster of their own (config/worker.py starts both): a slow source can hold
# every download worker, never the workers that run deployments and Geti imports.
DOWNLOAD_QUEUE = "modelhub-downloads"
Q_CLUSTER["ALT_CLUSTERS"] = {DOWNLOAD_QUEUE: {"workers": env_int("MODELHUB_DOWNLOAD_WORKERS", 1, minimum=1)}}
if REDIS_URL and env_str("MODELHUB_TASK_BROKER", "orm") == "redis":
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Inference -------------------------------------------------------------------------------------------
MODEL_CONFIG_PATH = env_str("MODEL_CONFIG_PATH")
INFERENCE_DEFAULT_DEVICE = env_str("MODELHUB_TARGET_DEVICE", "CPU")
INFERENCE_MAX_REQUEST_BYTES = env_int("MODELHUB_MAX_INFER_REQUEST_BYTES", 256 * 1024**2, minimum=1024)
INFERENCE_RECONCILE_SECONDS = env_float("MODELHUB_RECONCILE_SECONDS", 0.5)
INFERENCE_HEARTBEAT_SECONDS = env_float("MODELHUB_HEARTBEAT_SECONDS", 1.0)
INFERENCE_STALE_SECONDS = env_float("MODELHUB_STALE_PROCESS_SECONDS", 10.0)
INFERENCE_TIMEOUT_SECONDS = env_float("MODELHUB_INFERENCE_TIMEOUT_SECONDS", 60.0)
# Shadow deployments: copies of requests running on the candidate at once per server process; more are dropped
# (and counted in modelhub_shadow_copies{outcome="dropped"}), so a slow candidate never piles up work.
INFERENCE_SHADOW_MAX_IN_FLIGHT = env_int("MODELHUB_SHADOW_MAX_IN_FLIGHT", 4)
INFERENCE_DEFAULT_PLUGIN_CONFIG = {"PERFORMANCE_HINT": env_str("MODELHUB_PERFORMANCE_HINT", "THROUGHPUT")}
# Per-request bounds of the inference protocols (DESIGN.md section 11, inference/protocols/limits.py).
# A compressed JSON body may inflate to at most MAX_JSON_BYTES, and (beyond its first MiB) to at most RATIO times
# its compressed size; a body with binary tensors only to MODELHUB_MAX_INFER_REQUEST_BYTES (no Python objects).
INFERENCE_MAX_JSON_BYTES = env_int("MODELHUB_MAX_INFER_JSON_BYTES", 64 * 1024**2, minimum=1024)
INFERENCE_MAX_DECOMPRESSION_RATIO = env_int("MODELHUB_MAX_DECOMPRESSION_RATIO", 100, minimum=1)
# JSON values (numbers, strings, lists, objects) one request may carry when the model's inputs do not bound
# them (a dynamic dimension); also the BYTES elements of one input. Each becomes a Python object (~30-100 bytes)
# when parsed, so this bounds the memory of a parse (~100 MiB at the default).
INFERENCE_MAX_JSON_VALUES = env_int("MODELHUB_MAX_INFER_JSON_VALUES", 1024**2, minimum=1024)
# Images sent as BYTES to a 4-D input: each may have at most FACTOR times the pixels the input takes (its
# height x width), and never more than MAX_PIXELS; the images of one request at most MAX_PIXELS together.
# Decoding runs in a pool of IMAGE_DECODE_THREADS threads, off the event loop.
INFERENCE_IMAGE_PIXEL_FACTOR = env_int("MODELHUB_IMAGE_PIXEL_FACTOR", 64, minimum=1)
INFERENCE_IMAGE_MAX_PIXELS = env_int("MODELHUB_IMAGE_MAX_PIXELS", 4096 * 4096, minimum=1)
INFERENCE_IMAGE_DECODE_THREADS = env_int("MODELHUB_IMAGE_DECODE_THREADS", 2, minimum=1)
# Prometheus multiprocess mode: every server process writes here and /metrics reads all. prometheus_client
# reads PROMETHEUS_MULTIPROC_DIR when first imported (django-q2 imports it while apps load), so it is set
# here, always from this process's own data folder (an inherited value may belong to another instance).
INFERENCE_METRICS_DIR = env_path("MODELHUB_METRICS_DIR", DATA_DIR / "metrics")
INFERENCE_METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(INFERENCE_METRICS_DIR)

# Inference traffic for the operator console: each server process stores its counts every TRAFFIC_SECONDS;
# rows are kept TRAFFIC_KEEP_SECONDS (inference/traffic.py).
TRAFFIC_SECONDS = env_float("MODELHUB_TRAFFIC_SECONDS", 10.0)
TRAFFIC_KEEP_SECONDS = env_float("MODELHUB_TRAFFIC_KEEP_SECONDS", 3600.0)
# gRPC (KServe v2 and TF Serving APIs) in every server process, sharing the port (SO_REUSEPORT): 0 turns it off.
GRPC_PORT = env_int("GRPC_PORT", 9000, minimum=0)
GRPC_HOST = env_str("GRPC_HOST", env_str("HOST", "127.0.0.1"))
# OVMS accepts and sends messages up to 1 GiB.
GRPC_MAX_MESSAGE_BYTES = env_int("MODELHUB_GRPC_MAX_MESSAGE_BYTES", 1024**3, minimum=1024)
# Compressed request messages (grpc-encoding gzip/deflate) are refused unless an operator turns them on; then
# every received message, compressed or not, is limited to GRPC_MAX_DECOMPRESSED_BYTES once decompressed (gRPC
# has one receive limit, applied after decompression): 32 KiB of gzip can otherwise inflate to the 1 GiB limit.
GRPC_REQUEST_COMPRESSION = env_bool("MODELHUB_GRPC_REQUEST_COMPRESSION", False)
GRPC_MAX_DECOMPRESSED_BYTES = env_int("MODELHUB_GRPC_MAX_DECOMPRESSED_BYTES", 64 * 1024**2, minimum=1024)

# --- LLM, embedding and rerank serving (/v3, inference/genai/) -------------------------------------------
GENAI_MAX_REQUEST_BYTES = env_int("MODELHUB_V3_MAX_REQUEST_BYTES", 4 * 1024**2, minimum=1024)
# Requests in flight per LLM version and server process (queued in the continuous-batching scheduler); one more
# is refused with 503 at once, as OVMS and Ollama do.
GENAI_MAX_QUEUE = env_int("MODELHUB_LLM_MAX_QUEUE", 64, minimum=1)
# KV-cache size in GB per LLM version and server process (SchedulerConfig.cache_size; a deployment's
# `config.scheduler` overrides it).
GENAI_KV_CACHE_GB = env_int("MODELHUB_LLM_KV_CACHE_GB", 1, minimum=1)
# max_tokens when a request gives none: until EOS, but never more than this.
GENAI_DEFAULT_MAX_TOKENS = env_int("MODELHUB_LLM_DEFAULT_MAX_TOKENS", 4096, minimum=1)
GENAI_MAX_MESSAGES = env_int("MODELHUB_LLM_MAX_MESSAGES", 1024, minimum=1)
GENAI_MAX_EMBEDDING_INPUTS = env_int("MODELHUB_EMBEDDINGS_MAX_INPUTS", 500, minimum=1)  # OVMS's default
GENAI_MAX_RERANK_DOCUMENTS = env_int("MODELHUB_RERANK_MAX_DOCUMENTS", 100, minimum=1)  # OVMS's default
# OpenVINO's compiled-model cache (OVMS's --cache_dir), off by default: no gain measured on CPU, and a server
# process died once when two processes loaded a new LLM version into one cache (docs/llm.md).
INFERENCE_COMPILED_CACHE_DIR = env_str("MODELHUB_COMPILED_CACHE_DIR", "")

# --- Model lifecycle: downloads into this node's model cache ---------------------------------------------
LIFECYCLE_CONNECT_TIMEOUT = env_float("MODELHUB_DOWNLOAD_CONNECT_TIMEOUT", 10.0)
LIFECYCLE_READ_TIMEOUT = env_float("MODELHUB_DOWNLOAD_READ_TIMEOUT", 30.0)
LIFECYCLE_RETRIES = env_int("MODELHUB_DOWNLOAD_RETRIES", 3, minimum=0)
LIFECYCLE_STALE_SECONDS = env_float("MODELHUB_DOWNLOAD_STALE_SECONDS", 15.0)
LIFECYCLE_MAX_RESUMES = env_int("MODELHUB_DOWNLOAD_MAX_RESUMES", 3, minimum=0)
LIFECYCLE_LOAD_WAIT_SECONDS = env_float("MODELHUB_LOAD_WAIT_SECONDS", 60.0)

# --- Outbound fetches of source_url (registry/outbound.py): public addresses only, unless allowed here ----
SOURCE_URL_ALLOW = env_list("MODELHUB_SOURCE_URL_ALLOW", [])  # host names and CIDRs, comma-separated
SOURCE_URL_MAX_BYTES = env_int("MODELHUB_SOURCE_URL_MAX_BYTES", REGISTRY_MAX_UPLOAD_BYTES, minimum=1)
SOURCE_URL_MAX_SECONDS = env_float("MODELHUB_SOURCE_URL_MAX_SECONDS", 3600.0)
# A source slower than this on average over each window is given up (a server that sends a byte every few
# seconds never hits the read timeout and would hold a worker until MODELHUB_SOURCE_URL_MAX_SECONDS).
SOURCE_URL_MIN_BYTES_PER_SECOND = env_int("MODELHUB_SOURCE_URL_MIN_BYTES_PER_SECOND", 32 * 1024, minimum=0)
SOURCE_URL_RATE_WINDOW_SECONDS = env_float("MODELHUB_SOURCE_URL_RATE_WINDOW_SECONDS", 60.0)

# --- Nodes: one model cache on one host; its server processes do its node-local work (lifecycle/nodes.py) ---
# The name is shown to readers (progress frames, the lifecycle snapshot): the operator's choice, else one derived
# from host name and cache folder that reveals neither (the node agent logs which host and folder it stands for).
NODE_IDENTITY = f"{socket.gethostname()}:{MODEL_CACHE_DIR.resolve()}"
NODE_NAME = env_str("MODELHUB_NODE_NAME") or f"node-{hashlib.sha256(NODE_IDENTITY.encode()).hexdigest()[:12]}"
if len(NODE_NAME) > 255:
    raise ConfigurationError("MODELHUB_NODE_NAME must be at most 255 characters")
NODE_SYNC_SECONDS = env_float("MODELHUB_NODE_SYNC_SECONDS", 1.0)

# --- Geti ------------------------------------------------------------------------------------------------
GETI_HOST = env_str("GETI_HOST")
GETI_TOKEN = env_str("GETI_TOKEN")
GETI_SERVER_API_VERSION = env_str("GETI_SERVER_API_VERSION")
GETI_ORGANIZATION_ID = env_str("GETI_ORGANIZATION_ID")
GETI_WORKSPACE_ID = env_str("GETI_WORKSPACE_ID")
GETI_VERIFY_SSL = env_bool("GETI_VERIFY_SSL", True)
GETI_TIMEOUT_SECONDS = env_float("GETI_TIMEOUT_SECONDS", 30.0)
GETI_RETRIES = env_int("GETI_RETRIES", 3, minimum=0)
GETI_RETRY_BACKOFF_SECONDS = env_float("GETI_RETRY_BACKOFF_SECONDS", 0.5)
GETI_EXPORT_DEADLINE_SECONDS = env_float("GETI_EXPORT_DEADLINE_SECONDS", 600.0)
# POST .../geti-models/download waits this long for the background import before answering 202 + Location.
GETI_IMPORT_WAIT_SECONDS = env_float("GETI_IMPORT_WAIT_SECONDS", 30.0)

# --- API -------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.drf.BearerKeyAuthentication",
        "access.drf.SessionPrincipalAuthentication",
    ],
    # Deny by default: a view without an `access_policy` dict is refused (access/drf.py).
    "DEFAULT_PERMISSION_CLASSES": ["access.drf.AccessPolicyPermission"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "config.errors.exception_handler",
    "VIEW_NAME_FUNCTION": "config.view_names.view_name",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "modelhub",
    "DESCRIPTION": (
        "Model registry, Geti import, model lifecycle, green deployments and OpenVINO serving over the "
        "TensorFlow-Serving and KServe v2 REST protocols."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs views obey the access policy like every other view (their own default is AllowAny).
    "SERVE_PERMISSIONS": ["access.drf.AccessPolicyPermission"],
    "SERVE_AUTHENTICATION": None,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Logging: console and a rotating file in the data folder ---------------------------------------------
LOG_LEVEL = env_str("MODELHUB_LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ConfigurationError(f"MODELHUB_LOG_LEVEL must be a logging level name, got {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "file": {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": LOG_DIR / "modelhub.log",
            "formatter": "plain",
        },
    },
    "root": {"handlers": ["console", "file"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Per-process services started by the ASGI server's lifespan (see config/lifespan.py) ------------------
ASGI_STARTUP_HOOKS: list[str] = []
ASGI_SHUTDOWN_HOOKS: list[str] = []
ASGI_STARTUP_HOOKS.append("inference.runtime.startup")
ASGI_SHUTDOWN_HOOKS.append("inference.runtime.shutdown")
ASGI_STARTUP_HOOKS.append("inference.traffic.startup")
ASGI_SHUTDOWN_HOOKS.append("inference.traffic.shutdown")
ASGI_STARTUP_HOOKS.append("inference.lifecycle.nodes.startup")
ASGI_SHUTDOWN_HOOKS.append("inference.lifecycle.nodes.shutdown")
ASGI_STARTUP_HOOKS.append("inference.grpc.server.startup")
ASGI_SHUTDOWN_HOOKS.insert(0, "inference.grpc.server.shutdown")

# --- Deployments -----------------------------------------------------------------------------------------
# A processing task whose worker has not heartbeated for this long is failed (and its staging undone).
DEPLOYMENT_STALE_SECONDS = env_float("MODELHUB_DEPLOYMENT_STALE_SECONDS", 30.0)
