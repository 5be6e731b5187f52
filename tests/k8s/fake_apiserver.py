# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small fake Kubernetes API server on loopback, for the apply path of the
collection's Kubernetes roles (no real API server can run here).

It serves what ``kubernetes.core.k8s`` with server-side apply uses: version
and discovery (``/version``, ``/api``, ``/apis``, ``/api/v1``,
``/apis/<group>/<version>``), ``GET`` of an object or a list, ``PATCH`` with
``application/apply-patch+yaml`` (server-side apply: create or replace,
``dryRun=All`` honoured) and ``DELETE``, for the kinds the roles use. Every
applied object is validated strictly against the OpenAPI schema of the
served Kubernetes version (kubernetes-validate) and refused with a 422
Status when invalid. Then, as the real API server does (k8s_rules.py, each
rule citing its Kubernetes source): a quantity that does not parse fails
the conversion (500); the object is stored with the server's defaults and
allocations (a Service's clusterIP...); its validation (a selector that
does not select the pod template, a port out of range, a name that is not
a DNS label...) and, on update, its immutable fields are refused with the
real 422 Invalid Status (details.causes). An object applied again with the
same content keeps its resourceVersion, so an idempotent client sees no
change although the stored object holds defaults.

``fake_apiserver.py --port P --state FILE --kubeconfig FILE [--version 1.33]``
writes a kubeconfig pointing at it, then keeps FILE up to date (JSON):
``live``, the stored objects as a GET returns them; ``objects``, what the
client applied to each (its applied configuration, with the live object's
uid, creationTimestamp, resourceVersion and generation); ``requests``, a log
of the requests.
"""

import argparse
import json
import sys
import threading
import uuid
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import yaml

import k8s_rules

# (group, version, plural, kind, namespaced)
RESOURCES = [
    ("", "v1", "namespaces", "Namespace", False),
    ("", "v1", "configmaps", "ConfigMap", True),
    ("", "v1", "secrets", "Secret", True),
    ("", "v1", "services", "Service", True),
    ("", "v1", "serviceaccounts", "ServiceAccount", True),
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True),
    ("apps", "v1", "statefulsets", "StatefulSet", True),
    ("apps", "v1", "deployments", "Deployment", True),
    ("batch", "v1", "cronjobs", "CronJob", True),
    ("batch", "v1", "jobs", "Job", True),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True),
    ("storage.k8s.io", "v1", "storageclasses", "StorageClass", False),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
]
SERVER_FIELDS = ("uid", "creationTimestamp", "resourceVersion", "generation")
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def group_version(group, version):
    return "%s/%s" % (group, version) if group else version


class Store:
    """The live objects, what was applied to each, the request log and the state file."""

    def __init__(self, state_path, kube_version):
        self.state_path = state_path
        self.kube_version = kube_version
        self.minor = int(kube_version.split(".")[1])
        self.objects = {}
        self.applied = {}
        self.allocator = k8s_rules.Allocator()
        self.log = []
        self.counter = 0
        self.lock = threading.Lock()
        self.save()

    def save(self):
        if not self.state_path:
            return
        applied = []
        for key, obj in sorted(self.applied.items()):
            obj = json.loads(json.dumps(obj))
            obj["metadata"].update({field: self.objects[key]["metadata"][field] for field in SERVER_FIELDS})
            applied.append(obj)
        state = {"objects": applied, "live": [obj for _key, obj in sorted(self.objects.items())], "requests": self.log}
        with open(self.state_path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
        os.replace(self.state_path + ".tmp", self.state_path)


def status(code, reason, message):
    return code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason, "code": code}


def parse_path(path):
    """(resource tuple, namespace, name) of an object or collection path, or None."""
    parts = [part for part in path.split("/") if part]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 2:
        return None
    for resource in RESOURCES:
        if resource[0] == group and resource[1] == version and resource[2] == rest[0]:
            if resource[4] != (namespace is not None) and not (len(rest) == 1 and namespace is None):
                return None
            return resource, namespace, rest[1] if len(rest) == 2 else None
    return None


def discovery(path):
    """Discovery documents, or None."""
    if path == "/version":
        major, minor = STORE.kube_version.split(".")
        return {"major": major, "minor": minor, "gitVersion": "v%s.0" % STORE.kube_version, "platform": "linux/amd64"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        groups = sorted({(g, v) for g, v, _p, _k, _n in RESOURCES if g})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": group_version(g, v), "version": v}],
             "preferredVersion": {"groupVersion": group_version(g, v), "version": v}} for g, v in groups]}
    for g, v in {(g, v) for g, v, _p, _k, _n in RESOURCES}:
        prefix = "/api/%s" % v if not g else "/apis/%s/%s" % (g, v)
        if path == prefix:
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version(g, v),
                    "resources": [{"name": p, "singularName": k.lower(), "namespaced": n, "kind": k, "verbs": VERBS}
                                  for rg, rv, p, k, n in RESOURCES if (rg, rv) == (g, v)]}
    return None


def validate(obj):
    """The strict schema error of obj for the served version, or None."""
    import kubernetes_validate  # pylint: disable=import-outside-toplevel
    try:
        kubernetes_validate.validate(obj, STORE.kube_version, strict=True)
    except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
        return getattr(error, "message", str(error))
    return None


def apply(resource, namespace, name, body, dry_run):
    """Server-side apply: (code, object or Status)."""
    group, version, _plural, kind, namespaced = resource
    if body.get("apiVersion") != group_version(group, version) or body.get("kind") != kind:
        return status(400, "BadRequest", "apiVersion/kind %s/%s do not match the path" % (body.get("apiVersion"), body.get("kind")))
    metadata = body.setdefault("metadata", {})
    if metadata.get("name") != name:
        return status(400, "BadRequest", "the name of the object does not match the name in the URL")
    if namespaced:
        if metadata.get("namespace", namespace) != namespace:
            return status(400, "BadRequest", "the namespace of the object does not match the namespace in the URL")
        metadata["namespace"] = namespace
        if ("", "v1", "namespaces", namespace) not in STORE.objects and not dry_run:
            return status(404, "NotFound", 'namespaces "%s" not found' % namespace)
    else:
        # Like the API server: a cluster-scoped object has no namespace.
        metadata.pop("namespace", None)
    error = validate(body)
    if error:
        return status(422, "Invalid", '%s "%s" is invalid: %s' % (kind, name, error))
    error = k8s_rules.decode_error(body)
    if error:
        # No API status: ErrorToAPIStatus answers 500 with no reason (see k8s_rules.decode_error).
        return 500, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": error, "code": 500}
    key = (group, version, resource[2], (namespace + "/" if namespace else "") + name)
    with STORE.lock:
        current = STORE.objects.get(key)
        uid = current["metadata"]["uid"] if current else str(uuid.uuid4())
        live, errors = k8s_rules.stored_object(body, current, uid, STORE.allocator)
        errors += k8s_rules.validate(live, current, STORE.minor)
        if errors:
            return k8s_rules.status_invalid(group, kind, name, errors, STORE.minor)
        if current:
            server = {field: current["metadata"][field] for field in SERVER_FIELDS}
            # The applied configuration is part of the object (metadata.managedFields).
            unchanged = _strip(current) == _strip(live) and STORE.applied.get(key) == body
        else:
            unchanged = False
            server = {"uid": uid, "creationTimestamp": "2025-01-01T00:00:00Z", "generation": 0}
        if unchanged:
            return 200, current
        STORE.counter += 1
        server["resourceVersion"] = str(STORE.counter)
        server["generation"] = server["generation"] + 1
        live["metadata"].update(server)
        if not dry_run:
            STORE.objects[key] = live
            STORE.applied[key] = json.loads(json.dumps(body))
            STORE.save()
        return (200 if current else 201), live


def _strip(obj):
    stripped = json.loads(json.dumps(obj))
    for field in SERVER_FIELDS:
        stripped.get("metadata", {}).pop(field, None)
    return stripped


class Handler(BaseHTTPRequestHandler):
    """The API."""

    def _send(self, code, body):
        payload = json.dumps(body).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _route(self, method):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with STORE.lock:
            STORE.log.append({"method": method, "path": url.path, "query": url.query,
                              "content_type": self.headers.get("Content-Type", "")})
        found = discovery(url.path) if method == "GET" else None
        if found is not None:
            return 200, found
        parsed = parse_path(url.path)
        if parsed is None:
            return status(404, "NotFound", "the server could not find the requested resource")
        resource, namespace, name = parsed
        group, version, plural, kind, _namespaced = resource
        if name is None:
            if method != "GET":
                return status(405, "MethodNotAllowed", "only GET on collections")
            prefix = (namespace + "/") if namespace else ""
            items = [obj for key, obj in sorted(STORE.objects.items())
                     if key[:3] == (group, version, plural) and key[3].startswith(prefix)]
            return 200, {"kind": kind + "List", "apiVersion": group_version(group, version),
                         "metadata": {"resourceVersion": str(STORE.counter)}, "items": items}
        key = (group, version, plural, (namespace + "/" if namespace else "") + name)
        if method == "GET":
            if key in STORE.objects:
                return 200, STORE.objects[key]
            return status(404, "NotFound", '%s "%s" not found' % (plural, name))
        if method == "PATCH":
            if self.headers.get("Content-Type", "").split(";")[0] != "application/apply-patch+yaml":
                return status(415, "UnsupportedMediaType", "this fake only supports server-side apply")
            if not query.get("fieldManager"):
                return status(422, "Invalid", "fieldManager is required for apply requests")
            try:
                body = yaml.safe_load(raw.decode("utf-8"))
            except yaml.YAMLError as error:
                return status(400, "BadRequest", str(error))
            return apply(resource, namespace, name, body, query.get("dryRun") == ["All"])
        if method == "DELETE":
            with STORE.lock:
                removed = STORE.objects.pop(key, None)
                STORE.applied.pop(key, None)
                STORE.save()
            if removed is None:
                return status(404, "NotFound", '%s "%s" not found' % (plural, name))
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}}
        return status(405, "MethodNotAllowed", method)

    def do_GET(self):  # pylint: disable=invalid-name
        """GET."""
        self._send(*self._route("GET"))

    def do_PATCH(self):  # pylint: disable=invalid-name
        """PATCH."""
        self._send(*self._route("PATCH"))

    def do_DELETE(self):  # pylint: disable=invalid-name
        """DELETE."""
        self._send(*self._route("DELETE"))

    def log_message(self, *args):  # pylint: disable=arguments-differ
        """Requests are in the state file."""


STORE = None


def main():
    """Serve until killed."""
    global STORE  # pylint: disable=global-statement
    parser = argparse.ArgumentParser(description="fake Kubernetes API server (server-side apply)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--version", default="1.33")
    args = parser.parse_args()
    STORE = Store(args.state, args.version)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                  "clusters": [{"name": "fake", "cluster": {"server": "http://127.0.0.1:%d" % server.server_address[1]}}],
                  "users": [{"name": "fake", "user": {"token": "fake-token"}}],
                  "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}
    with open(args.kubeconfig, "w", encoding="utf-8") as handle:
        yaml.safe_dump(kubeconfig, handle)
    sys.stderr.write("fake API server on 127.0.0.1:%d\n" % server.server_address[1])
    sys.stderr.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
