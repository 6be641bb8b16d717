# Lets the tests import parity.py when pytest runs from the repository root.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The fixtures of every parity test module (each module gets its own, as they are module-scoped).
import pytest  # noqa: E402

import parity  # noqa: E402
from parity_testpaths import CDK_PATH, SAM_PATH  # noqa: E402


@pytest.fixture(scope="module")
def contract() -> dict:
    return parity.load_contract()


@pytest.fixture(scope="module")
def sam_source() -> dict:
    return parity.load_sam(SAM_PATH)


@pytest.fixture(scope="module")
def sam(sam_source: dict) -> dict:
    return parity.translate_sam(sam_source)


@pytest.fixture(scope="module")
def cdk() -> dict:
    if not CDK_PATH.exists():
        pytest.fail(
            f"{CDK_PATH} is missing: synthesize the CDK app first "
            "(scripts/infra-check.sh does, with placeholder assets)"
        )
    return parity.load_json(CDK_PATH)
