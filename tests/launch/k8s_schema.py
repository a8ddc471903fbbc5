"""Strict validation of a manifest against the Kubernetes API's models (the `kubernetes` client).

`ApiClient.deserialize` alone ignores unknown keys, so a misspelled field would pass; this walk checks every
key against the model's `attribute_map` and every value against its `openapi_types`, then builds the model
through the client (which enforces required fields and enums it knows)."""

from __future__ import annotations

import json
import re

import kubernetes.client as k
from kubernetes.client import ApiClient

KINDS = {("v1", "Secret"): "V1Secret", ("v1", "ConfigMap"): "V1ConfigMap", ("batch/v1", "Job"): "V1Job"}
PRIMITIVE = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object,
             "datetime": str, "date": str}


class SchemaError(AssertionError):
    pass


def _walk(value, type_name: str, where: str) -> None:
    if m := re.fullmatch(r"[lL]ist\[(.+)\]", type_name):
        if not isinstance(value, list):
            raise SchemaError(f"{where}: expected a list ({type_name}), got {value!r}")
        for i, item in enumerate(value):
            _walk(item, m.group(1), f"{where}[{i}]")
        return
    if m := re.fullmatch(r"(?:dict\(str, (.+)\)|Dict\[str, (.+)\])", type_name):
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected a mapping ({type_name}), got {value!r}")
        for key, item in value.items():
            _walk(item, m.group(1) or m.group(2), f"{where}.{key}")
        return
    if type_name in PRIMITIVE:
        if not isinstance(value, PRIMITIVE[type_name]) or (type_name == "int" and isinstance(value, bool)):
            raise SchemaError(f"{where}: expected {type_name}, got {value!r}")
        return
    model = getattr(k, type_name)
    if not isinstance(value, dict):
        raise SchemaError(f"{where}: expected a {type_name} mapping, got {value!r}")
    by_json = {json_key: attr for attr, json_key in model.attribute_map.items()}
    for key, item in value.items():
        if key not in by_json:
            raise SchemaError(f"{where}.{key}: unknown field of {type_name} (known: {sorted(by_json)})")
        _walk(item, model.openapi_types[by_json[key]], f"{where}.{key}")


def check(doc: dict):
    """The manifest as the client's model; SchemaError naming the path of the first problem."""
    type_name = KINDS[(doc.get("apiVersion"), doc.get("kind"))]
    _walk(doc, type_name, doc["kind"])
    try:
        return ApiClient().deserialize(json.dumps(doc), type_name, "application/json")
    except ValueError as e:  # a required field missing, a value outside an enum
        raise SchemaError(f"{doc['kind']}: {e}") from e
