"""Where the parity tests read the templates from (STARLING_CDK_TEMPLATE overrides the CDK one)."""

from __future__ import annotations

import os
from pathlib import Path

import parity

ROOT = parity.ROOT
SAM_PATH = ROOT / "infra" / "sam" / "template.yaml"
CDK_PATH = Path(os.environ.get("STARLING_CDK_TEMPLATE", ROOT / "infra" / "cdk" / "cdk.out" / "Starling.template.json"))
