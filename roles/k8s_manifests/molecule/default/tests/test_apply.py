# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What kubernetes.core applied to the fake API server: every rendered object,
by server-side apply only, with the same content as rendered."""

import json
import os
import sys
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "k8s"))

import manifests  # noqa: E402 pylint: disable=wrong-import-position
import yaml  # noqa: E402 pylint: disable=wrong-import-position

EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
SERVER_FIELDS = ("uid", "creationTimestamp", "resourceVersion", "generation")


def state():
    with open(os.path.join(EPHEMERAL, "fake-apiserver", "state.json"), encoding="utf-8") as handle:
        return json.load(handle)


def key(obj):
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def rendered():
    result = {}
    for role in ("tezos_nodes", "backerei", "payout_site"):
        for obj in manifests.all_objects(os.path.join(EPHEMERAL, "rendered", role)):
            result[key(obj)] = obj
    return result


def test_every_rendered_object_was_applied_as_rendered():
    applied = {key(obj): obj for obj in state()["objects"]}
    expected = rendered()
    assert sorted(applied) == sorted(expected)
    for name, obj in expected.items():
        stored = json.loads(json.dumps(applied[name]))
        for field in SERVER_FIELDS:
            stored["metadata"].pop(field)
        assert stored == obj, name


def test_only_server_side_apply_and_reads():
    requests = state()["requests"]
    writes = [r for r in requests if r["method"] != "GET"]
    assert writes, "nothing was applied"
    assert all(r["method"] == "PATCH" and r["content_type"].startswith("application/apply-patch+yaml") for r in writes)
    assert all("fieldManager=tezos.bakery" in r["query"] for r in writes)


def test_the_second_run_changed_nothing():
    # Idempotence: each object kept the resourceVersion of its first apply.
    versions = sorted(int(obj["metadata"]["resourceVersion"]) for obj in state()["objects"])
    assert versions == list(range(1, len(versions) + 1))


def server():
    with open(os.path.join(EPHEMERAL, "fake-apiserver", "kubeconfig"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["clusters"][0]["cluster"]["server"]


def test_fake_refuses_an_invalid_object():
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad", "namespace": "tezos"},
                       "data": {"a": "b"}, "bogus": True}).encode("utf-8")
    request = urllib.request.Request(server() + "/api/v1/namespaces/tezos/configmaps/bad?fieldManager=t",
                                     data=body, method="PATCH", headers={"Content-Type": "application/apply-patch+yaml"})
    try:
        with urllib.request.urlopen(request, timeout=10):
            raise AssertionError("the fake accepted an invalid object")
    except urllib.error.HTTPError as error:
        assert error.code == 422
