# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of the manifests backerei rendered (render-only converge)."""

import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "k8s"))

import manifests  # noqa: E402 pylint: disable=wrong-import-position
from netpol import Evaluator, External, Pod, pods_from_workloads  # noqa: E402 pylint: disable=wrong-import-position

RENDERED = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "rendered")
PAYOUTS = os.path.join(RENDERED, "backerei")


def by_kind(kind, directory=PAYOUTS):
    return {obj["metadata"]["name"]: obj for obj in manifests.all_objects(directory) if obj["kind"] == kind}


def test_strictly_valid_for_every_supported_gke_version():
    assert manifests.load_dir(PAYOUTS)
    assert manifests.validation_errors(PAYOUTS) == []


def test_checkov_finds_nothing_unjustified():
    assert manifests.checkov_failures(PAYOUTS) == []


def test_tezpay_configuration():
    data = by_kind("ConfigMap")["tezpay"]["data"]
    config = json.loads(data["config.hjson"])
    assert config["baker"] == "tz1eLV23PrBB5T28FNinUtrHDPgxBiNtmkKB"
    assert config["payouts"]["wallet_mode"] == "remote-signer"
    assert config["payouts"]["fee"] == 0.08
    assert config["payouts"]["minimum_payout_amount"] == 0.5
    assert config["delegators"]["ignore"] == ["tz1burnburnburnburnburnburnburjAYjjX"]
    assert config["network"]["rpc_pool"] == ["http://octez-public-node.tezos.svc.cluster.local:8732"]
    signer = json.loads(data["remote_signer.hjson"])
    assert signer == {"pkh": "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx",
                      "url": "http://payout-signer.tezos.svc.cluster.local:6732"}


def test_cronjob_pays_once_per_run_and_keeps_reports():
    cron = by_kind("CronJob")["tezpay-payouts"]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["tezpay", "pay", "--confirm", "--skip-version-check"]
    assert "@sha256:" in container["image"]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert mounts["/var/lib/tezpay/reports"] == "reports"
    claims = [volume["persistentVolumeClaim"]["claimName"] for volume in pod["volumes"] if "persistentVolumeClaim" in volume]
    assert claims == ["tezpay-reports"] and "tezpay-reports" in by_kind("PersistentVolumeClaim")


def test_payout_signer_signs_transfers_only():
    signer = by_kind("Deployment")["payout-signer"]["spec"]["template"]["spec"]["containers"][0]
    command = signer["command"]
    assert command[command.index("-M") + 1] == "0x03"
    assert "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx" in signer["readinessProbe"]["httpGet"]["path"]


def test_network_policy_intent():
    everything = manifests.all_objects(PAYOUTS) + manifests.all_objects(os.path.join(RENDERED, "tezos_nodes"))
    evaluator = Evaluator(everything)
    pods = pods_from_workloads(everything)
    payouts, signer = pods["tezpay-payouts"], pods["payout-signer"]
    public, private = pods["octez-public-node"], pods["octez-baking-node"]
    assert evaluator.can_reach(payouts, public, 8732)
    assert not evaluator.can_reach(payouts, private, 8732)
    assert evaluator.can_reach(payouts, signer, 6732)
    assert not evaluator.can_reach(public, signer, 6732)
    assert not evaluator.can_reach(private, signer, 6732)
    assert not evaluator.can_reach(External("8.8.8.8"), signer, 6732)
    assert not evaluator.can_reach(signer, External("8.8.8.8"), 443)
    assert evaluator.can_reach(payouts, External("8.8.8.8"), 443)
    assert not evaluator.can_reach(payouts, External("10.0.0.5"), 443)
    assert not evaluator.can_reach(payouts, External("8.8.8.8"), 80)
    assert evaluator.can_reach(payouts, Pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"}), 53, "UDP")
    assert not evaluator.can_reach(public, payouts, 8080)
