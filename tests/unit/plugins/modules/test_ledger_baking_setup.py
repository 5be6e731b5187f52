# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the tezos.bakery.ledger_baking_setup module.

main() runs with patched module args against a fake octez-client
(octez_client_fake.FakeClient: a python script in tmp_path) that replays the
recorded outputs of tests/unit/fixtures/octez_client according to a JSON
state file; a successful ``setup ledger to bake for`` switches the state to
the ``after_setup`` responses, like the device does.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import time

import pytest

from ansible_collections.tezos.bakery.plugins.modules import ledger_baking_setup
from octez_client_fake import NAME, URI, AnsibleExitJson, AnsibleFailJson, FakeClient, run_main

MAINNET = "NetXdQprcVkpaWU"
GHOSTNET = "NetXnHfVqm9iesp"


def hwm_text(level, chain_id=MAINNET):
    """``get ledger high watermark for`` output (Octez format) for other values than the fixtures'."""
    return ("The high water mark values for\n%s are\n%d (round: 0) for the main-chain (%s) and\n"
            "0 (round: 0) for the test-chain.\n" % (URI, level, chain_id))


# A Ledger with the Baking app open, authorizing nothing yet (fresh device).
FRESH = {
    "list": {"stdout": "@list_connected_ledgers_baking.txt"},
    "authorized": {"stdout": "@authorized_path_none.txt"},
    "hwm": {"stdout": "@high_watermark_unspecified.txt"},
    "setup": {"stdout": "@setup_ledger_to_bake.txt"},
}
# ... already set up for URI on mainnet at 5023417.
SET_UP = dict(FRESH, authorized={"stdout": "@authorized_path_match.txt"}, hwm={"stdout": "@high_watermark.txt"})
# ... authorizing another key (secp256k1 0h/1h) at 5023417.
OTHER_KEY = dict(SET_UP, authorized={"stdout": "@authorized_path_other_key.stdout.txt",
                                     "stderr": "@authorized_path_other_key.stderr.txt", "rc": 1})
# What the device answers once `setup ledger to bake for URI --main-hwm 5100000` went through.
AFTER_SETUP = {
    "authorized": {"stdout": "@authorized_path_match.txt"},
    "hwm": {"stdout": "@high_watermark_after_setup.txt"},
}


@pytest.fixture
def fake(tmp_path):
    return FakeClient(tmp_path, FRESH, AFTER_SETUP)


def run_module(args, expect=AnsibleExitJson):
    return run_main(ledger_baking_setup.main, args, expect)


def base_args(fake, **extra):
    args = {"key": URI, "octez_client_path": fake.path, "timeout": 5, "main_chain_id": MAINNET, "main_hwm": 5100000}
    args.update(extra)
    return args


# ---------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------

def test_fresh_ledger_is_set_up_and_verified(fake):
    result = run_module(base_args(fake))
    assert result["changed"] is True
    assert result["uri"] == URI
    assert result["reason"] == ("no baking key is authorized; main chain id 'Unspecified' -> NetXdQprcVkpaWU; "
                                "main high watermark 0 -> 5100000")
    assert result["command"] == [fake.path, "setup", "ledger", "to", "bake", "for", URI,
                                 "--main-chain-id", MAINNET, "--main-hwm", "5100000"]
    assert fake.setup_calls == [result["command"][1:]]
    assert result["authorized"] == {
        "before": {"authorized": False, "path": None, "curve": None, "matches": False},
        "after": {"authorized": True, "path": "m/44'/1729'/0'/0'", "curve": "ed25519", "matches": True},
    }
    assert result["high_watermark"]["before"]["main"]["level"] == 0
    assert result["high_watermark"]["before"]["chain_id"] is None
    assert result["high_watermark"]["after"]["main"]["level"] == 5100000
    assert result["high_watermark"]["after"]["chain_id"] == MAINNET
    assert result["public_key_hash"] == "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx"
    assert result["public_key"] == "edpkuBknW28nW72KG6RoHtYW7p12T6GKc7nAbwYX5m8Wd9sDVC9yav"
    assert result["stdout"].startswith("Setting up the ledger:")
    assert result["ledger"] == {"name": NAME, "app": "Tezos Baking", "app_version": "2.4.7",
                                "device": "Ledger Nano S Plus"}
    assert result["error_kind"] is None
    # read (3 commands), setup, read again (3 commands)
    assert len(fake.calls) == 7


def test_returned_keys_are_documented(fake):
    result = run_module(base_args(fake))
    for key in set(result) - {"changed"}:
        assert "\n%s:\n" % key in ledger_baking_setup.RETURN, key


def test_already_set_up_is_unchanged(fake):
    fake.set(SET_UP)
    result = run_module(base_args(fake, main_hwm=5000000))
    assert result["changed"] is False
    assert "already authorizes ed25519 m/44'/1729'/0'/0' with main high watermark 5023417" in result["reason"]
    assert result["command"] == []
    assert fake.setup_calls == []
    assert result["authorized"]["after"] == result["authorized"]["before"]
    assert result["high_watermark"]["after"] == result["high_watermark"]["before"]
    assert "public_key_hash" not in result


def test_already_set_up_without_requested_values(fake):
    fake.set(SET_UP)
    result = run_module(base_args(fake, main_hwm=None, main_chain_id=None))
    assert result["changed"] is False
    assert fake.setup_calls == []


def test_check_mode_reports_without_running_setup(fake):
    result = run_module(base_args(fake, _ansible_check_mode=True))
    assert result["changed"] is True
    assert result["command"][-4:] == ["--main-chain-id", MAINNET, "--main-hwm", "5100000"]
    assert fake.setup_calls == []
    assert len(fake.calls) == 3
    assert result["authorized"]["before"]["authorized"] is False
    assert result["authorized"]["after"] is None
    assert result["high_watermark"]["after"] is None


def test_check_mode_unchanged(fake):
    fake.set(SET_UP)
    result = run_module(base_args(fake, _ansible_check_mode=True, main_hwm=5023417))
    assert result["changed"] is False
    assert fake.setup_calls == []


def test_refuses_to_lower_the_watermark(fake):
    fake.set(OTHER_KEY, AFTER_SETUP)
    result = run_module(base_args(fake, main_hwm=4000000), expect=AnsibleFailJson)
    assert result["msg"] == ("refusing to lower the Ledger's main high watermark from 5023417 to 4000000 "
                             "(set force to allow it)")
    assert result["changed"] is False
    assert fake.setup_calls == []
    assert result["authorized"]["before"]["curve"] == "secp256k1"


def test_force_lowers_the_watermark(fake):
    fake.set(OTHER_KEY, dict(AFTER_SETUP, hwm={"stdout": hwm_text(4000000)}))
    result = run_module(base_args(fake, main_hwm=4000000, force=True))
    assert result["changed"] is True
    assert "forced: main high watermark lowered 5023417 -> 4000000" in result["reason"]
    assert "authorizes secp256k1 m/44'/1729'/0'/1' instead" in result["reason"]
    assert len(fake.setup_calls) == 1
    assert result["high_watermark"]["after"]["main"]["level"] == 4000000


def test_force_never_lowers_for_the_same_key(fake):
    fake.set(SET_UP)
    result = run_module(base_args(fake, main_hwm=100, force=True))
    assert result["changed"] is False
    assert fake.setup_calls == []


def test_raises_the_watermark_of_the_same_key(fake):
    fake.set(SET_UP, AFTER_SETUP)
    result = run_module(base_args(fake))
    assert result["changed"] is True
    assert result["reason"] == "main high watermark 5023417 -> 5100000"
    assert len(fake.setup_calls) == 1


def test_changes_the_chain_id(fake):
    fake.set(SET_UP, dict(AFTER_SETUP, hwm={"stdout": hwm_text(5023417, GHOSTNET)}))
    result = run_module(base_args(fake, main_chain_id=GHOSTNET, main_hwm=None))
    assert result["changed"] is True
    assert result["reason"] == "main chain id NetXdQprcVkpaWU -> NetXnHfVqm9iesp"
    assert fake.setup_calls == [["setup", "ledger", "to", "bake", "for", URI, "--main-chain-id", GHOSTNET]]
    assert result["high_watermark"]["after"]["chain_id"] == GHOSTNET


def test_alias_is_resolved_and_passed_as_is(fake, tmp_path):
    base_dir = tmp_path / "client"
    base_dir.mkdir()
    (base_dir / "public_keys").write_text(json.dumps([
        {"name": "baker", "value": {"locator": URI, "key": "edpkuBknW28nW72KG6RoHtYW7p12T6GKc7nAbwYX5m8Wd9sDVC9yav"}}]))
    result = run_module(base_args(fake, key="baker", base_dir=str(base_dir)))
    assert result["changed"] is True
    assert result["key"] == "baker" and result["uri"] == URI
    assert result["command"][:3] == [fake.path, "-d", str(base_dir)]
    assert fake.setup_calls == [["-d", str(base_dir), "setup", "ledger", "to", "bake", "for", "baker",
                                 "--main-chain-id", MAINNET, "--main-hwm", "5100000"]]
    # The reads use the resolved URI.
    assert fake.calls[1][-1] == URI


# ---------------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------------

def test_no_ledger(fake):
    fake.set(dict(FRESH, list={"stdout": "@list_connected_ledgers_none.txt"}))
    result = run_module(base_args(fake), expect=AnsibleFailJson)
    assert result["msg"].startswith("no Ledger connected")
    assert result["error_kind"] == "no_ledger"
    assert result["changed"] is False
    assert fake.setup_calls == []


def test_wallet_app_open(fake):
    fake.set(dict(FRESH, list={"stdout": "@list_connected_ledgers_wallet.txt"}))
    result = run_module(base_args(fake), expect=AnsibleFailJson)
    assert result["msg"].startswith("the Tezos Baking app is not open on the Ledger")
    assert result["error_kind"] == "app_not_open"
    assert result["ledger"]["app"] == "Tezos Wallet"
    assert fake.setup_calls == []


def test_read_times_out(fake):
    fake.set(dict(FRESH, hwm={"stdout": "@high_watermark.txt", "sleep": 30}))
    start = time.monotonic()
    result = run_module(base_args(fake, timeout=0.5), expect=AnsibleFailJson)
    assert time.monotonic() - start < 4.0
    assert result["error_kind"] == "timeout"
    assert result["msg"].startswith("octez-client did not answer in time")
    assert fake.setup_calls == []


def test_setup_rejected_on_the_device(fake):
    fake.set(dict(FRESH, setup={"stdout": "Setting up the ledger:\n", "stderr": "@error_setup_rejected.txt", "rc": 1}),
             AFTER_SETUP)
    result = run_module(base_args(fake), expect=AnsibleFailJson)
    assert result["msg"].startswith("setup ledger to bake for %s failed: octez-client failed: " % URI)
    assert "Conditions of use not satisfied" in result["msg"]
    assert result["error_kind"] == "command_failed"
    assert result["changed"] is True
    assert result["authorized"]["after"] is None


def test_setup_without_node_or_chain_id(fake):
    fake.set(dict(FRESH, setup={"stderr": "@error_setup_no_node.txt", "rc": 1}), AFTER_SETUP)
    result = run_module(base_args(fake, main_chain_id=None), expect=AnsibleFailJson)
    assert "Rpc request failed" in result["msg"]
    assert "protocol version" not in result["msg"]


def test_setup_not_confirmed_in_time(fake):
    fake.set(dict(FRESH, setup={"stdout": "@setup_ledger_to_bake.txt", "sleep": 30}), AFTER_SETUP)
    start = time.monotonic()
    result = run_module(base_args(fake, setup_timeout=0.5), expect=AnsibleFailJson)
    assert time.monotonic() - start < 4.0
    assert result["error_kind"] == "timeout"
    assert "confirmed on the Ledger within setup_timeout=0.5 seconds" in result["msg"]


def test_setup_that_did_not_take_effect_fails_verification(fake):
    fake.set(OTHER_KEY)  # the device still answers with the other key afterwards
    result = run_module(base_args(fake, main_hwm=5100000), expect=AnsibleFailJson)
    assert result["msg"].startswith("the setup ran but the Ledger does not authorize %s afterwards: "
                                    "the Ledger authorizes another key" % URI)
    assert result["error_kind"] == "wrong_key"
    assert len(fake.setup_calls) == 1
    assert result["authorized"]["after"]["matches"] is False


def test_setup_with_a_lower_resulting_watermark_fails_verification(fake):
    fake.set(FRESH, dict(AFTER_SETUP, hwm={"stdout": hwm_text(42)}))
    result = run_module(base_args(fake), expect=AnsibleFailJson)
    assert result["msg"] == "the setup ran but the Ledger's main high watermark is 42, not 5100000"


def test_setup_with_another_resulting_chain_fails_verification(fake):
    fake.set(FRESH, dict(AFTER_SETUP, hwm={"stdout": hwm_text(5100000, GHOSTNET)}))
    result = run_module(base_args(fake), expect=AnsibleFailJson)
    assert result["msg"] == "the setup ran but the Ledger's main chain id is NetXnHfVqm9iesp, not NetXdQprcVkpaWU"


def test_lock_held_by_the_signer_is_busy(fake, tmp_path, hold_lock):
    lock = tmp_path / "ledger.lock"
    hold_lock(lock)
    result = run_module(base_args(fake, lock_path=str(lock), lock_timeout=0.2), expect=AnsibleFailJson)
    assert result["error_kind"] == "busy"
    assert result["msg"].startswith("the Ledger is busy")
    assert fake.calls == []


def test_runs_under_the_lock(fake, tmp_path):
    lock = str(tmp_path / "ledger.lock")
    result = run_module(base_args(fake, lock_path=lock))
    assert result["changed"] is True
    assert os.path.exists(lock)


@pytest.mark.parametrize("extra, message", [
    ({"main_hwm": -1}, "main_hwm must be between 0 and 2147483647, got -1"),
    ({"main_hwm": 2 ** 31}, "main_hwm must be between 0 and 2147483647"),
    ({"main_chain_id": "mainnet"}, "main_chain_id must be a Base58 chain id"),
    ({"key": "ledger://%s" % NAME}, "only names a Ledger: a baking key needs a curve and a path"),
    ({"key": "ledger://%s/ed25519/0h/1" % NAME}, "invalid Ledger URI"),
    ({"key": "baker"}, "cannot resolve 'baker' to a ledger:// URI"),
])
def test_invalid_parameters(fake, tmp_path, extra, message):
    extra.setdefault("base_dir", str(tmp_path))
    result = run_module(base_args(fake, **extra), expect=AnsibleFailJson)
    assert message in result["msg"]
    assert fake.calls == []


def test_missing_binary(tmp_path):
    result = run_module({"key": URI, "octez_client_path": str(tmp_path / "nope")}, expect=AnsibleFailJson)
    assert "not found or not executable" in result["msg"]
