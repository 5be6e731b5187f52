"""The arm64 proof: signers.yml converged on the arm64 image (qemu). The
signer signs a block sent through its tunnel from the forwarder, as the
cluster's haproxy would send it; every daemon of the signer side runs under
the arm64 interpreter; the firewall is loaded; the tunnel also carries the
UPS and LTE metrics, as the example inventory asks."""
import json
import os
import time

import pytest
import testinfra

import tezos_crypto as tc

testinfra_hosts = ["ansible://pi1"]

URI = "ledger://molecule-double-ledger-nano/ed25519/0h/0h"
_SEED, EDPK, PKH = tc.double_ledger_key(URI)
CHAIN = "NetXdQprcVkpaWU"
UNITS = ("tezos-signer", "tezos-signer-health", "ups-hat", "tezos-lte-failover", "tezos-signer-tunnel", "nftables", "chrony")


@pytest.fixture(scope="module")
def forwarder():
    return testinfra.get_host("ansible://forwarder", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def through_tunnel(forwarder, port, path, payload=None, limit=120):
    """(status, body) of a request sent from the forwarder to its end of the
    Pi's tunnel (a POST of ``payload`` as the signer's JSON hex string when
    given), retried while nothing answers (the tunnel coming up), bounded."""
    post = "-H 'Content-Type: application/json' --data-binary '\"%s\"'" % payload.hex() if payload else ""
    command = "curl -s -m 20 -w '\\n%%{http_code}' %s http://127.0.0.1:%d%s" % (post, port, path)
    deadline = time.monotonic() + limit
    while True:
        body, _sep, code = forwarder.run(command).stdout.rpartition("\n")
        if code.strip() not in ("", "000") or time.monotonic() > deadline:
            return int(code.strip() or 0), body
        time.sleep(2)


def test_the_pi_is_arm64(host):
    assert host.system_info.arch == "aarch64"
    assert host.check_output("python3 -c 'import platform; print(platform.machine())'") == "aarch64"


def test_every_signer_side_unit_runs(host):
    for unit in UNITS:
        assert host.service(unit).is_running, unit


def test_the_arm64_release_pin_was_installed(host):
    # tests/molecule/group_vars/all/signers.yml pins the doubles for arm64.
    for binary in ("octez-signer", "octez-client"):
        assert host.file("/usr/local/bin/%s" % binary).exists, binary


def test_the_firewall_drops_by_default(host):
    ruleset = host.check_output("nft list chain inet filter input")
    assert "policy drop" in ruleset


def test_the_signer_signs_through_the_tunnel(forwarder):
    status, body = through_tunnel(forwarder, 16732, "/keys/%s" % PKH)
    assert status == 200, body
    assert json.loads(body)["public_key"] == EDPK
    payload = tc.block_payload(CHAIN, level=100, round_=0)
    status, body = through_tunnel(forwarder, 16732, "/keys/%s" % PKH, payload)
    assert status == 200, body
    assert tc.verify(EDPK, payload, json.loads(body)["signature"])


def test_a_lower_block_is_refused_through_the_tunnel(forwarder):
    status, body = through_tunnel(forwarder, 16732, "/keys/%s" % PKH, tc.block_payload(CHAIN, level=99, round_=0))
    assert status != 200
    assert "signature" not in body


def test_the_health_endpoint_says_ready_through_the_tunnel(forwarder):
    deadline = time.monotonic() + 120
    while True:
        status, body = through_tunnel(forwarder, 16733, "/healthz")
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert status == 200, body


@pytest.mark.parametrize("port, metric", [(19101, "ups_battery_percent"), (19102, "lte_failover_active_uplink")])
def test_ups_and_lte_metrics_ride_the_tunnel(forwarder, port, metric):
    status, body = through_tunnel(forwarder, port, "/metrics")
    assert status == 200, body
    assert metric in body
