"""The five real bootstraps running locally: moto enforcing IAM, the table, queues and JWT secret
on it, one IAM user per function, and each function under its own Runtime Interface Emulator
with the environment infra/contract.json gives it and its own user's access key."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import contract
import moto_stack
from contract import Resources
from moto_stack import Credentials, Moto
from runners import Runner, base_env

# What a local run sets where the SAM template's default does not fit (or there is none). The
# devstack's own defaults: its table and queue names, its queue's visibility timeout and
# receive count (a devstack started on the same names finds these resources as it would create
# them, so its CreateQueue does not conflict).
LOCAL_TABLE = "starling-dev"
LOCAL_QUEUE = "starling-dev"
LOCAL_VISIBILITY_TIMEOUT = 30
LOCAL_MAX_RECEIVE_COUNT = 5
JWT_SECRET_NAME = "starling/local/jwt"
JWT_PARAMETER_NAME = "/starling/local/jwt"
# The devstack's default --jwt-secret, so tokens of `starling-cli token` work against both.
DEFAULT_JWT_SECRET = "dev-secret"
# The optional features' resources (issue #13), created on every run but used only when a feature is
# turned on by its template parameter (FEATURE_PARAMETERS; the template defaults leave them all off):
# the moderation rules in SSM and in S3 (docs/moderation.md's format), and the export's delivery stream.
MODERATION_PARAMETER_NAME = "/starling/local/moderation"
MODERATION_BUCKET = "starling-local-moderation"
MODERATION_KEY = "rules.json"
MODERATION_RULES = {
    "version": 1,
    "terms": [{"text": "badword", "action": "reject"}, {"text": "darn", "action": "mask"}],
    "maxLinks": 3,
}
EXPORT_BUCKET = "starling-local-export"
EXPORT_STREAM = f"{LOCAL_QUEUE}{contract.load_contract()['export']['localNameSuffix']}"
FEATURE_PARAMETERS = {
    "moderationParameter": {"ModerationRulesParameter": MODERATION_PARAMETER_NAME},
    "moderationObject": {"ModerationRulesObject": f"{MODERATION_BUCKET}/{MODERATION_KEY}"},
    "exportStream": {"ExportBucketArn": f"arn:aws:s3:::{EXPORT_BUCKET}"},
}


@dataclass
class Settings:
    bin_dir: Path
    log_dir: Path
    ws_endpoint: str = ""
    jwt_secret: str = DEFAULT_JWT_SECRET
    moto_port: int = 0
    # Template parameter overrides (--param NAME=VALUE), over the template's defaults.
    parameters: dict[str, str] = field(default_factory=dict)


class LocalLambdas:
    """Start with `start()`, stop with `stop()` (or use it as a context manager)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.contract = contract.load_contract()
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        self.moto = Moto(settings.log_dir / "moto.log", settings.moto_port)
        self.resources: Resources | None = None
        self.parameters: dict[str, str] = {}
        self.credentials: dict[str, Credentials] = {}
        self.runners: dict[str, Runner] = {}

    def __enter__(self) -> LocalLambdas:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def functions(self) -> dict[str, dict]:
        return self.contract["functions"]

    def start(self) -> None:
        self.moto.start()
        self.resources = self.provision()
        self.parameters = contract.template_defaults() | {
            "JwtSecretId": JWT_SECRET_NAME,
            "WsEndpoint": self.settings.ws_endpoint,
            # The fanout's receive ceiling is the queue's redrive limit, as the template wires it.
            "MaxReceiveCount": str(LOCAL_MAX_RECEIVE_COUNT),
        } | self.settings.parameters
        for name, function in self.functions.items():
            self.credentials[name] = moto_stack.create_function_user(
                self.moto, name, function, self.resources, self.parameters
            )
        for name in self.functions:
            self.runners[name] = Runner(
                name=name,
                bootstrap=self.settings.bin_dir / self.functions[name]["binary"],
                env=self.function_env(name),
                log=self.settings.log_dir / f"{name}.log",
            )
            self.runners[name].start()

    def provision(self) -> Resources:
        moto_stack.create_table(self.moto, LOCAL_TABLE, self.contract["table"]["properties"])
        queue_url, dlq_url, deliver_url = moto_stack.create_queues(
            self.moto, LOCAL_QUEUE, LOCAL_VISIBILITY_TIMEOUT, LOCAL_MAX_RECEIVE_COUNT
        )
        moto_stack.create_jwt_secret(self.moto, JWT_SECRET_NAME, JWT_PARAMETER_NAME, self.settings.jwt_secret)
        moto_stack.create_moderation_rules(
            self.moto, MODERATION_PARAMETER_NAME, MODERATION_BUCKET, MODERATION_KEY, MODERATION_RULES
        )
        export_stream = moto_stack.create_export_stream(self.moto, EXPORT_BUCKET, EXPORT_STREAM)
        return Resources(
            LOCAL_TABLE, queue_url, dlq_url, deliver_url, JWT_SECRET_NAME, JWT_PARAMETER_NAME,
            export_stream_name=export_stream,
        )

    def function_env(self, name: str, **parameters: str) -> dict[str, str]:
        """The process environment of one function: the template's variables, its own access key,
        the SDK pointed at moto, and the Lambda variables the emulator reads."""
        function = self.functions[name]
        return (
            base_env()
            | contract.environment(function, self.parameters | parameters, self.resources)
            | self.credentials[name].env()
            | self.moto.sdk_env()
            | {
                "AWS_LAMBDA_FUNCTION_NAME": function["binary"],
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function["timeoutSeconds"]),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": self.parameters.get("FunctionMemorySize", "128"),
            }
        )

    def restrict(self, name: str, without: str | None, kind: str | None = None, **parameters: str) -> None:
        """Leaves one action out of the function's policy, of every permission kind or of `kind`
        alone (None restores the whole policy). `parameters` over the run's turn optional features on
        for this function (its conditional statements, as the templates grant them)."""
        moto_stack.put_function_policy(
            self.moto, name, self.functions[name], self.resources, without, kind, self.parameters | parameters
        )

    def stop(self) -> None:
        for runner in self.runners.values():
            runner.stop()
        self.moto.stop()


def build(profile: str, root: Path = contract.ROOT) -> Path:
    """Builds the five bootstraps for this machine; returns the directory they are in."""
    functions = contract.load_contract()["functions"].values()
    # dev: every binary of the workspace, so the dependencies resolve with the features `cargo test
    # --workspace` built them with and only the binaries link; other profiles: the five alone.
    if profile == "dev":
        selection = ["--workspace", "--bins"]
    else:
        selection = [arg for f in functions for arg in ("--bin", f["binary"])]
    subprocess.run(["cargo", "build", "--locked", "--profile", profile, *selection], cwd=root, check=True)
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    target = Path(json.loads(metadata)["target_directory"])
    return target / ("debug" if profile == "dev" else profile)
