"""deploy/kubernetes without a cluster: every overlay renders (`kubectl kustomize`), every object is valid against
Kubernetes' own schemas (kubernetes-validate, offline), and what the manifests set matches what the code reads:
variable names, ports, probe paths, roles, writable folders, metric names."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.urls import resolve as resolve_django
from kubernetes_validate import utils as kubernetes_validate

from access.policy import OPEN
from config import run
from inference import metrics
from inference.protocols.routing import SCOPE_OF_KIND, Kind
from inference.protocols.routing import resolve as resolve_lean
from tests.deploy.code_reads import ROOT, default_of, environment_reads
from tests.deploy.containerfile import image_environment

OVERLAYS = sorted(path.name for path in (ROOT / "deploy" / "kubernetes" / "overlays").iterdir())
KUBERNETES_VERSION = "1.30"  # the oldest release the manifests promise to work on
# Set in the manifests, read by no code of ours: Kubernetes fills them in and DJANGO_ALLOWED_HOSTS is built from
# them ($(VAR) expansion). Each must still be used, or the exemption is stale.
KUBERNETES_ONLY = {
    "POD_IP": "the pod's address, a Host that probes and Prometheus scrapes send",
    "POD_NAMESPACE": "for the Services' in-cluster names in DJANGO_ALLOWED_HOSTS",
    "INGRESS_HOSTS": "the public names, the operator's setting, joined into DJANGO_ALLOWED_HOSTS",
}
READS = environment_reads()


def kubectl() -> str:
    found = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("kubectl (with its built-in kustomize, v5) is needed to render deploy/kubernetes")
    return found


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    overlay = ROOT / "deploy" / "kubernetes" / "overlays" / request.param
    result = subprocess.run(
        [kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [obj for obj in yaml.safe_load_all(result.stdout) if obj]


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    return found


def workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return of_kind(objects, "Deployment") + of_kind(objects, "Job")


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def environment(objects: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The container's variables as the pod gets them: envFrom ConfigMaps first, then env (fieldRefs as '<field>')."""
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        values.update(named(objects, "ConfigMap", source["configMapRef"]["name"]).get("data", {}))
    for variable in container.get("env", []):
        values[variable["name"]] = variable.get("value", f"<{variable.get('valueFrom')}>")
    return values


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def server(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = named(objects, "Deployment", "modelhub-server")
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "server"]
    return deployment, container


def test_every_object_is_valid_for_kubernetes(rendered: list[dict[str, Any]]) -> None:
    checked = 0
    for obj in rendered:
        if obj["kind"] == "ServiceMonitor":  # a CRD: test_the_service_monitor_scrapes_metrics checks it
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        checked += 1
    kinds = {obj["kind"] for obj in rendered}
    assert {"Deployment", "Job", "Service", "Ingress", "PodDisruptionBudget", "NetworkPolicy"} <= kinds
    assert checked >= 10


def test_every_variable_set_is_one_the_code_reads(rendered: list[dict[str, Any]]) -> None:
    used_exemptions = set()
    for workload in workloads(rendered):
        for container in containers(workload):
            for name, value in environment(rendered, container).items():
                if name in KUBERNETES_ONLY:
                    used_exemptions.add(name)
                elif name.endswith("_FILE"):
                    secret = name.removesuffix("_FILE")
                    assert secret in READS, f"{name}: the code reads no {secret}"
                    assert all(read.file_supported for read in READS[secret]), (
                        f"{name}: {secret} is read without config/env.py somewhere, so {name} is ignored there"
                    )
                    assert value.startswith("/run/secrets/modelhub/")
                else:
                    assert name in READS, (
                        f"{workload['metadata']['name']}/{container['name']}: no code reads {name}"
                    )
    assert used_exemptions == set(KUBERNETES_ONLY), "stale exemptions in KUBERNETES_ONLY"


def test_secrets_come_from_files_of_a_mounted_secret_and_never_from_values(
    rendered: list[dict[str, Any]],
) -> None:
    assert not of_kind(rendered, "Secret"), "credentials are the operator's Secret, never in the manifests"
    for workload in workloads(rendered):
        spec = workload["spec"]["template"]["spec"]
        secret_volumes = {volume["name"] for volume in spec["volumes"] if "secret" in volume}
        for container in containers(workload):
            env = environment(rendered, container)
            for secret in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "MODELHUB_S3_SECRET_ACCESS_KEY"):
                assert secret not in env and f"{secret}_FILE" in env
            mounts = {
                m["mountPath"]: m["name"] for m in container["volumeMounts"] if m["name"] in secret_volumes
            }
            for name, value in env.items():
                if name.endswith("_FILE"):
                    assert str(Path(value).parent) in mounts, f"{name}={value} is not in a mounted Secret"


def test_ports_match_the_code_and_the_services(rendered: list[dict[str, Any]]) -> None:
    _, container = server(rendered)
    env = environment(rendered, container)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": int(env["PORT"]), "grpc": int(env["GRPC_PORT"])}
    # the code's defaults too: the image (EXPOSE, HEALTHCHECK) and the docs assume them
    assert ports == {"http": int(default_of("PORT", READS)), "grpc": int(default_of("GRPC_PORT", READS))}
    assert env["HOST"] == "0.0.0.0"
    labels = named(rendered, "Deployment", "modelhub-server")["spec"]["template"]["metadata"]["labels"]
    services = {svc["metadata"]["name"]: svc for svc in of_kind(rendered, "Service")}
    assert set(services) == {"modelhub-http", "modelhub-grpc"}
    for service in services.values():
        assert matches(service["spec"]["selector"], labels)
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports and port["port"] == ports[port["targetPort"]]
    for ingress in of_kind(rendered, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = services[backend["name"]]
                assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}
    grpc = named(rendered, "Ingress", "modelhub-grpc")
    assert grpc["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPC"


def test_probes_use_the_health_routes_of_the_code(rendered: list[dict[str, Any]]) -> None:
    from django.conf import settings

    from registry.apis import HealthApi

    _, container = server(rendered)
    probes = {
        kind: container[kind]["httpGet"] for kind in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    for probe in probes.values():
        assert probe["port"] == "http"
        (host,) = [header["value"] for header in probe["httpHeaders"] if header["name"] == "Host"]
        assert host in settings.LOOPBACK_NAMES  # always an allowed host, whatever DJANGO_ALLOWED_HOSTS says
    # liveness: no I/O (the lean path); startup: this process has loaded its models; readiness: database + storage
    assert resolve_lean("GET", probes["livenessProbe"]["path"]).kind is Kind.KFS_LIVE
    assert resolve_lean("GET", probes["startupProbe"]["path"]).kind is Kind.KFS_READY
    assert SCOPE_OF_KIND[Kind.KFS_LIVE] == SCOPE_OF_KIND[Kind.KFS_READY] == "open"
    match = resolve_django(probes["readinessProbe"]["path"])
    assert match.url_name == "health" and match.func.view_class is HealthApi
    assert HealthApi.access_policy["GET"] is OPEN
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600, "model loads may take minutes"


def test_roles_and_migrations(rendered: list[dict[str, Any]]) -> None:
    roles = {}
    for deployment in of_kind(rendered, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            env = environment(rendered, container)
            assert env["MODELHUB_ROLE"] in run.ROLES
            assert env["MODELHUB_MIGRATE"].lower() in {"0", "false", "no", "off"}
            roles[deployment["metadata"]["name"]] = env["MODELHUB_ROLE"]
    assert roles == {"modelhub-server": "server", "modelhub-worker": "worker"}
    assert run.role_from([], {"MODELHUB_ROLE": "server"}) == "server"  # the variable run.py obeys
    job = named(rendered, "Job", "modelhub-migrate")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    (wait,) = named(rendered, "Deployment", "modelhub-server")["spec"]["template"]["spec"]["initContainers"]
    assert "manage.py migrate --check" in " ".join(wait["command"])


def test_pods_run_unprivileged_on_a_read_only_root(rendered: list[dict[str, Any]]) -> None:
    for workload in workloads(rendered):
        spec = workload["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        assert spec["automountServiceAccountToken"] is False
        for container in containers(workload):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert "memory" in container["resources"]["limits"]


def test_every_folder_the_code_writes_is_a_mounted_volume(rendered: list[dict[str, Any]]) -> None:
    writable = (
        "MODELHUB_DATA_DIR",
        "MODELHUB_MODEL_CACHE_DIR",
        "MODELHUB_COMPILED_CACHE_DIR",
        "MODELHUB_METRICS_DIR",
    )
    for workload in workloads(rendered):
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        for container in containers(workload):
            env = environment(rendered, container)
            mounted = [
                Path(m["mountPath"])
                for m in container["volumeMounts"]
                if not m.get("readOnly")
                and ("emptyDir" in volumes[m["name"]] or "persistentVolumeClaim" in volumes[m["name"]])
            ]
            for path in [Path(env[name]) for name in writable] + [Path("/tmp")]:
                assert any(path == mount or mount in path.parents for mount in mounted), (
                    f"{workload['metadata']['name']}/{container['name']}: {path} is on the read-only root"
                )


def test_rolling_upgrades_drain_before_the_server_stops(rendered: list[dict[str, Any]]) -> None:
    deployment, container = server(rendered)
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0
    preStop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert preStop[0] == "sleep" and int(preStop[1]) >= 5
    # after preStop, config.run gives its children STOP_SECONDS; Kubernetes must not kill before that
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > int(preStop[1]) + run.STOP_SECONDS
    budget = named(rendered, "PodDisruptionBudget", "modelhub-server")
    assert matches(
        budget["spec"]["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"]
    )


def test_the_service_monitor_scrapes_metrics(rendered: list[dict[str, Any]]) -> None:
    (monitor,) = of_kind(rendered, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    (service,) = [
        svc
        for svc in of_kind(rendered, "Service")
        if matches(monitor["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
    ]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert resolve_lean("GET", endpoint["path"]).kind is Kind.METRICS
    # /metrics needs a key unless MODELHUB_METRICS_SCOPE=open: the scrape sends one from the operator's Secret
    assert endpoint["authorization"]["credentials"]["name"] == "modelhub-metrics-key"


def test_autoscaling_targets_the_server_on_metrics_we_export(rendered: list[dict[str, Any]]) -> None:
    exported = {metric._name for metric in (metrics.current_requests, metrics.infer_req_queue_size)}
    for autoscaler in of_kind(rendered, "HorizontalPodAutoscaler"):
        assert autoscaler["spec"]["scaleTargetRef"]["name"] == "modelhub-server"
        for metric in autoscaler["spec"]["metrics"]:
            if metric["type"] == "Pods":
                assert metric["pods"]["metric"]["name"] in exported


def test_network_policy_admits_every_server_port(rendered: list[dict[str, Any]]) -> None:
    deployment, container = server(rendered)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    policies = [
        p
        for p in of_kind(rendered, "NetworkPolicy")
        if "Ingress" in p["spec"]["policyTypes"]
        and matches(p["spec"]["podSelector"].get("matchLabels", {}), labels)
    ]
    admitted = {
        port["port"] for p in policies for rule in p["spec"].get("ingress", []) for port in rule["ports"]
    }
    assert admitted == {port["name"] for port in container["ports"]}


# What Kubernetes fills in (fieldRef) and what the operator's Secret holds, for loading the settings below.
FIELD_SAMPLES = {"status.podIP": "10.1.2.3", "metadata.namespace": "modelhub"}
SECRET_SAMPLES = {
    "database-url": "postgres://modelhub:secret@postgres.example.com:5432/modelhub",
    "redis-url": "redis://redis.example.com:6379/0",
    "django-secret-key": "k" * 50,
    "s3-access-key-id": "AKIAEXAMPLE",
    "s3-secret-access-key": "example-secret",
    "geti-token": "",
}
SETTINGS_PROBE = """
import json
from django.conf import settings
print(json.dumps({
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS, "MODELHUB_AUTH": settings.MODELHUB_AUTH,
    "ENGINE": settings.DATABASES["default"]["ENGINE"], "SECRET_KEY": settings.SECRET_KEY,
    "CHANNEL_LAYER": settings.CHANNEL_LAYERS["default"]["BACKEND"], "STORAGE": settings.STORAGES["default"]["BACKEND"],
    "GRPC_PORT": settings.GRPC_PORT, "DATA_DIR": str(settings.DATA_DIR), "MODEL_CACHE_DIR": str(settings.MODEL_CACHE_DIR),
}))
"""


def pod_environment(
    objects: list[dict[str, Any]], workload: dict[str, Any], container: dict[str, Any], root: Path
) -> dict[str, str]:
    """The image's ENV overridden by the container's variables, $(VAR) references expanded as the kubelet does,
    fieldRefs and Secret files given sample values, and every mounted folder moved under `root`."""
    values = {name: value for name, value in image_environment().items() if name != "PATH"}
    for source in container.get("envFrom", []):
        values.update(named(objects, "ConfigMap", source["configMapRef"]["name"]).get("data", {}))
    for variable in container.get("env", []):
        if "valueFrom" in variable:
            values[variable["name"]] = FIELD_SAMPLES[variable["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            values[variable["name"]] = re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], variable["value"])
    volumes = {volume["name"]: volume for volume in workload["spec"]["template"]["spec"]["volumes"]}
    for mount in container["volumeMounts"]:
        local = root / mount["name"]
        local.mkdir(exist_ok=True)
        if "secret" in volumes[mount["name"]]:
            for key, sample in SECRET_SAMPLES.items():
                (local / key).write_text(sample + "\n")
        values = {name: value.replace(mount["mountPath"], str(local), 1) if value.startswith(mount["mountPath"])
                  else value for name, value in values.items()}  # fmt: skip
    return values


def test_the_settings_load_with_what_each_container_gets(
    rendered: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The image's ENV plus the pod's variables and files, exactly: a setting the code refuses (a missing
    DJANGO_ALLOWED_HOSTS for HOST=0.0.0.0, an unreadable *_FILE, a bad value) fails here, not in the cluster."""
    for workload in workloads(rendered):
        for container in containers(workload):
            root = tmp_path / workload["metadata"]["name"] / container["name"]
            root.mkdir(parents=True)
            env = {
                "PATH": os.environ["PATH"],
                "PYTHONPATH": str(ROOT),
                "DJANGO_SETTINGS_MODULE": "config.settings",
            }
            env |= pod_environment(rendered, workload, container, root)
            result = subprocess.run(
                [sys.executable, "-c", SETTINGS_PROBE],
                env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert result.returncode == 0, f"{where}: {result.stderr[-2000:]}"
            loaded = json.loads(result.stdout.splitlines()[-1])
            assert loaded["ENGINE"] == "django.db.backends.postgresql", where
            assert loaded["SECRET_KEY"] == SECRET_SAMPLES["django-secret-key"], where
            assert loaded["CHANNEL_LAYER"] == "channels_redis.core.RedisChannelLayer", where
            assert loaded["STORAGE"] == "storages.backends.s3.S3Storage", where
            assert loaded["MODELHUB_AUTH"] == "writes", where
            assert Path(loaded["DATA_DIR"]).is_relative_to(root) and Path(
                loaded["MODEL_CACHE_DIR"]
            ).is_relative_to(root)
            if container["name"] == "server":
                assert (
                    FIELD_SAMPLES["status.podIP"] in loaded["ALLOWED_HOSTS"]
                )  # Prometheus scrapes the pod IP
                assert "modelhub-http.modelhub.svc.cluster.local" in loaded["ALLOWED_HOSTS"]
                assert loaded["GRPC_PORT"] == int(env["GRPC_PORT"])
