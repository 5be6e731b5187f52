# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of rendered manifests shared by the Kubernetes roles' scenarios.

* :data:`KUBERNETES_VERSIONS`: the GKE Kubernetes minor versions the
  collection supports (GKE's release channels at the time of writing); every
  manifest is validated strictly against each (kubernetes-validate, offline
  OpenAPI schemas). Override with ``BAKERY_K8S_VERSIONS="1.31 1.32"``.
* :func:`checkov_failures`: checkov (in its own venv, ``$BAKERY_SCAN_VENV``)
  with tests/k8s/checkov.yml, where every skipped check is justified.
"""

import glob
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]

# GKE versions supported by the collection: keep in step with the gke_cluster
# role's release channel and the README.
KUBERNETES_VERSIONS = tuple(os.environ.get("BAKERY_K8S_VERSIONS", "1.31 1.32 1.33 1.34").split())

CHECKOV_CONFIG = ROOT / "tests" / "k8s" / "checkov.yml"


def load_dir(directory):
    """{file name: [objects]} of every *.yml in a rendered folder (empty documents dropped)."""
    result = {}
    for path in sorted(pathlib.Path(directory).glob("*.yml")):
        with open(path, encoding="utf-8") as handle:
            result[path.name] = [doc for doc in yaml.safe_load_all(handle) if doc]
    return result


def all_objects(directory):
    """Every object of a rendered folder, in file order."""
    return [obj for objects in load_dir(directory).values() for obj in objects]


def validation_errors(directory, versions=KUBERNETES_VERSIONS):
    """["file: kind/name @version: error"] for every object that fails strict validation."""
    import kubernetes_validate  # pylint: disable=import-outside-toplevel

    errors = []
    for name, objects in load_dir(directory).items():
        for obj in objects:
            for version in versions:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError,
                        kubernetes_validate.InvalidSchemaError) as error:
                    errors.append("%s: %s/%s @%s: %s" % (name, obj.get("kind"), obj.get("metadata", {}).get("name"),
                                                         version, getattr(error, "message", error)))
    return errors


def checkov_binary():
    """checkov of the scan venv ($BAKERY_SCAN_VENV, else the newest cached one)."""
    venv = os.environ.get("BAKERY_SCAN_VENV")
    candidates = [os.path.join(venv, "bin", "checkov")] if venv else []
    cache = os.environ.get("BAKERY_CACHE", os.path.expanduser("~/.cache/tezos-bakery"))
    candidates += sorted(glob.glob(os.path.join(cache, "scan-venv-*", "bin", "checkov")), key=os.path.getmtime, reverse=True)
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("checkov not found: run scripts/test setup (it builds the scan venv)")


def checkov_failures(directory):
    """["CHECK resource (file)"] of every failed checkov check on a rendered folder."""
    # checkov skips folders whose name starts with a dot (molecule's
    # ephemeral folder is under ~/.ansible): scan a copy.
    with tempfile.TemporaryDirectory() as scan_dir:
        for path in pathlib.Path(directory).glob("*.yml"):
            shutil.copy(path, scan_dir)
        env = dict(os.environ, BC_SKIP_MAPPING="TRUE")
        proc = subprocess.run([checkov_binary(), "--config-file", str(CHECKOV_CONFIG), "-d", scan_dir, "-o", "json"],
                              capture_output=True, text=True, env=env, check=False, cwd=scan_dir)
    if proc.returncode not in (0, 1):
        raise RuntimeError("checkov failed (%d): %s" % (proc.returncode, proc.stderr[-2000:]))
    reports = json.loads(proc.stdout)
    if isinstance(reports, dict):
        reports = [reports]
    failures = []
    resources = 0
    for report in reports:
        results = report.get("results") or {}
        resources += (report.get("summary") or {}).get("resource_count", 0)
        for failed in results.get("failed_checks") or []:
            failures.append("%s %s (%s)" % (failed["check_id"], failed["resource"], os.path.basename(failed["file_path"])))
    if resources == 0 and not failures:
        raise RuntimeError("checkov scanned no resource: %s" % proc.stdout[:500])
    return failures
