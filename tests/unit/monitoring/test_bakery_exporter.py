# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The monitoring role's exporter against fake node RPCs on loopback."""

import importlib.util
import json
import pathlib
import re
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SOURCE = (pathlib.Path(__file__).resolve().parents[3]
          / "roles/monitoring/files/usr/local/lib/tezos-bakery/bakery_exporter.py")
SPEC = importlib.util.spec_from_file_location("bakery_exporter", SOURCE)
exporter = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(exporter)

PKH = "tz1eLV23PrBB5T28FNinUtrHDPgxBiNtmkKB"

# Answers shaped like Octez's RPCs (mutez and counters as JSON strings).
ANSWERS = {
    "/chains/main/blocks/head/header": {"level": 8123456, "proto": 2, "timestamp": "2026-11-25T21:50:45Z"},
    "/chains/main/is_bootstrapped": {"bootstrapped": True, "sync_state": "synced"},
    "/chains/main/blocks/head/helpers/current_level": {"level": 8123456, "level_position": 8123455, "cycle": 901,
                                                       "cycle_position": 1234, "expected_commitment": False},
    "/chains/main/blocks/head/context/delegates/" + PKH: {
        "full_balance": "6000000000", "deactivated": False, "grace_period": 905,
        "participation": {"expected_cycle_activity": 3000, "minimal_cycle_activity": 2000, "missed_slots": 12,
                          "missed_levels": 3, "remaining_allowed_missed_slots": 988,
                          "expected_attesting_rewards": "9000000"}},
}


class FakeNode(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.server.delay:
            time.sleep(self.server.delay)
        answer = self.server.answers.get(self.path)
        if answer is None:
            self.send_error(404)
            return
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):  # pylint: disable=arguments-differ
        return


@pytest.fixture
def node_factory():
    servers = []

    def start(answers=None, delay=0.0):
        server = ThreadingHTTPServer(("127.0.0.1", 0), FakeNode)
        server.answers = dict(ANSWERS if answers is None else answers)
        server.delay = delay
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return "http://127.0.0.1:%d" % server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def value(text, name, **labels):
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'([a-z_]+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(key) == wanted for key, wanted in labels.items()):
            return float(match.group(3))
    raise AssertionError("%s%s not in:\n%s" % (name, labels, text))


def test_head_sync_and_cycle(node_factory):
    node = node_factory()
    text = exporter.render([node], [], 2)
    assert value(text, "tezos_bakery_rpc_up", node=node) == 1
    assert value(text, "tezos_bakery_head_level") == 8123456
    assert value(text, "tezos_bakery_head_timestamp_seconds") == 1795643445
    assert value(text, "tezos_bakery_bootstrapped") == 1
    assert value(text, "tezos_bakery_sync_state", state="synced") == 1
    assert value(text, "tezos_bakery_sync_state", state="stuck") == 0
    assert value(text, "tezos_bakery_cycle") == 901


def test_delegate_participation(node_factory):
    node = node_factory()
    text = exporter.render([node], [PKH], 2)
    assert value(text, "tezos_bakery_delegate_deactivated", delegate=PKH) == 0
    assert value(text, "tezos_bakery_delegate_grace_period_cycle", delegate=PKH) == 905
    assert value(text, "tezos_bakery_delegate_missed_slots", delegate=PKH) == 12
    assert value(text, "tezos_bakery_delegate_remaining_allowed_missed_slots", delegate=PKH) == 988
    assert value(text, "tezos_bakery_delegate_expected_cycle_activity", delegate=PKH) == 3000


def test_participation_from_its_own_rpc_when_not_inlined(node_factory):
    answers = dict(ANSWERS)
    info = dict(answers["/chains/main/blocks/head/context/delegates/" + PKH])
    participation = info.pop("participation")
    info["deactivated"] = True
    answers["/chains/main/blocks/head/context/delegates/" + PKH] = info
    answers["/chains/main/blocks/head/context/delegates/%s/participation" % PKH] = dict(participation, missed_slots=40)
    text = exporter.render([node_factory(answers)], [PKH], 2)
    assert value(text, "tezos_bakery_delegate_deactivated", delegate=PKH) == 1
    assert value(text, "tezos_bakery_delegate_missed_slots", delegate=PKH) == 40


def test_unsynced_node(node_factory):
    answers = dict(ANSWERS)
    answers["/chains/main/is_bootstrapped"] = {"bootstrapped": False, "sync_state": "stuck"}
    text = exporter.render([node_factory(answers)], [], 2)
    assert value(text, "tezos_bakery_bootstrapped") == 0
    assert value(text, "tezos_bakery_sync_state", state="stuck") == 1
    assert value(text, "tezos_bakery_sync_state", state="synced") == 0


def test_falls_back_to_the_next_node(node_factory):
    broken = node_factory({})
    good = node_factory()
    text = exporter.render([broken, good], [PKH], 2)
    assert value(text, "tezos_bakery_rpc_up", node=broken) == 0
    assert value(text, "tezos_bakery_rpc_up", node=good) == 1
    assert value(text, "tezos_bakery_head_level", node=good) == 8123456


def test_hung_node_is_cut_by_the_timeout(node_factory):
    slow = node_factory(delay=5)
    start = time.monotonic()
    text = exporter.render([slow], [PKH], 0.5)
    assert time.monotonic() - start < 3
    assert value(text, "tezos_bakery_rpc_up", node=slow) == 0
    assert "tezos_bakery_head_level" not in text


def test_no_node_answers_gives_only_rpc_up(node_factory):
    text = exporter.render(["http://127.0.0.1:9"], [PKH], 1)
    assert value(text, "tezos_bakery_rpc_up", node="http://127.0.0.1:9") == 0
    assert "tezos_bakery_delegate" not in text


def test_http_endpoint(node_factory):
    node = node_factory()
    args = exporter.parse_args(["--listen", "127.0.0.1", "--port", "0", "--node", node, "--delegate", PKH])
    server = exporter.make_server(args)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = "http://127.0.0.1:%d" % server.server_address[1]
        with urllib.request.urlopen(base + "/metrics", timeout=5) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = answer.read().decode()
        assert value(text, "tezos_bakery_delegate_missed_slots", delegate=PKH) == 12
        with urllib.request.urlopen(base + "/healthz", timeout=5) as answer:
            assert answer.status == 200
    finally:
        server.shutdown()
        server.server_close()
