#!/usr/bin/env python3
"""Strict validation of Protocol/openapi.yaml (or the file given): the OAS 3.0
schema check of openapi-spec-validator (pinned in scripts/setup), then the
rules of OAS 3.0.3 it does not enforce:
- `nullable` takes effect only with a `type` in the same Schema Object;
- `nullable` next to `allOf` is void (a subtype cannot relax its base: null
  still fails the referenced schema); use anyOf with {type, nullable, enum: [null]};
- a `$ref` Object has no siblings (3.0 ignores them, so they would silently
  document nothing).
Exits 1 with every problem listed. Usage: check-openapi.py [openapi.yaml]"""
import pathlib
import sys

import yaml
from openapi_spec_validator import OpenAPIV30SpecValidator

path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent / "Protocol/openapi.yaml")
spec = yaml.safe_load(path.read_text())
problems = []
if not str(spec.get("openapi", "")).startswith("3.0."):
    problems.append(f"openapi: {spec.get('openapi')!r} is not 3.0.x")
try:
    for error in OpenAPIV30SpecValidator(spec).iter_errors():
        where = "/".join(str(p) for p in error.path)
        problems.append(f"{where}: {error.message}")
except Exception as error:  # the validator raises on an unresolvable $ref
    problems.append(f"{type(error).__name__}: {str(error)[:300]}")


def walk(node, where):
    if isinstance(node, dict):
        if "$ref" in node and len(node) > 1:
            problems.append(f"{where}: $ref with siblings {sorted(k for k in node if k != '$ref')} (ignored in OAS 3.0)")
        if node.get("nullable") is True:
            if "type" not in node:
                problems.append(f"{where}: nullable without a type in the same schema (no effect in OAS 3.0.3)")
            if "allOf" in node:
                problems.append(f"{where}: nullable next to allOf (the null still fails allOf)")
        for key, value in node.items():
            # Example values are data, not schemas.
            if key not in ("example", "examples"):
                walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            walk(value, f"{where}/{i}")


walk(spec, "#")
for problem in problems:
    print(f"{path}: {problem}")
print(f"{path}: {'INVALID' if problems else 'valid'} (strict OAS 3.0)")
sys.exit(1 if problems else 0)
