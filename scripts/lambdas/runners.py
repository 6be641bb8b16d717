"""The real bootstraps, each under its own AWS Lambda Runtime Interface Emulator (RIE).

The RIE (shipped in the aws-sam-cli wheel, samcli/local/rapid/aws-lambda-rie-x86_64) runs one
bootstrap behind the Lambda Runtime API and serves the Invoke API's
`POST /2015-03-31/functions/function/invocations`. Its Runtime API listens on 127.0.0.1:9001
unless `--runtime-api-address` says otherwise, so every instance gets two ports of its own and all
five run side by side."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from moto_stack import free_port

INVOKE_PATH = "/2015-03-31/functions/function/invocations"


class RieError(Exception):
    """The emulator is missing or did not come up: reinstall the venv (scripts/venv.sh) or read
    the function's log."""


def rie_binary() -> Path:
    """The RIE for this machine's architecture, from the installed aws-sam-cli package (found
    without importing samcli, whose dependencies are not installed)."""
    spec = importlib.util.find_spec("samcli")
    if spec is None or not spec.submodule_search_locations:
        raise RieError("aws-sam-cli is not installed in this venv (scripts/requirements-rie.txt)")
    arch = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
    path = Path(spec.submodule_search_locations[0]) / "local" / "rapid" / f"aws-lambda-rie-{arch}"
    if not path.is_file():
        raise RieError(f"{path} is missing")
    return path


@dataclass
class Invocation:
    """What the Invoke API answered: the payload, and the function error if it failed."""

    status: int
    payload: dict | list | str | None
    # The X-Amz-Function-Error header, as AWS's Invoke API sets it. The RIE does not: it answers a
    # function error with 200 and the error object as the payload, hence `error`.
    function_error_header: str | None

    @property
    def function_error(self) -> str | None:
        """The error type when the function failed (the handler's Err, a panic, a failed init)."""
        if self.function_error_header:
            return self.function_error_header
        if isinstance(self.payload, dict) and {"errorType", "errorMessage"} <= self.payload.keys():
            return self.payload["errorType"]
        return None

    @property
    def error_message(self) -> str:
        return self.payload.get("errorMessage", "") if isinstance(self.payload, dict) else ""


@dataclass
class Runner:
    """One function: its bootstrap under its own RIE, on two free loopback ports."""

    name: str
    bootstrap: Path
    env: dict[str, str]
    log: Path
    invoke_port: int = field(default_factory=free_port)
    runtime_api_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Where this function's invocations go (the Invoke API of its emulator)."""
        return f"http://127.0.0.1:{self.invoke_port}{INVOKE_PATH}"

    def start(self) -> None:
        if not self.bootstrap.is_file():
            raise RieError(f"{self.bootstrap} is missing: build it first (scripts/lambdas.sh builds it)")
        cmd = [
            str(rie_binary()),
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{self.invoke_port}",
            "--runtime-api-address",
            f"127.0.0.1:{self.runtime_api_port}",
            str(self.bootstrap),
        ]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.invoke_port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RieError(f"the emulator of {self.name} did not start; see {self.log}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self, env: dict[str, str] | None = None) -> None:
        """A new instance (a cold start), with `env` if given: what init reads is read again."""
        self.stop()
        if env is not None:
            self.env = env
        self.start()

    def invoke(self, event: dict, timeout: float = 60) -> Invocation:
        request = urllib.request.Request(
            self.url, data=json.dumps(event).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, e.headers, e.read()
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = body.decode(errors="replace")
        return Invocation(status, payload, headers.get("X-Amz-Function-Error"))

    def init_durations_ms(self) -> list[float]:
        """Each `INIT REPORT (durationMs: ...)` the emulator logged, in order."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if "INIT REPORT" in line and "durationMs" in line:
                out.append(float(line.split("durationMs:", 1)[1].split(")")[0].strip().rstrip("ms").strip()))
        return out


def base_env() -> dict[str, str]:
    """What every function's process inherits from this one: nothing of the caller's AWS setup."""
    keep = ("PATH", "RUST_BACKTRACE")
    return {k: os.environ[k] for k in keep if k in os.environ}
