"""The guard on a forwarder stand-in, in front of an octez-signer test
double that has NO -W: signatures pass and verify, the shared watermark
refuses other bytes at a signed level and anything lower, survives a
restart, the reservation holds when the signer is down, and the service is
locked down."""
import json

import pytest
import tezos_crypto as tc

testinfra_hosts = ["ansible://forwarder"]

URI = "ledger://molecule-double-ledger-nano/ed25519/0h/0h"
SEED, EDPK, PKH = tc.double_ledger_key(URI)
CHAIN = "NetXdQprcVkpaWU"
GUARD = "http://127.0.0.1:6732"
UPSTREAM = "http://127.0.0.1:6742"
STATE = "/var/lib/tezos-signer-guard/high_watermarks.json"


def sign(host, payload, url=GUARD):
    """(HTTP status, parsed body) of a signing request."""
    out = host.run("curl -s -m 10 -o /tmp/guard-answer -w '%%{http_code}' -H 'Content-Type: application/json' -d %s %s/keys/%s",
                   json.dumps(payload.hex()), url, PKH)
    body = host.file("/tmp/guard-answer").content_string
    return int(out.stdout), json.loads(body) if body else None


def marks(host):
    return json.loads(host.file(STATE).content_string)


def test_service_is_unprivileged_and_sandboxed(host):
    service = host.service("tezos-signer-guard")
    assert service.is_running and service.is_enabled
    props = host.check_output("systemctl show tezos-signer-guard -p User -p NoNewPrivileges -p ProtectSystem"
                              " -p CapabilityBoundingSet -p PrivateDevices -p ReadWritePaths")
    for expected in ("User=tezos-signer-guard", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "CapabilityBoundingSet=\n", "PrivateDevices=yes", "ReadWritePaths=/var/lib/tezos-signer-guard"):
        assert expected in props + "\n"
    state = host.file("/var/lib/tezos-signer-guard")
    assert (state.user, state.mode) == ("tezos-signer-guard", 0o700)
    assert host.socket("tcp://0.0.0.0:6732").is_listening


def test_public_key_passes_through(host):
    assert json.loads(host.check_output("curl -sf %s/keys/%s", GUARD, PKH)) == {"public_key": EDPK}


def test_block_is_signed_once_per_level_and_round(host):
    block = tc.block_payload(CHAIN, 5000, 0)
    status, body = sign(host, block)
    assert status == 200 and tc.verify(EDPK, block, body["signature"])
    mark = marks(host)["block"][CHAIN][PKH]
    assert (mark["level"], mark["round"], mark["signature"]) == (5000, 0, body["signature"])
    # The same bytes: the same signature. Other bytes at 5000/0: refused,
    # although the signer behind (no -W) would sign them.
    assert sign(host, block) == (200, body)
    other = tc.block_payload(CHAIN, 5000, 0, timestamp=1700000123)
    status, body = sign(host, other)
    assert status == 409 and "already signed" in body[0]["msg"]
    assert sign(host, other, url=UPSTREAM)[0] == 200, "the upstream double has no -W: only the guard refused"
    assert sign(host, tc.block_payload(CHAIN, 4999, 3))[0] == 409
    assert sign(host, tc.block_payload(CHAIN, 5000, 1))[0] == 200


def test_attestations_have_their_own_mark(host):
    for make in (tc.preattestation_payload, tc.attestation_payload):
        payload = make(CHAIN, 5000, 0)
        status, body = sign(host, payload)
        assert status == 200 and tc.verify(EDPK, payload, body["signature"])
        assert sign(host, make(CHAIN, 5000, 0, slot=9))[0] == 409


def test_marks_survive_a_restart(host):
    host.run_expect([0], "systemctl restart tezos-signer-guard")
    host.run_expect([0], "for i in $(seq 30); do curl -sf http://127.0.0.1:6732/healthz && exit 0; sleep 0.5; done; exit 1")
    assert sign(host, tc.block_payload(CHAIN, 5000, 1, timestamp=7))[0] == 409
    assert sign(host, tc.block_payload(CHAIN, 5001, 0))[0] == 200


def test_reservation_holds_while_the_signers_are_down(host):
    host.run_expect([0], "systemctl stop upstream-signer")
    try:
        block = tc.block_payload(CHAIN, 5002, 0)
        assert sign(host, block)[0] == 502
        assert marks(host)["block"][CHAIN][PKH]["signature"] is None
    finally:
        host.run_expect([0], "systemctl start upstream-signer && sleep 2")
    assert sign(host, tc.block_payload(CHAIN, 5002, 0, timestamp=9))[0] == 409
    status, body = sign(host, block)
    assert status == 200 and tc.verify(EDPK, block, body["signature"])


@pytest.mark.parametrize("payload,status", [(tc.transfer_like_payload(), 403), (b"\x11\x00\x00", 400)], ids=["transfer", "truncated"])
def test_other_requests_are_refused(host, payload, status):
    assert sign(host, payload)[0] == status
