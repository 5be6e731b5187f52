# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of the manifests tezos_nodes rendered (render-only converge)."""

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

EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
RENDERED = os.path.join(EPHEMERAL, "rendered", "tezos_nodes")
HOT_KEY = os.path.join(EPHEMERAL, "rendered-hot-key", "tezos_nodes")
PKH = "tz1eLV23PrBB5T28FNinUtrHDPgxBiNtmkKB"


def objects(directory=RENDERED):
    return manifests.all_objects(directory)


def by_kind(kind, directory=RENDERED):
    return {obj["metadata"]["name"]: obj for obj in objects(directory) if obj["kind"] == kind}


def containers(workload):
    spec = workload["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


@pytest.mark.parametrize("directory", [RENDERED, HOT_KEY])
def test_strictly_valid_for_every_supported_gke_version(directory):
    assert manifests.load_dir(directory), "nothing rendered in %s" % directory
    assert manifests.validation_errors(directory) == []


@pytest.mark.parametrize("directory", [RENDERED, HOT_KEY])
def test_checkov_finds_nothing_unjustified(directory):
    assert manifests.checkov_failures(directory) == []


def test_files_one_purpose_each():
    names = sorted(os.listdir(RENDERED))
    assert names[0] == "00-namespace-bakery.yml"
    for name, docs in manifests.load_dir(RENDERED).items():
        assert len(docs) == 1, name
        kind = name.split("-")[1]
        assert docs[0]["kind"].lower() == kind, name


def test_images_pinned_by_tag_and_digest():
    for workload in list(by_kind("StatefulSet").values()) + list(by_kind("Deployment").values()):
        for container in containers(workload):
            image = container["image"]
            assert ":" in image.split("@")[0].rsplit("/", 1)[1], image
            assert "@sha256:" in image and len(image.split("@sha256:")[1]) == 64, image


def test_every_container_locked_down():
    for workload in list(by_kind("StatefulSet").values()) + list(by_kind("Deployment").values()):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in containers(workload):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, container["name"]
            assert security["allowPrivilegeEscalation"] is False, container["name"]
            assert security["capabilities"]["drop"] == ["ALL"], container["name"]
            assert container["resources"]["limits"]["memory"], container["name"]
            assert container["resources"]["requests"]["cpu"], container["name"]


def test_two_public_nodes_and_one_private_with_the_baker():
    sets = by_kind("StatefulSet")
    public, private = sets["octez-public-node"], sets["octez-baking-node"]
    assert public["spec"]["replicas"] == 2
    assert private["spec"]["replicas"] == 1
    for node in (public, private):
        claim = node["spec"]["volumeClaimTemplates"][0]["spec"]
        assert claim["accessModes"] == ["ReadWriteOnce"]
        assert claim["storageClassName"] == "tezos-regional"
        main = node["spec"]["template"]["spec"]["containers"][0]
        assert main["name"] == "octez-node"
        assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(main)
        assert "/health/ready" in json.dumps(main["readinessProbe"])
    # Exactly one container in the whole bakery runs the baker: in the
    # private node's pod, on its data volume, as one replica.
    bakers = [(name, c) for name, workload in list(sets.items()) + list(by_kind("Deployment").items())
              for c in workload["spec"]["template"]["spec"]["containers"] if c["command"][0] == "octez-baker"]
    assert [name for name, _c in bakers] == ["octez-baking-node"]
    command = bakers[0][1]["command"]
    assert command[3:8] == ["run", "with", "local", "node", "/var/run/tezos/node/data"]
    assert "--without-dal" in command and "--liquidity-baking-toggle-vote=pass" in command
    node = private["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--private-mode" in node and "--no-bootstrap-peers" in node
    assert [arg for arg in node if arg.startswith("--peer=")] == [
        "--peer=octez-public-node-%d.octez-public-node.tezos.svc.cluster.local:9732" % index for index in (0, 1)]
    storage = by_kind("StorageClass")["tezos-regional"]
    assert storage["parameters"]["replication-type"] == "regional-pd"


def test_node_configuration():
    config = by_kind("ConfigMap")["octez-node-config"]["data"]
    public, private = json.loads(config["public.json"]), json.loads(config["private.json"])
    assert public["network"] == private["network"] == "mainnet"
    assert public["shell"]["history_mode"] == "rolling"
    assert private["p2p"]["private-mode"] is True
    assert private["rpc"]["listen-addrs"] == ["127.0.0.1:8732"]
    assert public["metrics_addr"] == private["metrics_addr"] == ["0.0.0.0:9932"]


def test_snapshot_import_verifies_sha256_and_block():
    script = by_kind("ConfigMap")["octez-node-scripts"]["data"]["import-snapshot.sh"]
    assert 'sha256sum -c -' in script and '--block "$SNAPSHOT_BLOCK"' in script
    assert script.index("sha256sum -c") < script.index("octez-node snapshot import")
    init = by_kind("StatefulSet")["octez-public-node"]["spec"]["template"]["spec"]["initContainers"][0]
    env = {item["name"]: item["value"] for item in init["env"]}
    assert env["SNAPSHOT_SHA256"] == "ab" * 32
    assert env["SNAPSHOT_BLOCK"].startswith("B")


def test_only_public_nodes_exposed_on_p2p():
    load_balancers = {name: svc for name, svc in by_kind("Service").items() if svc["spec"].get("type") == "LoadBalancer"}
    assert sorted(load_balancers) == ["octez-public-node-p2p", "signer-forwarder-ssh"]
    assert [p["port"] for p in load_balancers["octez-public-node-p2p"]["spec"]["ports"]] == [9732]
    assert load_balancers["octez-public-node-p2p"]["spec"]["selector"]["app.kubernetes.io/component"] == "public-node"
    assert load_balancers["signer-forwarder-ssh"]["spec"]["loadBalancerSourceRanges"] == ["198.51.100.0/24"]


@pytest.fixture(name="network")
def fixture_network():
    everything = objects()
    pods = pods_from_workloads(everything)
    return Evaluator(everything), pods["octez-public-node"], pods["octez-baking-node"], pods["signer-forwarder"]


def test_network_policy_intent(network):
    evaluator, public, private, forwarder = network
    internet = External("8.8.8.8")
    dns = Pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"})
    # The private node peers with the public nodes, both ways; nobody else.
    assert evaluator.can_reach(public, private, 9732)
    assert evaluator.can_reach(private, public, 9732)
    assert not evaluator.can_reach(internet, private, 9732)
    assert not evaluator.can_reach(forwarder, private, 9732)
    # The baker (in the private node's pod) reaches the signer forwarder.
    assert evaluator.can_reach(private, forwarder, 6732)
    # ... only the guard's port: haproxy behind it is not reachable.
    assert not evaluator.can_reach(private, forwarder, 6742)
    # The public nodes reach neither the baker's pod (RPC, any port) nor the signers.
    assert not evaluator.can_reach(public, private, 8732)
    assert not evaluator.can_reach(public, private, 6732)
    assert not evaluator.can_reach(public, forwarder, 6732)
    assert not evaluator.can_reach(internet, forwarder, 6732)
    # The private node has no way out but the public nodes, DNS and the snapshot provider.
    assert not evaluator.can_reach(private, internet, 443)
    assert not evaluator.can_reach(private, internet, 9732)
    assert evaluator.can_reach(private, dns, 53, "UDP")
    assert evaluator.can_reach(private, dns, 53, "TCP")
    assert not evaluator.can_reach(private, Pod("other", "kube-system", {"k8s-app": "other"}), 53, "UDP")
    assert evaluator.can_reach(private, External("203.0.113.7"), 443)
    assert not evaluator.can_reach(private, External("203.0.113.7"), 80)
    # The world reaches the public nodes' P2P only.
    assert evaluator.can_reach(internet, public, 9732)
    assert not evaluator.can_reach(internet, public, 8732)
    assert evaluator.can_reach(public, internet, 9732)
    # The Pis' tunnels reach the forwarder's sshd from their ranges only; it opens nothing.
    assert evaluator.can_reach(External("198.51.100.10"), forwarder, 2222)
    assert not evaluator.can_reach(internet, forwarder, 2222)
    assert not evaluator.can_reach(forwarder, internet, 443)
    assert not evaluator.can_reach(forwarder, public, 8732)
    # Metrics for the scrapers only.
    scraper = Pod("collector", "gmp-system", {"app": "collector"})
    assert evaluator.can_reach(scraper, private, 9932)
    assert evaluator.can_reach(scraper, forwarder, 8404)
    assert not evaluator.can_reach(Pod("x", "default", {}), private, 9932)


def test_forwarder_haproxy_and_sshd_config(tmp_path):
    data = by_kind("ConfigMap")["signer-forwarder"]["data"]
    config = tmp_path / "haproxy.cfg"
    config.write_text(data["haproxy.cfg"])
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    result = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    sshd = data["sshd_config"]
    match = sshd[sshd.index("Match User tunnel"):]
    for line in ("AllowTcpForwarding remote", "PermitOpen none", "GatewayPorts clientspecified",
                 "ClientAliveInterval 15", "ForceCommand /bin/false"):
        assert line in match
    keys = [line for line in data["authorized_keys"].splitlines() if line]
    assert len(keys) == 2 and all(line.startswith("restrict,port-forwarding,permitlisten=") for line in keys)


def test_signer_guard_fronts_haproxy_in_the_forwarder_pod(tmp_path):
    """The baker's signer URL reaches the guard; haproxy listens on the pod's
    loopback only, behind it; the guard's watermark lives on a regional
    ReadWriteOnce volume; its script is the signer_guard role's own."""
    service = by_kind("Service")["signer-forwarder"]
    assert {"name": "signer", "port": 6732, "targetPort": "signer", "protocol": "TCP"} in service["spec"]["ports"]
    pod = by_kind("Deployment")["signer-forwarder"]["spec"]["template"]["spec"]
    named = {port["name"]: container["name"] for container in pod["containers"] for port in container.get("ports", [])}
    assert named["signer"] == "guard"
    guard = [container for container in pod["containers"] if container["name"] == "guard"][0]
    assert {"name": "guard-state", "mountPath": "/var/lib/tezos-signer-guard"} in guard["volumeMounts"]
    volume = [item for item in pod["volumes"] if item["name"] == "guard-state"][0]
    claim = by_kind("PersistentVolumeClaim")[volume["persistentVolumeClaim"]["claimName"]]["spec"]
    assert claim["accessModes"] == ["ReadWriteOnce"] and claim["storageClassName"] == "tezos-regional"

    data = by_kind("ConfigMap")["signer-forwarder"]["data"]
    haproxy = data["haproxy.cfg"]
    frontend = haproxy[haproxy.index("frontend signer"):haproxy.index("backend signers")]
    assert "bind 127.0.0.1:6742" in frontend
    settings = json.loads(data["signer-guard.json"])
    assert settings == {"listen_address": "0.0.0.0", "port": 6732, "upstream_url": "http://127.0.0.1:6742",
                        "upstream_timeout": 10, "state_dir": "/var/lib/tezos-signer-guard", "allowed_magic_bytes": []}
    with open(os.path.join(ROOT, "roles", "signer_guard", "files", "usr", "local", "lib", "tezos-bakery",
                           "signer_guard.py"), encoding="utf-8") as handle:
        assert data["signer_guard.py"].rstrip("\n") == handle.read().rstrip("\n")

    # The script from the ConfigMap accepts the settings from the ConfigMap
    # (its state folder moved to a temporary one).
    (tmp_path / "signer_guard.py").write_text(data["signer_guard.py"])
    (tmp_path / "signer-guard.json").write_text(json.dumps(dict(settings, state_dir=str(tmp_path / "state"))))
    (tmp_path / "state").mkdir()
    result = subprocess.run([sys.executable, "-I", str(tmp_path / "signer_guard.py"), "--config",
                             str(tmp_path / "signer-guard.json"), "--check-config"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hot_key_variant():
    sets = by_kind("StatefulSet", HOT_KEY)
    assert "Deployment" not in {obj["kind"] for obj in objects(HOT_KEY)}
    init = sets["octez-baking-node"]["spec"]["template"]["spec"]["initContainers"][1]
    assert {"name": "hot-key", "mountPath": "/etc/tezos-bakery/hot-key", "readOnly": True} in init["volumeMounts"]
    config = json.loads(by_kind("ConfigMap", HOT_KEY)["octez-node-config"]["data"]["public.json"])
    assert config["network"] == "ghostnet"
    assert PKH in json.dumps(sets["octez-baking-node"])


def test_metrics_are_exposed_for_scraping():
    sets = by_kind("StatefulSet")
    for name in ("octez-public-node", "octez-baking-node"):
        template = sets[name]["spec"]["template"]
        assert template["metadata"]["annotations"]["prometheus.io/port"] == "9932"
        assert {"name": "metrics", "containerPort": 9932, "protocol": "TCP"} in template["spec"]["containers"][0]["ports"]
    forwarder = by_kind("Deployment")["signer-forwarder"]["spec"]["template"]
    assert forwarder["metadata"]["annotations"]["prometheus.io/port"] == "8404"
