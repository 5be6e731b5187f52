# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of what payout_site rendered, and a real Jekyll build of the site from
the rendered ConfigMap (generator + skeleton) on sample tezpay reports."""

import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "k8s"))

import manifests  # noqa: E402 pylint: disable=wrong-import-position
from netpol import Evaluator, External, Pod, pods_from_workloads  # noqa: E402 pylint: disable=wrong-import-position

RENDERED = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "rendered", "payout_site")
REPORTS = os.path.join(ROOT, "tests", "unit", "fixtures", "tezpay", "reports")


def by_kind(kind):
    return {obj["metadata"]["name"]: obj for obj in manifests.all_objects(RENDERED) if obj["kind"] == kind}


def test_strictly_valid_for_every_supported_gke_version():
    assert manifests.load_dir(RENDERED)
    assert manifests.validation_errors(RENDERED) == []


def test_checkov_finds_nothing_unjustified():
    assert manifests.checkov_failures(RENDERED) == []


def test_intended_bucket_is_public_for_objects_only():
    with open(os.path.join(RENDERED, "bucket.json"), encoding="utf-8") as handle:
        bucket = json.load(handle)
    assert bucket["name"] == "test-bakery-payouts" and bucket["project"] == "test-bakery"
    assert bucket["website"] == {"main_page_suffix": "index.html", "not_found_page": "404.html"}
    assert bucket["default_object_acl"] == [{"bucket": "test-bakery-payouts", "entity": "allUsers", "role": "READER"}]
    assert all(entry["entity"] not in ("allUsers", "allAuthenticatedUsers") for entry in bucket["acl"])
    assert {"bucket": "test-bakery-payouts", "entity": "user-payout-site@test-bakery.iam.gserviceaccount.com",
            "role": "WRITER"} in bucket["acl"]


def test_cronjob_pipeline():
    pod = by_kind("CronJob")["payout-site"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["pages", "jekyll"]
    assert "--title=Test bakery: payouts" in pod["initContainers"][0]["command"]
    assert pod["containers"][0]["command"][-1] == "gs://test-bakery-payouts"
    reports = [v for v in pod["volumes"] if v["name"] == "reports"][0]
    assert reports["persistentVolumeClaim"] == {"claimName": "tezpay-reports", "readOnly": True}
    account = by_kind("ServiceAccount")["payout-site"]
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == \
        "payout-site@test-bakery.iam.gserviceaccount.com"


def test_network_policy_intent():
    everything = manifests.all_objects(RENDERED)
    evaluator = Evaluator(everything)
    site = pods_from_workloads(everything)["payout-site"]
    assert evaluator.can_reach(site, External("142.250.1.1"), 443)
    assert not evaluator.can_reach(site, External("142.250.1.1"), 80)
    assert not evaluator.can_reach(site, External("10.0.0.7"), 443)
    assert evaluator.can_reach(site, External("169.254.169.254"), 80)
    assert not evaluator.can_reach(External("8.8.8.8"), site, 8080)
    assert not evaluator.can_reach(site, Pod("node", "tezos", {"app.kubernetes.io/component": "baking-node"}), 8732)


def site_source(tmp_path):
    """The generator and the skeleton exactly as the ConfigMap mounts them."""
    configmap = by_kind("ConfigMap")["payout-site"]
    cronjob = by_kind("CronJob")["payout-site"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    skeleton_volume = [v for v in cronjob["volumes"] if v["name"] == "skeleton"][0]["configMap"]
    skeleton = tmp_path / "skeleton"
    for item in skeleton_volume["items"]:
        path = skeleton / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(configmap["data"][item["key"]])
    script = tmp_path / "payout_pages.py"
    script.write_text(configmap["data"]["payout_pages.py"])
    with open(os.path.join(ROOT, "roles", "payout_site", "files", "payout_pages.py"), encoding="utf-8") as handle:
        assert script.read_text() == handle.read()
    return script, skeleton


@pytest.mark.skipif(shutil.which("jekyll") is None, reason="jekyll is not installed")
def test_site_builds_with_jekyll(tmp_path):
    script, skeleton = site_source(tmp_path)
    pages = subprocess.run([sys.executable, str(script), "--reports", REPORTS, "--out", str(tmp_path / "src"),
                            "--skeleton", str(skeleton), "--title=Test bakery: payouts",
                            "--baker=tz1eLV23PrBB5T28FNinUtrHDPgxBiNtmkKB"],
                           capture_output=True, text=True, check=False)
    assert pages.returncode == 0, pages.stderr
    build = subprocess.run(["jekyll", "build", "--safe", "--disable-disk-cache", "--source", str(tmp_path / "src"),
                            "--destination", str(tmp_path / "site")], capture_output=True, text=True, check=False,
                           timeout=120, env=dict(os.environ, HOME=str(tmp_path), JEKYLL_ENV="production"))
    assert build.returncode == 0, build.stdout + build.stderr
    site = tmp_path / "site"
    assert "Test bakery: payouts" in (site / "index.html").read_text()
    assert "16.975307" in (site / "cycles" / "850.html").read_text()
    assert "24.745679" in (site / "delegators" / "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx.html").read_text()
    assert (site / "404.html").exists() and (site / "assets" / "style.css").exists()
