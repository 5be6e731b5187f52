# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/doubles/octez-client: its outputs are what
plugins/module_utils/octez_ledger.py parses, for every Ledger state."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import stat
import subprocess
import sys
import time

import pytest
import tezos_crypto as tc
from ansible_collections.tezos.bakery.plugins.module_utils import octez_ledger as ol
from double_ledger import CHAIN, PKH, PUBLIC_KEY, URI, double_path

CLIENT = double_path("octez-client")
OTHER_URI = "ledger://molecule-double-ledger-nano/ed25519/1h/0h"
READY = {
    "connected": True,
    "app": "Tezos Baking",
    "app_version": "2.4.7",
    "name": "molecule-double-ledger-nano",
    "authorized": {"curve": "ed25519", "path": "44h/1729h/0h/0h"},
    "hwm": {"main": 100, "main_round": 0, "test": 0, "test_round": 0, "chain_id": CHAIN},
}


@pytest.fixture
def state_file(tmp_path):
    return str(tmp_path / "state" / "ledger.json")


@pytest.fixture
def binary(tmp_path):
    """The double behind a wrapper running it with this interpreter (exec keeps the process group)."""
    path = tmp_path / "octez-client"
    path.write_text('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, CLIENT))
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def env(state_file):
    return {"OCTEZ_CLIENT_DOUBLE_STATE": state_file}


def write_state(state_file, **state):
    os.makedirs(os.path.dirname(state_file), exist_ok=True)
    with open(state_file, "w") as handle:
        json.dump(state, handle)
    os.chmod(state_file, 0o644)


def read_state(state_file):
    with open(state_file) as handle:
        return json.load(handle)


def ready(state_file, **changes):
    state = json.loads(json.dumps(READY))
    state.update(changes)
    write_state(state_file, **state)


def client(binary, env, *args, **kwargs):
    full_env = dict(os.environ)
    full_env.update(env)
    return subprocess.run([binary] + list(args), env=full_env, capture_output=True, text=True,
                          timeout=kwargs.get("timeout", 30), check=False)


def run(binary, env, *args, **kwargs):
    """stdout through octez_ledger's own runner (raises LedgerError on failure)."""
    return ol.run_octez_client(binary, list(args), env=env, timeout=kwargs.get("timeout", 10), base_dir=kwargs.get("base_dir"))


# ---------------------------------------------------------------------------
# Output formats
# ---------------------------------------------------------------------------

def test_list_connected_ledgers(binary, env, state_file):
    ready(state_file)
    ledgers = ol.parse_connected_ledgers(run(binary, env, "list", "connected", "ledgers"))
    assert len(ledgers) == 1
    ledger = ledgers[0]
    assert ledger["name"] == "molecule-double-ledger-nano"
    assert ledger["app"] == "Tezos Baking"
    assert ledger["version"] == "2.4.7"
    assert ledger["device"] == "Ledger Nano S Plus"
    assert ledger["hid_path"] == "1-1.2:1.0"
    assert ledger["git_description"] == "v2.4.7"
    assert URI in ledger["uris"]
    assert len(ledger["uris"]) == 4


def test_list_with_the_default_state(binary, env):
    ledgers = ol.parse_connected_ledgers(run(binary, env, "list", "connected", "ledgers"))
    assert [(item["name"], item["app"]) for item in ledgers] == [("molecule-double-ledger-nano", "Tezos Baking")]


def test_list_prints_nothing_when_unplugged_or_no_tezos_app(binary, env, state_file):
    ready(state_file, connected=False)
    assert run(binary, env, "list", "connected", "ledgers") == ""
    ready(state_file, app="Bitcoin")
    assert ol.parse_connected_ledgers(run(binary, env, "list", "connected", "ledgers")) == []


def test_list_shows_the_wallet_app(binary, env, state_file):
    ready(state_file, app="Tezos Wallet", app_version="3.0.6")
    assert ol.parse_connected_ledgers(run(binary, env, "list", "connected", "ledgers"))[0]["app"] == "Tezos Wallet"


def test_lines_are_wrapped_like_format(binary, env, state_file):
    ready(state_file)
    for args in (["list", "connected", "ledgers"], ["get", "ledger", "high", "watermark", "for", URI]):
        for line in run(binary, env, *args).splitlines():
            assert len(line) <= 78 or line.startswith("  octez-client import secret key")


def test_authorized_path_matching(binary, env, state_file):
    ready(state_file)
    out = run(binary, env, "get", "ledger", "authorized", "path", "for", URI)
    assert out.splitlines() == ["Authorized baking path: 44h/1729h/0h/0h", "Authorized baking curve: ed25519",
                                "Authorized baking URI: %s" % URI]
    parsed = ol.parse_authorized_path(out)
    assert parsed["authorized"] and parsed["uri"] == URI
    assert parsed["path"] == "m/44'/1729'/0'/0'" and parsed["curve"] == "ed25519"


def test_authorized_path_of_another_key_fails_after_printing_it(binary, env, state_file):
    ready(state_file)
    with pytest.raises(ol.LedgerError) as info:
        run(binary, env, "get", "ledger", "authorized", "path", "for", OTHER_URI)
    assert info.value.kind == "wrong_key"
    assert info.value.rc == 1
    assert info.value.stderr.startswith("Error:\n  Path and curve do not match")
    parsed = ol.parse_authorized_path(info.value.stdout)
    assert parsed["path"] == "m/44'/1729'/0'/0'" and parsed["uri"] is None


def test_no_baking_key_authorized(binary, env, state_file):
    ready(state_file, authorized=None)
    out = run(binary, env, "get", "ledger", "authorized", "path", "for", URI)
    assert out == "No baking key authorized at all.\n"
    assert ol.parse_authorized_path(out)["authorized"] is False


def test_high_watermark(binary, env, state_file):
    ready(state_file, hwm={"main": 5023417, "main_round": 2, "test": 0, "test_round": 0, "chain_id": CHAIN})
    parsed = ol.parse_high_watermark(run(binary, env, "get", "ledger", "high", "watermark", "for", URI))
    assert parsed == {"main": {"level": 5023417, "round": 2}, "test": {"level": 0, "round": 0}, "chain_id": CHAIN}
    spelled = run(binary, env, "get", "ledger", "high", "water", "mark", "for", URI)
    assert ol.parse_high_watermark(spelled) == parsed


def test_high_watermark_unspecified_chain(binary, env, state_file):
    ready(state_file, hwm={"chain_id": None})
    out = run(binary, env, "get", "ledger", "high", "watermark", "for", URI)
    assert "('Unspecified')" in " ".join(out.split())
    assert ol.parse_high_watermark(out)["chain_id"] is None


def test_legacy_baking_app_outputs(binary, env, state_file):
    ready(state_file, app_version="1.5.5")
    out = run(binary, env, "get", "ledger", "high", "watermark", "for", URI)
    assert ol.parse_high_watermark(out) == {"main": {"level": 100, "round": None}, "test": None, "chain_id": None}
    legacy = ol.parse_authorized_path(run(binary, env, "get", "ledger", "authorized", "path", "for", URI))
    assert legacy["legacy"] and legacy["path"] == "m/44'/1729'/0'/0'"


def test_set_high_watermark(binary, env, state_file):
    ready(state_file)
    out = run(binary, env, "set", "ledger", "high", "watermark", "for", URI, "to", "5100000")
    assert out == "%s has now high water mark: 5100000 (round: 0)\n" % URI
    assert ol.parse_high_watermark(out)["main"] == {"level": 5100000, "round": 0}
    after = ol.parse_high_watermark(run(binary, env, "get", "ledger", "high", "watermark", "for", URI))
    assert after["main"]["level"] == 5100000
    assert after["chain_id"] == CHAIN


def test_setup_ledger_to_bake(binary, env, state_file):
    write_state(state_file, connected=True, authorized=None)
    out = run(binary, env, *ol.baking_setup_args(URI, main_chain_id=CHAIN, main_hwm=100))
    assert out.splitlines() == [
        "Setting up the ledger:",
        "* Main chain ID: 'Unspecified' -> %s" % CHAIN,
        "* Main chain High Watermark: 0 (round: 0) -> 100 (round: 0)",
        "* Test chain High Watermark: 0 (round: 0) -> 0 (round: 0)",
        "Authorized baking for address: %s" % PKH,
        "Corresponding full public key: %s" % PUBLIC_KEY,
    ]
    state = read_state(state_file)
    assert state["connected"] is True and "git_description" not in state
    assert state["authorized"] == {"curve": "ed25519", "path": "44h/1729h/0h/0h"}
    assert state["hwm"] == {"main": 100, "main_round": 0, "test": 0, "test_round": 0, "chain_id": CHAIN}
    assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o644
    assert os.listdir(os.path.dirname(state_file)) == ["ledger.json"]


def test_setup_with_an_int32_chain_id(binary, env, state_file):
    write_state(state_file)
    run(binary, env, "setup", "ledger", "to", "bake", "for", URI, "--main-chain-id", str(0x7a06a770), "--main-hwm", "1")
    assert read_state(state_file)["hwm"]["chain_id"] == CHAIN


def test_setup_without_chain_id_asks_the_node(binary, env, state_file):
    write_state(state_file, authorized=None)
    with pytest.raises(ol.LedgerError) as info:
        run(binary, env, "setup", "ledger", "to", "bake", "for", URI, "--main-hwm", "1")
    assert "Unable to connect to the node" in info.value.message
    assert read_state(state_file) == {"authorized": None}
    write_state(state_file, node_chain_id=CHAIN)
    run(binary, env, "setup", "ledger", "to", "bake", "for", URI)
    assert read_state(state_file)["hwm"]["chain_id"] == CHAIN


def test_setup_creates_a_missing_state_file(binary, env, state_file):
    run(binary, env, *ol.baking_setup_args(URI, main_chain_id=CHAIN, main_hwm=7))
    assert read_state(state_file)["hwm"]["main"] == 7


def test_deauthorize(binary, env, state_file):
    ready(state_file)
    assert run(binary, env, "deauthorize", "ledger", "baking", "for", URI) == ""
    assert ol.parse_authorized_path(run(binary, env, "get", "ledger", "authorized", "path", "for", URI))["authorized"] is False


def test_aliases_resolve_through_the_wallet(binary, env, state_file, tmp_path):
    ready(state_file)
    base = str(tmp_path / "client")
    out = run(binary, env, "import", "secret", "key", "baker", URI, base_dir=base)
    assert "Tezos address added: %s" % PKH in out
    assert ol.resolve_alias("baker", base) == URI
    parsed = ol.parse_authorized_path(run(binary, env, "get", "ledger", "authorized", "path", "for", "baker", base_dir=base))
    assert parsed["uri"] == URI


def test_pure_python_ed25519_matches_cryptography(binary, env, tmp_path):
    base = str(tmp_path / "client")
    for index in range(5):
        seed = bytes([index]) * 32
        edsk, edpk, pkh = tc.key_of_seed(seed)
        result = client(binary, env, "-d", base, "import", "secret", "key", "k%d" % index, "unencrypted:" + edsk)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "Tezos address added: %s" % pkh
        with open(os.path.join(base, "public_keys")) as handle:
            assert json.load(handle)[0]["value"]["key"] == edpk


def test_unknown_command_fails(binary, env):
    result = client(binary, env, "-E", "http://127.0.0.1:8732", "bake", "for", "baker")
    assert result.returncode == 1
    assert result.stderr.startswith("Error:\n  Unrecognized command.")


def test_version(binary, env):
    assert "test double" in client(binary, env, "--version").stdout


# ---------------------------------------------------------------------------
# Error texts and their classification
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("changes, kind", [
    ({"connected": False}, "no_ledger"),
    ({"app": "Tezos Wallet"}, "no_ledger"),  # the App = Baking filter: same text as no device
    ({"name": "major-squirrel-thick-hedgehog"}, "no_ledger"),
    ({"busy": True}, "busy"),
])
def test_error_texts_classify(binary, env, state_file, changes, kind):
    ready(state_file, **changes)
    result = client(binary, env, "get", "ledger", "high", "watermark", "for", URI)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error:\n  ")
    assert ol.classify_error(result.stderr) == kind


def test_no_ledger_text_is_the_octez_one(binary, env, state_file):
    ready(state_file, connected=False)
    result = client(binary, env, "get", "ledger", "authorized", "path", "for", URI)
    assert ol.error_message(result.stderr) == 'Found no ledger corresponding to %s with filter "App = Baking".' % URI


# ---------------------------------------------------------------------------
# check_ledger end to end
# ---------------------------------------------------------------------------

def test_check_ledger_ready(binary, env, state_file):
    ready(state_file)
    result = ol.check_ledger(binary, URI, env=env, timeout=10)
    assert result["ready"] is True, result
    assert result["error_kind"] is None
    assert result["connected"] and result["app"] == "Tezos Baking" and result["app_version"] == "2.4.7"
    assert result["authorized_matches"] and result["authorized_uri"] == URI
    assert result["high_watermark"]["main"]["level"] == 100
    assert result["high_watermark"]["chain_id"] == CHAIN


def test_check_ledger_ready_after_setup(binary, env, state_file):
    write_state(state_file, authorized=None)
    assert ol.check_ledger(binary, URI, env=env)["error_kind"] == "not_authorized"
    run(binary, env, *ol.baking_setup_args(URI, main_chain_id=CHAIN, main_hwm=100))
    assert ol.check_ledger(binary, URI, env=env)["ready"] is True


@pytest.mark.parametrize("changes, kind", [
    ({"connected": False}, "no_ledger"),
    ({"name": "major-squirrel-thick-hedgehog"}, "no_ledger"),
    ({"app": "Tezos Wallet"}, "app_not_open"),
    ({"authorized": {"curve": "ed25519", "path": "44h/1729h/1h/0h"}}, "wrong_key"),
    ({"authorized": {"curve": "secp256k1", "path": "44h/1729h/0h/0h"}}, "wrong_key"),
    ({"authorized": None}, "not_authorized"),
    ({"busy": True}, "busy"),
])
def test_check_ledger_error_kinds(binary, env, state_file, changes, kind):
    ready(state_file, **changes)
    result = ol.check_ledger(binary, URI, env=env, timeout=10)
    assert result["ready"] is False
    assert result["error_kind"] == kind, result


def test_check_ledger_timeout_kills_a_hung_ledger(binary, env, state_file):
    ready(state_file, hang_seconds=30)
    start = time.monotonic()
    result = ol.check_ledger(binary, URI, env=env, timeout=1)
    assert time.monotonic() - start < 10
    assert result["ready"] is False
    assert result["error_kind"] == "timeout"


def test_check_ledger_with_a_slow_but_answering_ledger(binary, env, state_file):
    ready(state_file, hang_seconds=0.2)
    assert ol.check_ledger(binary, URI, env=env, timeout=10)["ready"] is True
