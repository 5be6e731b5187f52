# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the tezos.bakery.ledger_info module.

main() runs with patched module args against a fake octez-client
(octez_client_fake.FakeClient: a python script in tmp_path) that replays the
recorded outputs of tests/unit/fixtures/octez_client according to a JSON
state file.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import time

import pytest

from ansible_collections.tezos.bakery.plugins.modules import ledger_info
from octez_client_fake import NAME, READY, READY_FACTS, URI, AnsibleExitJson, AnsibleFailJson, FakeClient, run_main


@pytest.fixture
def fake(tmp_path):
    return FakeClient(tmp_path, READY)


def run_module(args, expect=AnsibleExitJson):
    return run_main(ledger_info.main, args, expect)


def base_args(fake, **extra):
    args = {"uri": URI, "octez_client_path": fake.path, "timeout": 5}
    args.update(extra)
    return args


def test_ready_ledger(fake):
    result = run_module(base_args(fake))
    assert result["changed"] is False
    assert dict((key, result[key]) for key in READY_FACTS) == READY_FACTS
    assert result["ready"] is True
    assert result["authorized"] is True and result["authorized_matches"] is True
    assert [ledger["name"] for ledger in result["ledgers"]] == [NAME]
    assert fake.calls == [
        ["list", "connected", "ledgers"],
        ["get", "ledger", "authorized", "path", "for", URI],
        ["get", "ledger", "high", "watermark", "for", URI],
    ]


def test_returned_keys_are_documented(fake):
    result = run_module(base_args(fake))
    documented = set(ledger_info.RESULT_KEYS)
    assert set(result) - {"changed"} == documented
    for key in documented:
        assert "\n%s:\n" % key in ledger_info.RETURN


def test_check_mode_runs_the_same_read_only_checks(fake):
    result = run_module(base_args(fake, _ansible_check_mode=True))
    assert result["changed"] is False and result["ready"] is True
    assert len(fake.calls) == 3


def test_alias_is_resolved_through_base_dir(fake, tmp_path):
    base_dir = tmp_path / "client"
    base_dir.mkdir()
    (base_dir / "secret_keys").write_text(json.dumps([{"name": "baker", "value": URI}]))
    result = run_module(base_args(fake, uri="baker", base_dir=str(base_dir)))
    assert result["ready"] is True
    assert result["uri"] == URI
    assert fake.calls[1] == ["-d", str(base_dir), "get", "ledger", "authorized", "path", "for", URI]


def test_unknown_alias_fails(fake, tmp_path):
    result = run_module(base_args(fake, uri="baker", base_dir=str(tmp_path)), expect=AnsibleFailJson)
    assert "cannot resolve 'baker'" in result["msg"]
    assert fake.calls == []


def test_missing_binary_fails(tmp_path):
    result = run_module({"uri": URI, "octez_client_path": str(tmp_path / "nope")}, expect=AnsibleFailJson)
    assert "not found or not executable" in result["msg"]


def test_no_ledger_is_reported_not_failed(fake):
    fake.update(list={"stdout": "@list_connected_ledgers_none.txt"})
    result = run_module(base_args(fake))
    assert result["ready"] is False and result["connected"] is False
    assert result["error_kind"] == "no_ledger"
    assert "failed" not in result
    assert len(fake.calls) == 1


def test_no_ledger_fails_when_asked(fake):
    fake.update(list={"stdout": "@list_connected_ledgers_none.txt"})
    result = run_module(base_args(fake, fail_on_not_ready=True), expect=AnsibleFailJson)
    assert result["msg"].startswith("no Ledger connected")
    assert result["error_kind"] == "no_ledger"
    assert result["changed"] is False


def test_wallet_app_open(fake):
    fake.update(list={"stdout": "@list_connected_ledgers_wallet.txt"})
    result = run_module(base_args(fake))
    assert result["connected"] is True and result["app"] == "Tezos Wallet"
    assert result["error_kind"] == "app_not_open"
    result = run_module(base_args(fake, fail_on_not_ready=True), expect=AnsibleFailJson)
    assert result["msg"].startswith("the Tezos Baking app is not open")
    assert "Tezos Wallet 3.0.6" in result["msg"]


def test_ledger_vanishes_after_listing(fake):
    fake.update(authorized={"stderr": "@error_no_ledger_with_node_warning.txt", "rc": 1})
    result = run_module(base_args(fake))
    assert result["error_kind"] == "no_ledger"
    assert result["error"].startswith("Found no ledger corresponding to")


def test_another_key_is_authorized(fake):
    fake.update(authorized={"stdout": "@authorized_path_other_key.stdout.txt",
                            "stderr": "@authorized_path_other_key.stderr.txt", "rc": 1})
    result = run_module(base_args(fake))
    assert result["ready"] is False
    assert result["error_kind"] == "wrong_key"
    assert result["authorized"] is True and result["authorized_matches"] is False
    assert result["authorized_path"] == "m/44'/1729'/0'/1'"
    assert result["authorized_curve"] == "secp256k1"
    assert result["high_watermark"]["main"]["level"] == 5023417
    result = run_module(base_args(fake, fail_on_not_ready=True), expect=AnsibleFailJson)
    assert result["msg"].startswith("the Ledger authorizes another key")


def test_no_key_authorized(fake):
    fake.update(authorized={"stdout": "@authorized_path_none.txt"}, hwm={"stdout": "@high_watermark_unspecified.txt"})
    result = run_module(base_args(fake))
    assert result["error_kind"] == "not_authorized"
    assert result["authorized"] is False and result["authorized_path"] is None
    assert result["high_watermark"]["chain_id"] is None


def test_bare_device_uri_never_matches(fake):
    fake.update(authorized={"stdout": "@authorized_path_no_key_path.txt"})
    result = run_module(base_args(fake, uri="ledger://%s" % NAME))
    assert result["connected"] is True
    assert result["authorized"] is True and result["authorized_matches"] is False
    assert result["error_kind"] == "wrong_key"


def test_hung_octez_client_times_out(fake):
    fake.update(authorized={"stdout": "@authorized_path_match.txt", "sleep": 30})
    start = time.monotonic()
    result = run_module(base_args(fake, timeout=0.5))
    assert time.monotonic() - start < 4.0
    assert result["error_kind"] == "timeout"
    assert result["connected"] is True and result["ready"] is False
    result = run_module(base_args(fake, timeout=0.5, fail_on_not_ready=True), expect=AnsibleFailJson)
    assert result["msg"].startswith("octez-client did not answer in time")


def test_lock_held_by_the_signer_is_busy(fake, tmp_path, hold_lock):
    lock = tmp_path / "ledger.lock"
    holder = hold_lock(lock)
    result = run_module(base_args(fake, lock_path=str(lock), lock_timeout=0.2))
    holder.kill()
    holder.wait()
    assert result["error_kind"] == "busy"
    assert fake.calls == []
    result = run_module(base_args(fake, lock_path=str(lock), lock_timeout=0.2))
    assert result["ready"] is True
