# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""signer_guard: payload parsing on real encodings (tests/lib/tezos_crypto.py,
separate code), the watermark decisions, durable state, and the HTTP guard
in front of a fake load balancer that signs with real ed25519."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import tezos_crypto as tc

import signer_guard as sg

CHAIN = "NetXdQprcVkpaWU"
OTHER_CHAIN = "NetXnHfVqm9iesp"
URI = "ledger://molecule-double-ledger-nano/ed25519/0h/0h"
SEED, EDPK, PKH = tc.double_ledger_key(URI)


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("level,round_,locked", [(1, 0, None), (5726300, 3, None), (5726300, 2, 1), (2 ** 31 - 1, 0, 0)])
def test_block_level_and_round(level, round_, locked):
    payload = tc.block_payload(CHAIN, level, round_, predecessor_round=4, locked_round=locked)
    assert sg.parse_consensus(payload) == ("block", CHAIN, level, round_)
    assert tc.parse_level_round(payload)[2:] == (level, round_)


@pytest.mark.parametrize("make,kind", [(tc.preattestation_payload, "preattestation"), (tc.attestation_payload, "attestation")])
def test_consensus_level_and_round(make, kind):
    assert sg.parse_consensus(make(OTHER_CHAIN, 912, 7, slot=300)) == (kind, OTHER_CHAIN, 912, 7)


def test_other_magic_bytes_are_not_consensus():
    assert sg.parse_consensus(tc.transfer_like_payload()) is None
    assert sg.parse_consensus(b"") is None


@pytest.mark.parametrize("payload", [
    b"\x11" + b"\x00" * 8,
    tc.block_payload(CHAIN, 10, 0)[:sg.BLOCK_FITNESS_OFFSET + 6],
    tc.attestation_payload(CHAIN, 10, 0)[:sg.CONSENSUS_LEVEL_OFFSET + 5],
])
def test_truncated_payloads_are_refused(payload):
    with pytest.raises(sg.GuardError) as info:
        sg.parse_consensus(payload)
    assert info.value.status == 400


def test_chain_id_encoding():
    assert sg.chain_id_b58(tc.chain_id_bytes(CHAIN)) == CHAIN


# ---------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------

MARK = {"level": 100, "round": 2, "hash": "aa", "signature": "edsigX"}


@pytest.mark.parametrize("mark,level,round_,data_hash,expected", [
    (None, 1, 0, "aa", ("sign", None)),
    (MARK, 101, 0, "bb", ("sign", None)),
    (MARK, 100, 3, "bb", ("sign", None)),
    (MARK, 100, 2, "aa", ("replay", "edsigX")),
    (dict(MARK, signature=None), 100, 2, "aa", ("sign", None)),
])
def test_decide_allows(mark, level, round_, data_hash, expected):
    assert sg.decide(mark, level, round_, data_hash) == expected


@pytest.mark.parametrize("mark,level,round_", [
    (MARK, 100, 2), (dict(MARK, signature=None), 100, 2), (MARK, 100, 1), (MARK, 99, 5),
])
def test_decide_refuses(mark, level, round_):
    assert sg.decide(mark, level, round_, "bb")[0] == "refuse"


def test_watermarks_persist_atomically(tmp_path):
    marks = sg.Watermarks(str(tmp_path))
    marks.put("block", CHAIN, PKH, {"level": 7, "round": 0, "hash": "aa", "signature": None})
    assert sg.Watermarks(str(tmp_path)).get("block", CHAIN, PKH)["level"] == 7
    assert sg.Watermarks(str(tmp_path)).get("attestation", CHAIN, PKH) is None
    assert sorted(os.listdir(str(tmp_path))) == [sg.STATE_FILE]


def test_unreadable_watermarks_stop_the_guard(tmp_path):
    (tmp_path / sg.STATE_FILE).write_text("[1, 2]")
    with pytest.raises(ValueError):
        sg.Watermarks(str(tmp_path))
    (tmp_path / sg.STATE_FILE).write_text("{trunc")
    with pytest.raises(ValueError):
        sg.Watermarks(str(tmp_path))


# ---------------------------------------------------------------------------
# The HTTP guard in front of a fake load balancer
# ---------------------------------------------------------------------------

class FakeBalancer(ThreadingHTTPServer):
    """Signs like octez-signer without -W, records what it was asked, and
    can be told to fail; ``on_sign`` runs before it answers."""

    daemon_threads = True

    def __init__(self):
        super(FakeBalancer, self).__init__(("127.0.0.1", 0), BalancerHandler)
        self.signed = []
        self.fail_next = False
        self.on_sign = None


class BalancerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-tezos-signer", "pi1")  # lower-case, as haproxy sends it
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self.answer(200, {"public_key": EDPK})

    def do_POST(self):  # noqa: N802
        data = bytes.fromhex(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        if self.server.on_sign:
            self.server.on_sign(data)
        if self.server.fail_next:
            self.server.fail_next = False
            return self.answer(500, [{"kind": "temporary", "id": "failure", "msg": "Found no ledger"}])
        self.server.signed.append(data)
        return self.answer(200, {"signature": tc.sign(SEED, data)})


@pytest.fixture
def balancer():
    server = FakeBalancer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def config_of(tmp_path, balancer, **extra):
    config = {"listen_address": "127.0.0.1", "port": 1, "upstream_url": "http://127.0.0.1:%d" % balancer.server_address[1],
              "upstream_timeout": 5, "state_dir": str(tmp_path / "state"), "allowed_magic_bytes": []}
    config.update(extra)
    return config


@pytest.fixture
def guard_url(tmp_path, balancer):
    servers = []

    def start():
        server = make_guard(config_of(tmp_path, balancer))
        servers.append(server)
        return "http://127.0.0.1:%d" % server.server_address[1]

    yield start
    for server in servers:
        stop_guard(server)


def make_guard(config):
    config = dict(config)
    config["port"] = 0
    server = sg.make_server(config)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop_guard(server):
    server.shutdown()
    server.server_close()
    os.close(server.lock_fd)


def post(url, payload, pkh=PKH):
    request = urllib.request.Request("%s/keys/%s" % (url, pkh), data=json.dumps(payload.hex()).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read()), answer.headers.get("X-Tezos-Signer")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), None


def test_signs_and_keeps_the_mark(guard_url, balancer, tmp_path):
    url = guard_url()
    block = tc.block_payload(CHAIN, 500, 0)
    status, body, signer = post(url, block)
    assert (status, signer) == (200, "pi1")
    assert tc.verify(EDPK, block, body["signature"])
    stored = json.loads((tmp_path / "state" / sg.STATE_FILE).read_text())["block"][CHAIN][PKH]
    assert (stored["level"], stored["round"], stored["signature"]) == (500, 0, body["signature"])


def test_refuses_other_bytes_at_a_signed_level_without_asking_a_signer(guard_url, balancer):
    url = guard_url()
    assert post(url, tc.block_payload(CHAIN, 500, 1))[0] == 200
    conflicting = tc.block_payload(CHAIN, 500, 1, timestamp=1700000099)
    status, body, _signer = post(url, conflicting)
    assert status == 409
    assert "already signed" in body[0]["msg"]
    assert post(url, tc.block_payload(CHAIN, 499, 5))[0] == 409
    assert post(url, tc.block_payload(CHAIN, 500, 0))[0] == 409
    assert conflicting not in balancer.signed
    assert len(balancer.signed) == 1


def test_same_bytes_get_the_stored_signature(guard_url, balancer):
    url = guard_url()
    attestation = tc.attestation_payload(CHAIN, 600, 0)
    first = post(url, attestation)
    again = post(url, attestation)
    assert first[0] == again[0] == 200
    assert first[1] == again[1]
    assert again[2] == "signer-guard"
    assert len(balancer.signed) == 1


def test_kinds_chains_and_keys_are_separate(guard_url, balancer):
    url = guard_url()
    assert post(url, tc.block_payload(CHAIN, 700, 0))[0] == 200
    assert post(url, tc.preattestation_payload(CHAIN, 700, 0))[0] == 200
    assert post(url, tc.attestation_payload(CHAIN, 700, 0))[0] == 200
    assert post(url, tc.block_payload(OTHER_CHAIN, 700, 0))[0] == 200
    _seed, _edpk, other_pkh = tc.key_of_seed(b"\x01" * 32)
    assert post(url, tc.block_payload(CHAIN, 700, 0, timestamp=5), pkh=other_pkh)[0] == 200
    assert post(url, tc.block_payload(CHAIN, 701, 0))[0] == 200


def test_reservation_is_on_disk_before_the_signer_is_asked(guard_url, balancer, tmp_path):
    url = guard_url()
    seen = []

    def check_disk(data):
        marks = json.loads((tmp_path / "state" / sg.STATE_FILE).read_text())
        seen.append(marks["block"][CHAIN][PKH])

    balancer.on_sign = check_disk
    block = tc.block_payload(CHAIN, 800, 0)
    assert post(url, block)[0] == 200
    assert seen == [{"level": 800, "round": 0, "hash": sg.payload_hash(block), "signature": None}]


def test_failed_signing_keeps_the_reservation(guard_url, balancer):
    url = guard_url()
    block = tc.block_payload(CHAIN, 900, 0)
    balancer.fail_next = True
    assert post(url, block)[0] == 500
    # Another block at that level and round: refused (the signer may have
    # signed before failing to answer); the same one: sent again.
    assert post(url, tc.block_payload(CHAIN, 900, 0, timestamp=42))[0] == 409
    status, body, _signer = post(url, block)
    assert status == 200 and tc.verify(EDPK, block, body["signature"])


def test_marks_survive_a_restart_and_one_guard_per_folder(tmp_path, balancer):
    config = config_of(tmp_path, balancer)
    first = make_guard(config)
    url = "http://127.0.0.1:%d" % first.server_address[1]
    assert post(url, tc.block_payload(CHAIN, 1000, 0))[0] == 200
    with pytest.raises(ValueError):
        sg.make_server(dict(config, port=0))
    stop_guard(first)
    second = make_guard(config)
    try:
        url = "http://127.0.0.1:%d" % second.server_address[1]
        assert post(url, tc.block_payload(CHAIN, 1000, 0, timestamp=3))[0] == 409
    finally:
        stop_guard(second)


def test_other_magic_bytes(tmp_path, balancer):
    server = make_guard(config_of(tmp_path, balancer))
    try:
        url = "http://127.0.0.1:%d" % server.server_address[1]
        assert post(url, tc.transfer_like_payload())[0] == 403
    finally:
        stop_guard(server)
    server = make_guard(config_of(tmp_path, balancer, allowed_magic_bytes=[3]))
    try:
        url = "http://127.0.0.1:%d" % server.server_address[1]
        assert post(url, tc.transfer_like_payload())[0] == 200
        assert post(url, tc.transfer_like_payload())[0] == 200
    finally:
        stop_guard(server)


def test_unreachable_balancer_and_bad_requests(tmp_path, balancer):
    config = config_of(tmp_path, balancer, upstream_url="http://127.0.0.1:9", upstream_timeout=2)
    server = make_guard(config)
    try:
        url = "http://127.0.0.1:%d" % server.server_address[1]
        assert post(url, tc.block_payload(CHAIN, 1, 0))[0] == 502
        assert post(url, tc.block_payload(CHAIN, 2, 0), pkh="../../etc")[0] == 404
        assert post(url, b"\x11\x00")[0] == 400
        with urllib.request.urlopen(url + "/healthz", timeout=5) as answer:
            assert answer.status == 200
    finally:
        stop_guard(server)


def test_public_key_passes_through(guard_url):
    url = guard_url()
    with urllib.request.urlopen("%s/keys/%s" % (url, PKH), timeout=5) as answer:
        assert json.loads(answer.read()) == {"public_key": EDPK}


def test_config_checks(tmp_path, balancer):
    path = tmp_path / "guard.json"
    good = config_of(tmp_path, balancer)
    path.write_text(json.dumps(good))
    assert sg.main(["--config", str(path), "--check-config"]) == 0
    for bad in ({"port": 0}, {"state_dir": "relative"}, {"upstream_url": "https://x"}, {"allowed_magic_bytes": [256]},
                {"extra": 1}, {"upstream_timeout": True}):
        path.write_text(json.dumps(dict(good, **bad)))
        assert sg.main(["--config", str(path), "--check-config"]) == 2
