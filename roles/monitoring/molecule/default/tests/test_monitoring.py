# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What tezos.bakery.monitoring rendered (render-only converge): valid
manifests, policies that let Prometheus scrape and nothing else in, the
configuration files the real tools accept, alert rules whose promtool unit
tests pass for every rule (firing and quiet), and the exporter running from
its ConfigMap."""

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "k8s"))

import manifests  # noqa: E402 pylint: disable=wrong-import-position
from netpol import Evaluator, External, Pod  # noqa: E402 pylint: disable=wrong-import-position

EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
RENDERED = os.path.join(EPHEMERAL, "rendered", "monitoring")
CONFIG = os.path.join(EPHEMERAL, "rendered", "monitoring-config", "etc")
RULES = os.path.join(CONFIG, "prometheus", "rules", "tezos-bakery.rules.yml")
RULE_TESTS = os.path.join(HERE, "rules")
PKH = "tz1eLV23PrBB5T28FNinUtrHDPgxBiNtmkKB"

PROMETHEUS = Pod("prometheus-0", "monitoring", {"app.kubernetes.io/name": "prometheus"})
ALERTMANAGER = Pod("alertmanager", "monitoring", {"app.kubernetes.io/name": "alertmanager"})
EXPORTER = Pod("bakery-exporter", "monitoring", {"app.kubernetes.io/name": "bakery-exporter",
                                                 "tezos.bakery/rpc-client": "true"})
PUBLIC_NODE = Pod("octez-public-node-0", "tezos", {"app.kubernetes.io/name": "octez-node",
                                                   "app.kubernetes.io/component": "public-node"})
BAKING_NODE = Pod("octez-baking-node-0", "tezos", {"app.kubernetes.io/name": "octez-node",
                                                   "app.kubernetes.io/component": "baking-node"})
FORWARDER = Pod("signer-forwarder", "tezos", {"app.kubernetes.io/name": "signer-forwarder"})
INTERNET = External("203.0.113.9")


def by_kind(kind):
    return {obj["metadata"]["name"]: obj for obj in manifests.all_objects(RENDERED) if obj["kind"] == kind}


@pytest.fixture(scope="module")
def evaluator():
    return Evaluator(manifests.all_objects(RENDERED))


def test_strictly_valid_for_every_supported_gke_version():
    assert len(manifests.load_dir(RENDERED)) == 19
    assert manifests.validation_errors(RENDERED) == []


def test_checkov_finds_nothing_unjustified():
    assert manifests.checkov_failures(RENDERED) == []


def test_one_object_per_file_named_after_it():
    for name, docs in manifests.load_dir(RENDERED).items():
        assert len(docs) == 1, name
        assert docs[0]["kind"].lower() == name.split("-")[1], name


def test_images_pinned_by_tag_and_digest():
    for workload in list(by_kind("Deployment").values()) + list(by_kind("StatefulSet").values()):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            image = container["image"]
            assert ":" in image.split("@")[0] and "@sha256:" in image, image


def test_containers_unprivileged_read_only():
    for workload in list(by_kind("Deployment").values()) + list(by_kind("StatefulSet").values()):
        spec = workload["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert container["resources"]["limits"]["memory"]


def test_prometheus_reaches_its_targets(evaluator):
    assert evaluator.can_reach(PROMETHEUS, PUBLIC_NODE, 9932)
    assert evaluator.can_reach(PROMETHEUS, BAKING_NODE, 9932)
    assert evaluator.can_reach(PROMETHEUS, FORWARDER, 8404)
    assert evaluator.can_reach(PROMETHEUS, ALERTMANAGER, 9093)
    assert evaluator.can_reach(PROMETHEUS, EXPORTER, 9489)


def test_prometheus_reaches_nothing_else(evaluator):
    assert not evaluator.can_reach(PROMETHEUS, PUBLIC_NODE, 8732)
    assert not evaluator.can_reach(PROMETHEUS, FORWARDER, 6732)
    assert not evaluator.can_reach(PROMETHEUS, INTERNET, 80)


def test_nothing_reaches_prometheus_or_alertmanager(evaluator):
    for source in (INTERNET, PUBLIC_NODE, FORWARDER, EXPORTER):
        assert not evaluator.can_reach(source, PROMETHEUS, 9090)
        assert not evaluator.can_reach(source, ALERTMANAGER, 9093)


def test_exporter_asks_the_public_nodes_only(evaluator):
    assert evaluator.can_reach(EXPORTER, PUBLIC_NODE, 8732)
    assert not evaluator.can_reach(EXPORTER, BAKING_NODE, 8732)
    assert not evaluator.can_reach(EXPORTER, FORWARDER, 6732)
    assert not evaluator.can_reach(EXPORTER, INTERNET, 443)


def test_alertmanager_reaches_the_receiver_only(evaluator):
    assert evaluator.can_reach(ALERTMANAGER, INTERNET, 443)
    assert not evaluator.can_reach(ALERTMANAGER, PUBLIC_NODE, 8732)
    assert not evaluator.can_reach(ALERTMANAGER, INTERNET, 80)


def test_receiver_secret_is_in_a_secret_only():
    secret = by_kind("Secret")["alertmanager"]
    config = yaml.safe_load(base64.b64decode(secret["data"]["alertmanager.yml"]))
    assert config["receivers"][0]["slack_configs"][0]["api_url"].endswith("molecule-secret-token")
    for name in os.listdir(RENDERED):
        if name != "14-secret-alertmanager.yml":
            with open(os.path.join(RENDERED, name), encoding="utf-8") as stream:
                assert "molecule-secret-token" not in stream.read(), name
    assert oct(os.stat(os.path.join(CONFIG, "alertmanager", "alertmanager.yml")).st_mode & 0o777) == "0o600"


def test_prometheus_config_is_accepted_by_promtool():
    subprocess.run(["promtool", "check", "config", "--syntax-only",
                    os.path.join(CONFIG, "prometheus", "prometheus.check-without-kubelets.yml")], check=True)
    subprocess.run(["promtool", "check", "rules", RULES], check=True)
    subprocess.run(["amtool", "check-config", os.path.join(CONFIG, "alertmanager", "alertmanager.yml")], check=True)


def test_configmaps_hold_the_checked_files():
    config = by_kind("ConfigMap")
    with open(os.path.join(CONFIG, "prometheus", "prometheus.yml"), encoding="utf-8") as stream:
        assert config["prometheus"]["data"]["prometheus.yml"] == stream.read().rstrip("\n")
    with open(RULES, encoding="utf-8") as stream:
        assert config["prometheus-rules"]["data"]["tezos-bakery.rules.yml"] == stream.read().rstrip("\n")


def test_each_pi_is_scraped_through_the_forwarder():
    with open(os.path.join(CONFIG, "prometheus", "prometheus.yml"), encoding="utf-8") as stream:
        config = yaml.safe_load(stream)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    paths = sorted(target["labels"]["__metrics_path__"] for target in jobs["signers"]["static_configs"])
    assert paths == ["/signers/%s/%s/metrics" % (pi, endpoint)
                     for pi in ("pi1", "pi2") for endpoint in ("health", "lte", "ups")]
    assert jobs["kubelet"]["kubernetes_sd_configs"] == [{"role": "node"}]


def test_rule_unit_tests_pass(tmp_path):
    for name in os.listdir(RULE_TESTS):
        shutil.copy(os.path.join(RULE_TESTS, name), tmp_path)
    shutil.copy(RULES, tmp_path)
    tests = sorted(name for name in os.listdir(RULE_TESTS) if name.endswith(".test.yml"))
    result = subprocess.run(["promtool", "test", "rules"] + tests, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests)


def test_every_rule_is_tested_firing_and_quiet():
    with open(RULES, encoding="utf-8") as stream:
        alerts = {rule["alert"] for group in yaml.safe_load(stream)["groups"] for rule in group["rules"]}
    firing, quiet = set(), set()
    for name in os.listdir(RULE_TESTS):
        with open(os.path.join(RULE_TESTS, name), encoding="utf-8") as stream:
            for test in yaml.safe_load(stream)["tests"]:
                for case in test.get("alert_rule_test", []):
                    (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert alerts - firing == set(), "never tested firing"
    assert alerts - quiet == set(), "never tested quiet"
    assert len(alerts) == 21


class FakeNode(BaseHTTPRequestHandler):
    ANSWERS = {
        "/chains/main/blocks/head/header": {"level": 100, "timestamp": "2026-11-25T21:50:45Z"},
        "/chains/main/is_bootstrapped": {"bootstrapped": True, "sync_state": "synced"},
        "/chains/main/blocks/head/helpers/current_level": {"level": 100, "cycle": 7},
        "/chains/main/blocks/head/context/delegates/" + PKH: {
            "deactivated": False, "grace_period": 10,
            "participation": {"expected_cycle_activity": 30, "missed_slots": 1, "remaining_allowed_missed_slots": 9}},
    }

    def do_GET(self):  # noqa: N802
        body = json.dumps(self.ANSWERS[self.path]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):  # pylint: disable=arguments-differ
        return


def test_exporter_from_its_configmap_serves_valid_metrics(tmp_path):
    script = tmp_path / "bakery_exporter.py"
    script.write_text(by_kind("ConfigMap")["bakery-exporter"]["data"]["bakery_exporter.py"])
    node = ThreadingHTTPServer(("127.0.0.1", 0), FakeNode)
    threading.Thread(target=node.serve_forever, daemon=True).start()
    with subprocess.Popen([sys.executable, str(script), "--listen", "127.0.0.1", "--port", "19489",
                           "--node", "http://127.0.0.1:%d" % node.server_address[1], "--delegate", PKH]) as process:
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:19489/metrics", timeout=5) as answer:
                        text = answer.read().decode()
                    break
                except OSError:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
        finally:
            process.terminate()
            node.shutdown()
    assert 'tezos_bakery_delegate_missed_slots{delegate="%s",node="http://127.0.0.1:%d"} 1.0' % (
        PKH, node.server_address[1]) in text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_deployment_runs_the_exporter_with_the_settings():
    container = by_kind("Deployment")["bakery-exporter"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["python3", "/opt/tezos-bakery/bakery_exporter.py"]
    assert "--delegate=" + PKH in container["command"]
    assert "--node=http://octez-public-node.tezos.svc.cluster.local:8732" in container["command"]
