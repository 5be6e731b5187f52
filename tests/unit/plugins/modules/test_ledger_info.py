# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the tezos.bakery.ledger_info module.

main() runs with patched module args against a fake octez-client (a python
script in tmp_path) that replays the recorded outputs of
tests/unit/fixtures/octez_client according to a JSON state file.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import contextlib
import json
import os
import subprocess
import sys
import time

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.tezos.bakery.plugins.modules import ledger_info

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    from unittest import mock

    @contextlib.contextmanager
    def patch_module_args(args=None):
        serialized = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))
        with mock.patch.object(basic, "_ANSIBLE_ARGS", serialized):
            yield


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "octez_client")
NAME = "major-squirrel-thick-hedgehog"
URI = "ledger://%s/ed25519/0h/0h" % NAME

# The fake octez-client: answers each Ledger command with the response the
# state file gives for it ({"stdout": "@fixture.txt" or text, "stderr": ...,
# "rc": int, "sleep": seconds}); records every call in the state file.
FAKE_CLIENT = r'''#!%(python)s
import json, os, sys, time
STATE = %(state)r
FIXTURES = %(fixtures)r
args = sys.argv[1:]
if args[:1] == ["-d"]:
    args = args[2:]
words = " ".join(args)
key = "other"
for prefix, name in (("list connected ledgers", "list"), ("get ledger authorized path for", "authorized"),
                     ("get ledger high watermark for", "hwm"), ("setup ledger to bake for", "setup")):
    if words.startswith(prefix):
        key = name
with open(STATE) as handle:
    state = json.load(handle)
state["calls"].append(sys.argv[1:])
response = state["responses"].get(key, {"stderr": "Error:\n  Unrecognized command.\n", "rc": 1})
if key == "setup" and not response.get("rc"):
    state["responses"].update(state.get("after_setup", {}))
with open(STATE, "w") as handle:
    json.dump(state, handle)


def text(value):
    if value and value.startswith("@"):
        with open(os.path.join(FIXTURES, value[1:])) as handle:
            return handle.read()
    return value or ""


time.sleep(response.get("sleep", 0))
sys.stdout.write(text(response.get("stdout")))
sys.stderr.write(text(response.get("stderr")))
sys.exit(response.get("rc", 0))
'''

READY = {
    "list": {"stdout": "@list_connected_ledgers_baking.txt"},
    "authorized": {"stdout": "@authorized_path_match.txt"},
    "hwm": {"stdout": "@high_watermark.txt"},
}


class AnsibleExitJson(Exception):
    pass


class AnsibleFailJson(Exception):
    pass


class FakeClient(object):
    def __init__(self, tmp_path):
        self.state_path = tmp_path / "state.json"
        self.path = str(tmp_path / "octez-client")
        with open(self.path, "w") as handle:
            handle.write(FAKE_CLIENT % {"python": sys.executable, "state": str(self.state_path),
                                        "fixtures": os.path.abspath(FIXTURES)})
        os.chmod(self.path, 0o755)
        self.set(READY)

    def set(self, responses, after_setup=None):
        state = {"responses": dict(responses), "after_setup": after_setup or {}, "calls": []}
        self.state_path.write_text(json.dumps(state))

    def update(self, **responses):
        state = json.loads(self.state_path.read_text())
        state["responses"].update(responses)
        self.state_path.write_text(json.dumps(state))

    @property
    def calls(self):
        return json.loads(self.state_path.read_text())["calls"]


@pytest.fixture
def fake(tmp_path):
    return FakeClient(tmp_path)


@pytest.fixture(autouse=True)
def patch_exit(monkeypatch):
    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        raise AnsibleExitJson(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs["failed"] = True
        kwargs["msg"] = msg
        raise AnsibleFailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


def run_module(args, expect=AnsibleExitJson):
    with patch_module_args(args):
        with pytest.raises(expect) as info:
            ledger_info.main()
    return info.value.args[0]


def base_args(fake, **extra):
    args = {"uri": URI, "octez_client_path": fake.path, "timeout": 5}
    args.update(extra)
    return args


def test_ready_ledger(fake):
    result = run_module(base_args(fake))
    assert result["changed"] is False
    assert result["ready"] is True
    assert result["error_kind"] is None and result["error"] is None
    assert result["uri"] == URI
    assert (result["connected"], result["name"], result["app"], result["app_version"], result["device"]) == (
        True, NAME, "Tezos Baking", "2.4.7", "Ledger Nano S Plus")
    assert result["authorized"] is True and result["authorized_matches"] is True
    assert result["authorized_path"] == "m/44'/1729'/0'/0'"
    assert result["authorized_curve"] == "ed25519"
    assert result["authorized_uri"] == URI
    assert result["high_watermark"] == {"main": {"level": 5023417, "round": 0}, "test": {"level": 0, "round": 0},
                                        "chain_id": "NetXdQprcVkpaWU"}
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


def test_lock_held_by_the_signer_is_busy(fake, tmp_path):
    lock = tmp_path / "ledger.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time\nf = open(sys.argv[1], 'w')\nfcntl.flock(f, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\ntime.sleep(30)\n", str(lock)],
        stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        result = run_module(base_args(fake, lock_path=str(lock), lock_timeout=0.2))
    finally:
        holder.kill()
        holder.wait()
    assert result["error_kind"] == "busy"
    assert fake.calls == []
    result = run_module(base_args(fake, lock_path=str(lock), lock_timeout=0.2))
    assert result["ready"] is True
