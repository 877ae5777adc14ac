#!/usr/bin/env python3
"""Validates every golden frame in examples/ against its schema in schemas/."""
import json, pathlib, sys
import jsonschema

here = pathlib.Path(__file__).parent
failures = 0
for example in sorted((here / "examples").glob("*.json")):
    # client.subscribe-since.json is a variant of client.subscribe
    schema = json.loads((here / "schemas" / (example.stem.split("-")[0] + ".schema.json")).read_text())
    try:
        jsonschema.validate(json.loads(example.read_text()), schema)
        print("ok  ", example.name)
    except jsonschema.ValidationError as e:
        failures += 1
        print("FAIL", example.name, e.message)
sys.exit(1 if failures else 0)
