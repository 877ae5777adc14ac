#!/usr/bin/env python3
"""Writes a copy of Protocol/openapi.yaml with boundary values as explicit
examples, for schemathesis' examples phase (scripts/schemathesis): int64
extremes and one past them for every number and id, NUL and huge strings for
every string in a JSON body. The published spec stays free of them.
Usage: schemathesis-boundaries.py <openapi.yaml> <out.yaml>"""
import copy, sys
import yaml

I64MAX, I64MIN = 9223372036854775807, -9223372036854775808
HUGE = "x" * 100_000          # bodies: far past any field limit, well under the 1 MiB body limit
LONG = "x" * 1_000            # URLs: long, yet inside libwebsockets' header buffer


def param_examples(schema):
    if schema.get("type") == "integer":
        values = [I64MAX, I64MIN, -1, 0]
    elif "pattern" in schema and "0-9" in schema["pattern"]:
        values = [str(I64MAX), str(I64MAX + 1), "99999999999999999999999"]
    elif schema.get("type") == "string" and "enum" not in schema:
        values = [str(I64MAX), str(I64MIN), str(I64MAX + 1), LONG]
    else:
        return None
    return {"b%d" % i: {"value": v} for i, v in enumerate(values)}


def body_examples(schema, components, depth=0):
    """One example object per boundary: every scalar property set to it."""
    if "oneOf" in schema:
        schema = schema["oneOf"][0]
    if "$ref" in schema:
        schema = components[schema["$ref"].split("/")[-1]]
    props = dict(schema.get("properties") or {})
    for part in schema.get("allOf", []):
        if "$ref" in part:
            part = components[part["$ref"].split("/")[-1]]
        props.update(part.get("properties") or {})
    if not props or depth > 2:
        return []
    out = []
    for kind in ("max", "min", "nul", "huge"):
        obj = {}
        for name, prop in props.items():
            if "oneOf" in prop:
                prop = next((p for p in prop["oneOf"] if "type" in p), prop)
            if "$ref" in prop:
                prop = components[prop["$ref"].split("/")[-1]]
            t = prop.get("type")
            if t in ("integer", "number"):
                obj[name] = {"max": I64MAX, "min": I64MIN, "nul": I64MAX + 1, "huge": 1.7976931348623157e308}[kind]
            elif t == "string" and "enum" not in prop:
                obj[name] = {"max": str(I64MAX), "min": str(I64MIN), "nul": "a\u0000b", "huge": HUGE}[kind]
            elif "enum" in prop:
                obj[name] = prop["enum"][0]
            elif t == "array" and prop.get("items"):
                inner = body_examples(prop["items"], components, depth + 1)
                item = inner[("max", "min", "nul", "huge").index(kind)] if inner else (
                    {"max": I64MAX, "min": I64MIN, "nul": "a\u0000b", "huge": HUGE}[kind]
                    if prop["items"].get("type") in ("integer", "string") else None)
                if item is not None:
                    obj[name] = [item]
            elif t == "object" and prop.get("properties"):
                inner = body_examples(prop, components, depth + 1)
                if inner:
                    obj[name] = inner[("max", "min", "nul", "huge").index(kind)]
        out.append(obj)
    return out


def main(src, dst):
    spec = yaml.safe_load(open(src))
    components = spec.get("components", {}).get("schemas", {})
    out = copy.deepcopy(spec)
    for ops in out["paths"].values():
        for op in ops.values():
            if not isinstance(op, dict):
                continue
            for p in op.get("parameters", []):
                if "$ref" in p or p.get("in") == "header":
                    continue
                ex = param_examples(p.get("schema", {}))
                if ex:
                    p.pop("example", None)
                    p["examples"] = ex
            media = op.get("requestBody", {}).get("content", {}).get("application/json")
            if media and "schema" in media:
                ex = body_examples(media["schema"], components)
                if ex:
                    media.pop("example", None)
                    media["examples"] = {"boundary_%s" % k: {"value": v}
                                         for k, v in zip(("max", "min", "nul", "huge"), ex)}
    yaml.safe_dump(out, open(dst, "w"), sort_keys=False, allow_unicode=False, width=1 << 20)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
