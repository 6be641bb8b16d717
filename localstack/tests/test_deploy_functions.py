"""localstack/deploy_functions.py against a moto server standing in for LocalStack: after the ready.d
hook, it deploys the five functions as the templates do (names, runtime, handler, architecture, the
contract's timeouts and environment) and the queue -> fanout and delivery queue -> fanout event source
mappings, twice without
conflict. moto stores the functions without running them; running the real binaries is
scripts/lambdas.sh's job."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import contract_env
import pytest
from conftest import ROOT, client

sys.path.insert(0, str(ROOT / "localstack"))
import deploy_functions  # noqa: E402

CONTRACT = contract_env.contract()
DELIVER = CONTRACT["deliverQueue"]


@pytest.fixture(scope="module")
def zips(tmp_path_factory) -> Path:
    """What `cargo lambda build --output-format zip` leaves: DIR/<binary>/bootstrap.zip."""
    root = tmp_path_factory.mktemp("lambda")
    for f in CONTRACT["functions"].values():
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("bootstrap", f"#!/bin/sh\n# {f['binary']}\n")
        (root / f["binary"]).mkdir()
        (root / f["binary"] / "bootstrap.zip").write_bytes(buf.getvalue())
    return root


@pytest.fixture(scope="module")
def deployed(endpoint: str, hook_runs: list[str], zips: Path, monkeypatch_module) -> str:
    argv = ["--endpoint-url", endpoint, "--zips", str(zips), "--jwt-secret-id", "starling/jwt",
            "--jwt-secret", "local-only-secret", "--ws-endpoint", "http://host.docker.internal:3001/local"]
    deploy_functions.main(argv)
    deploy_functions.main(argv)  # again: updates, no conflict
    return endpoint


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as m:
        for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}.items():
            m.setenv(key, value)
        yield m


def test_every_function_is_deployed_as_the_templates_describe_it(deployed: str) -> None:
    lam, sqs = client("lambda", deployed), client("sqs", deployed)
    queue_url = sqs.get_queue_url(QueueName="starling-dev.fifo")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="starling-dev-dlq.fifo")["QueueUrl"]
    deliver_url = sqs.get_queue_url(QueueName=f"starling-dev{DELIVER['localNameSuffix']}.fifo")["QueueUrl"]
    resources = {"Table": "starling-dev", "Queue": queue_url, "DeadLetterQueue": dlq_url, "DeliverQueue": deliver_url}
    parameters = {"JwtSecretId": "starling/jwt", "WsEndpoint": "http://host.docker.internal:3001/local"}
    for function, f in CONTRACT["functions"].items():
        config = lam.get_function_configuration(FunctionName=f"starling-{function}")
        assert config["Runtime"] == "provided.al2023" and config["Handler"] == "bootstrap"
        assert config["Architectures"] == ["arm64"]
        assert config["Timeout"] == f["timeoutSeconds"]
        want = contract_env.function_environment(function, resources, parameters, CONTRACT)
        assert config["Environment"]["Variables"] == want, function
    fanout_env = lam.get_function_configuration(FunctionName="starling-fanout")["Environment"]["Variables"]
    assert fanout_env["STARLING_DELIVER_QUEUE_URL"] == deliver_url
    # OIDC sign-in is off unless OidcIssuer is given: the template's defaults, an empty issuer (HS256 with
    # the secret JwtSecretId names) and the user id from `sub`.
    authorizer_env = lam.get_function_configuration(FunctionName="starling-authorizer")["Environment"]["Variables"]
    assert {k: v for k, v in authorizer_env.items() if k.startswith("STARLING_OIDC_")} == {
        "STARLING_OIDC_ISSUER": "",
        "STARLING_OIDC_AUDIENCE": "",
        "STARLING_OIDC_JWKS_URL": "",
        "STARLING_OIDC_USER_CLAIM": "sub",
    }
    assert authorizer_env["STARLING_JWT_SECRET_ID"] == "starling/jwt"


def test_the_queue_feeds_the_fanout_with_partial_batch_failures(deployed: str) -> None:
    lam, sqs = client("lambda", deployed), client("sqs", deployed)
    queue_url = sqs.get_queue_url(QueueName="starling-dev.fifo")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    (mapping,) = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
    assert mapping["FunctionArn"].endswith(":function:starling-fanout")
    assert mapping["BatchSize"] == CONTRACT["queue"]["batchSize"]
    assert mapping["FunctionResponseTypes"] == CONTRACT["queue"]["functionResponseTypes"]


def test_the_delivery_queue_feeds_the_same_fanout_with_partial_batch_failures(deployed: str) -> None:
    lam, sqs = client("lambda", deployed), client("sqs", deployed)
    url = sqs.get_queue_url(QueueName=f"starling-dev{DELIVER['localNameSuffix']}.fifo")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    (mapping,) = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
    assert mapping["FunctionArn"].endswith(f":function:starling-{DELIVER['consumer']}")
    assert mapping["BatchSize"] == DELIVER["batchSize"]
    assert mapping["FunctionResponseTypes"] == DELIVER["functionResponseTypes"]


def test_the_authorizer_finds_its_secret(deployed: str) -> None:
    sm = client("secretsmanager", deployed)
    assert sm.get_secret_value(SecretId="starling/jwt")["SecretString"] == "local-only-secret"


def test_a_missing_zip_names_the_build_command(deployed: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="cargo lambda build --release --arm64"):
        deploy_functions.main(["--endpoint-url", deployed, "--zips", str(tmp_path), "--jwt-secret-id", "x"])
