"""What the LocalStack tests share: a moto server standing in for LocalStack (which needs Docker and a
token), the environment the ready.d hook runs with (the AWS CLI plays `awslocal`), and clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "localstack" / "init" / "ready.d" / "10-starling-resources.sh"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "infra"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def endpoint():
    """One moto server for the session: the hook's AWS CLI calls are the slow part, so it runs twice in
    all (`hook_runs`) and every test reads what it made."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto_server did not start")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def env_for(endpoint: str) -> dict:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWSLOCAL": f"aws --endpoint-url {endpoint}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def run_hook(endpoint: str, **extra: str) -> str:
    """The hook's output; `extra` adds to its environment (STARLING_EXPORT_BUCKET=...)."""
    env = env_for(endpoint) | extra
    done = subprocess.run(["bash", str(HOOK)], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="session")
def hook_runs(endpoint: str) -> list[str]:
    """The hook's output on an empty endpoint, then again on what it made."""
    return [run_hook(endpoint) for _ in range(2)]


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
