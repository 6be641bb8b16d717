"""Canonical CloudFormation values: intrinsic functions resolved to one form (Canon), and helpers on them."""

from __future__ import annotations

import json
import re
from typing import Any


# --------------------------------------------------------------------------- canonical values


class Canon:
    """Puts CloudFormation values in one canonical form.

    Strings built from references become `${Logical.Attr}` templates (what Fn::Sub would say), so a
    Sub and the equivalent Join are equal; Fn::FindInMap is resolved from the template's Mappings;
    scalars become strings (CloudFormation passes numbers and booleans to properties as strings).
    """

    def __init__(self, template: dict):
        self.mappings = template.get("Mappings", {})

    def __call__(self, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            if len(value) == 1:
                (key, arg), = value.items()
                handled = self._intrinsic(key, arg)
                if handled is not None:
                    return handled
            return {k: self(v) for k, v in value.items()}
        return value

    def _intrinsic(self, key: str, arg: Any) -> Any:
        if key == "Ref":
            return "${%s}" % arg
        if key == "Fn::GetAtt":
            name, attr = arg.split(".", 1) if isinstance(arg, str) else arg
            return "${%s.%s}" % (name, self(attr))
        if key == "Fn::Sub":
            if isinstance(arg, str):
                return self._sub(arg, {})
            text, variables = arg
            return self._sub(text, {k: self(v) for k, v in variables.items()})
        if key == "Fn::Join":
            sep, parts = arg
            parts = [self(p) for p in parts] if isinstance(parts, list) else self(parts)
            if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
                return sep.join(parts)
            return {"Fn::Join": [sep, parts]}
        if key == "Fn::FindInMap":
            name, top, second = (self(a) for a in arg[:3])
            try:
                return self(self.mappings[name][top][second])
            except (KeyError, TypeError):
                return {"Fn::FindInMap": [name, top, second]}
        if key in ("Fn::If", "Fn::Select", "Fn::Split", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or",
                   "Fn::Base64", "Fn::GetAZs", "Fn::ImportValue", "Condition"):
            return {key: self(arg)}
        return None

    @staticmethod
    def _sub(text: str, variables: dict) -> str:
        def repl(match: re.Match) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner + "}"
            if inner in variables:
                value = variables[inner]
                return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            return "${%s}" % inner

        return re.sub(r"\$\{([^}]*)\}", repl, text)


def refs_in(value: Any) -> set[str]:
    """Logical ids (and parameters) a canonical value refers to."""
    found: set[str] = set()
    if isinstance(value, str):
        for inner in re.findall(r"\$\{([^}!]*)\}", value):
            found.add(inner.split(".", 1)[0])
    elif isinstance(value, list):
        for v in value:
            found |= refs_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            found |= refs_in(v)
    return found


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]
