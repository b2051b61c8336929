import orjson
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ServiceError
from inference.models import VersionState
from inference.selectors import live_processes, serving_status
from inference.services import servable_load, servable_unload, wait_for_version


class Command(BaseCommand):
    help = (
        "Serve a registry model on every server process (TFS /v1/models/<name> and KServe /v2/models/<name>)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="Registry model id")
        parser.add_argument("--name", help="Servable name (default: derived from the model name)")
        parser.add_argument("--device", help="OpenVINO device, e.g. CPU (default: MODELHUB_TARGET_DEVICE)")
        parser.add_argument(
            "--nireq", type=int, help="Parallel infer requests (default: OpenVINO's optimal number)"
        )
        parser.add_argument(
            "--plugin-config", help='OpenVINO properties as JSON, e.g. \'{"PERFORMANCE_HINT": "LATENCY"}\''
        )
        parser.add_argument(
            "--scheduler",
            help='LLM versions: openvino-genai SchedulerConfig as JSON, e.g. \'{"cache_size": 2, "max_num_seqs": 32}\'',
        )
        parser.add_argument(
            "--no-warmup", action="store_true", help="Take traffic without a warm-up inference"
        )
        parser.add_argument(
            "--wait", action="store_true", help="Wait until every live server process serves it"
        )
        parser.add_argument(
            "--timeout", type=float, default=300.0, help="Seconds to wait with --wait (default 300)"
        )

    def handle(self, *args: object, **options: object) -> None:
        config: dict[str, object] = {}
        if options["name"]:
            config["name"] = options["name"]
        if options["device"]:
            config["target_device"] = options["device"]
        if options["nireq"] is not None:
            config["nireq"] = options["nireq"]
        if options["plugin_config"]:
            try:
                config["plugin_config"] = orjson.loads(str(options["plugin_config"]))
            except orjson.JSONDecodeError as exc:
                raise CommandError(f"--plugin-config is not valid JSON: {exc}") from None
        if options["scheduler"]:
            try:
                config["scheduler"] = orjson.loads(str(options["scheduler"]))
            except orjson.JSONDecodeError as exc:
                raise CommandError(f"--scheduler is not valid JSON: {exc}") from None
        if options["no_warmup"]:
            config["warmup"] = False
        model_id = str(options["model_id"])
        try:
            served = servable_load(model_id=model_id, config=config)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        name, version = served.servable.name, served.version
        urls = _endpoints(name, version, served.model.task if served.model else "")
        if not options["wait"]:
            self.stdout.write(f"Model {model_id} is served as {name} version {version}.")
            self.stdout.write(urls)
            return
        if not live_processes().exists():
            self.stdout.write(f"Model {model_id} is served as {name} version {version}.")
            self.stdout.write(urls)
            self.stdout.write(
                "No server process is running: it will load the model when it starts (make run)."
            )
            return
        self.stdout.write(f"Loading model {model_id} as {name} version {version} ...")
        if wait_for_version(name, version, timeout=float(options["timeout"])):  # type: ignore[arg-type]
            status = serving_status(name, version)
            self.stdout.write(f"Model {model_id} is served as {name} version {version}.")
            self.stdout.write(urls)
            self.stdout.write(self.style.SUCCESS(f"AVAILABLE on {status.available_on} server process(es)."))
            return
        status = serving_status(name, version)
        reasons = "; ".join(status.errors) or f"not available within {options['timeout']:g} s"
        # Nothing is left behind: a version that did not load would only block deleting the model. Wait until
        # every server process has let it go, so the command's exit means it is gone.
        servable_unload(model_id=model_id)
        wait_for_version(name, version, timeout=float(options["timeout"]), state=VersionState.END)  # type: ignore[arg-type]
        raise CommandError(
            f"Model {model_id} could not be served as {name} version {version}: {reasons}. "
            "It is no longer served."
        )


def _endpoints(name: str, version: int, task: str) -> str:
    if task == "text-generation":
        return f'  OpenAI: /v3/chat/completions and /v3/completions with "model": "{name}"'
    if task in ("embeddings", "rerank"):
        return f'  OpenAI: /v3/{task} with "model": "{name}"'
    return f"  KServe: /v2/models/{name}/versions/{version}/infer   TFS: /v1/models/{name}/versions/{version}:predict"
