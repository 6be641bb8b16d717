"""Fixtures of the real-bootstrap tests: the five functions built (cargo profile
STARLING_LAMBDA_PROFILE, `dev` by default) and running under their emulators against moto with
IAM enforced, and a Management API that records what the functions post.

    .venv/bin/python -m pytest scripts/lambdas      (scripts/test.sh runs it)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import events  # noqa: E402
from contract import ROOT  # noqa: E402
from management import ManagementApi  # noqa: E402
from stack import LocalLambdas, Settings, build  # noqa: E402

JWT_SECRET = "lambdas-test-secret"


@pytest.fixture(scope="session")
def management():
    api = ManagementApi()
    yield api
    api.server.shutdown()


@pytest.fixture(scope="session")
def lambdas(management, tmp_path_factory):
    bin_dir = build(os.environ.get("STARLING_LAMBDA_PROFILE", "dev"))
    settings = Settings(
        bin_dir=bin_dir,
        log_dir=ROOT / "target" / "lambdas-test",
        ws_endpoint=management.url,
        jwt_secret=JWT_SECRET,
    )
    with LocalLambdas(settings) as stack:
        yield stack


def token(user: str, secret: str = JWT_SECRET) -> str:
    return events.token(user, secret)


FINDINGS: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="session")
def findings():
    """(function, action) -> what removing the action from the function's policy did."""
    return FINDINGS


def pytest_terminal_summary(terminalreporter):
    if FINDINGS:
        terminalreporter.section("least privilege: each action left out of one function's policy")
        for (function, action), what in FINDINGS.items():
            terminalreporter.write_line(f"{function:<11} {action:<32} {what}")
