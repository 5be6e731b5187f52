# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Request-body validation against Google's discovery documents, with the
proto3 JSON rules Google's front ends apply: unknown field, wrong type and
bad enum value are each a field violation, reported like Google does
("Invalid JSON payload received. Unknown name ..." / "Invalid value at ...")."""

import json
import pathlib
import re

import googleapiclient

DOCUMENTS = pathlib.Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"

# Discovery type/format -> the proto field type named in Google's messages.
_PROTO_TYPES = {
    ("string", None): "TYPE_STRING",
    ("string", "int64"): "TYPE_INT64",
    ("string", "uint64"): "TYPE_UINT64",
    ("string", "byte"): "TYPE_BYTES",
    ("integer", "int32"): "TYPE_INT32",
    ("integer", "uint32"): "TYPE_UINT32",
    ("integer", None): "TYPE_INT32",
    ("number", "double"): "TYPE_DOUBLE",
    ("number", "float"): "TYPE_FLOAT",
    ("number", None): "TYPE_DOUBLE",
    ("boolean", None): "TYPE_BOOL",
}
_INT_RE = re.compile(r"^-?[0-9]+$")


def snake(name):
    """camelCase -> snake_case, as Google names fields in its error messages
    (a leading capital is lowered, not prefixed: IPProtocol -> i_p_protocol)."""
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name[:1].lower() + name[1:])


class Discovery:
    """One API's discovery document (e.g. ``compute.v1``)."""

    def __init__(self, name):
        self.name = name
        self.doc = json.loads((DOCUMENTS / ("%s.json" % name)).read_text())
        self.schemas = self.doc["schemas"]
        self.package = {
            "compute.v1": "compute.v1",
            "container.v1": "google.container.v1",
            "storage.v1": "storage.v1",
        }.get(name, name)

    def validate(self, ref, body, root=""):
        """Field violations of ``body`` against schema ``ref``: a list of
        ``{"field": ..., "description": ...}`` (empty when the body is valid)."""
        violations = []
        self._message(ref, body, root, violations)
        return violations

    def required(self, ref, method_id):
        """Fields of schema ``ref`` the document marks required for
        ``method_id`` (``annotations.required``, e.g. Firewall.name for
        "compute.firewalls.insert")."""
        return [name for name, spec in self.schemas[ref].get("properties", {}).items()
                if method_id in spec.get("annotations", {}).get("required", ())]

    # A message named in the document's schemas.
    def _message(self, ref, value, path, out):
        if not isinstance(value, dict):
            out.append(self._invalid(path, self._type_url(ref), value))
            return
        self._fields(self.schemas[ref].get("properties", {}), value, path, out, ref)

    # The fields of a message, named or defined in place (an inline object:
    # Firewall.allowed[], Bucket.website, Bucket.iamConfiguration, ...).
    def _fields(self, props, value, path, out, owner):
        by_snake = {snake(key): key for key in props}
        for key, item in value.items():
            name = key if key in props else by_snake.get(key)
            if name is None:
                out.append(_unknown(key, path))
                continue
            child = "%s.%s" % (path, snake(name)) if path else snake(name)
            self._value(props[name], item, child, out, "%s.%s" % (owner, name[0].upper() + name[1:]))

    def _value(self, spec, value, path, out, owner):
        if value is None:
            return  # proto3 JSON: null is the default value
        if "$ref" in spec:
            self._message(spec["$ref"], value, path, out)
            return
        kind = spec.get("type")
        if kind == "array":
            self._array(spec, value, path, out, owner)
        elif kind == "object":
            self._object(spec, value, path, out, owner)
        elif kind != "any":
            self._scalar(spec, value, path, out, owner)

    def _array(self, spec, value, path, out, owner):
        if not isinstance(value, list):
            out.append(self._invalid(path, "TYPE_MESSAGE", value))
            return
        for index, item in enumerate(value):
            self._value(spec["items"], item, "%s[%d]" % (path, index), out, owner)

    def _object(self, spec, value, path, out, owner):
        """An inline message (its own "properties"), a map
        ("additionalProperties") or a free-form object."""
        if not isinstance(value, dict):
            proto = self._type_url(owner) if "properties" in spec else "TYPE_MESSAGE"
            out.append(self._invalid(path, proto, value))
        elif "properties" in spec:
            self._fields(spec["properties"], value, path, out, owner)
        elif "additionalProperties" in spec:
            for key, item in value.items():
                self._value(spec["additionalProperties"], item, "%s[%s]" % (path, key), out, owner)

    def _scalar(self, spec, value, path, out, owner):
        if "enum" in spec:
            if not (isinstance(value, str) and value in spec["enum"]):
                out.append(self._invalid(path, self._type_url(owner), value))
            return
        kind, fmt = spec.get("type"), spec.get("format")
        proto = _PROTO_TYPES.get((kind, fmt), _PROTO_TYPES.get((kind, None), "TYPE_STRING"))
        if not _scalar_ok(kind, fmt, value):
            out.append(self._invalid(path, proto, value))

    def _type_url(self, name):
        return "type.googleapis.com/%s.%s" % (self.package, name)

    @staticmethod
    def _invalid(path, proto, value):
        return {"field": path, "description": "Invalid value at '%s' (%s), %s" % (path, proto, json.dumps(value))}


def _unknown(key, path):
    where = " at '%s'" % path if path else ""
    return {"field": path,
            "description": 'Invalid JSON payload received. Unknown name "%s"%s: Cannot find field.' % (key, where)}


def _scalar_ok(kind, fmt, value):
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer" or (kind == "string" and fmt in ("int64", "uint64")):
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return not (fmt in ("uint32", "uint64") and value < 0)
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, str) and bool(_INT_RE.match(value))
    if kind == "number":
        if isinstance(value, bool):
            return False
        if isinstance(value, (int, float)):
            return True
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                return False
            return True
        return False
    # strings (plain, bytes, date-time, duration, field mask)
    return isinstance(value, str)


def error_message(violations):
    """Google's top-level message: every violation, one a line."""
    return "\n".join(item["description"] for item in violations)
