# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of module_utils/octez_ledger.py.

Recorded outputs live in tests/unit/fixtures/octez_client/; they follow the
message formats of Octez (src/lib_signer_backends/unix/ledger.available.ml)
and ocaml-ledger-wallet (error and status strings). Fake octez-client
binaries are tiny scripts written to tmp_path.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import fcntl
import json
import os
import sys
import time

import pytest

from ansible_collections.tezos.bakery.plugins.module_utils import octez_ledger as ol
from octez_client_fake import NAME, READY, READY_FACTS, URI, FakeClient, read_fixture as fixture, write_script


def process_gone(pid):
    """True when ``pid`` no longer runs (absent, or a zombie waiting to be reaped)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (IOError, OSError):
        return True


# ---------------------------------------------------------------------------
# Parsers over recorded outputs
# ---------------------------------------------------------------------------

def test_parse_connected_ledgers_baking_app():
    ledgers = ol.parse_connected_ledgers(fixture("list_connected_ledgers_baking.txt"))
    assert len(ledgers) == 1
    ledger = ledgers[0]
    assert ledger["name"] == NAME
    assert ledger["app"] == "Tezos Baking"
    assert ledger["version"] == "2.4.7"
    assert ledger["device"] == "Ledger Nano S Plus"
    assert ledger["hid_path"] == "1-1.2:1.0"
    assert ledger["git_description"] == "v2.4.7"
    assert ledger["uris"] == [
        "ledger://%s/ed25519/0h/0h" % NAME,
        "ledger://%s/secp256k1/0h/0h" % NAME,
        "ledger://%s/P-256/0h/0h" % NAME,
        "ledger://%s/bip25519/0h/0h" % NAME,
    ]


def test_parse_connected_ledgers_wallet_app():
    (ledger,) = ol.parse_connected_ledgers(fixture("list_connected_ledgers_wallet.txt"))
    assert ledger["app"] == "Tezos Wallet"
    assert ledger["version"] == "3.0.6"


def test_parse_connected_ledgers_two_devices():
    ledgers = ol.parse_connected_ledgers(fixture("list_connected_ledgers_two.txt"))
    assert [(item["name"], item["app"], item["device"]) for item in ledgers] == [
        ("calm-zebra-brave-otter", "Tezos Wallet", "Ledger Nano X"),
        (NAME, "Tezos Baking", "Ledger Nano S Plus"),
    ]
    assert all(len(item["uris"]) == 4 for item in ledgers)


def test_parse_connected_ledgers_proxy_server():
    (ledger,) = ol.parse_connected_ledgers(fixture("list_connected_ledgers_proxy.txt"))
    assert ledger["device"] == "proxy server"
    assert ledger["hid_path"] is None
    assert ledger["git_description"] == ""


def test_parse_connected_ledgers_nothing_connected():
    assert ol.parse_connected_ledgers(fixture("list_connected_ledgers_none.txt")) == []
    assert ol.parse_connected_ledgers(None) == []


def test_parse_connected_ledgers_unexpected_text():
    with pytest.raises(ol.LedgerError) as info:
        ol.parse_connected_ledgers("## Ledger `%s`\nSomething else entirely.\n" % NAME)
    assert info.value.kind == "parse_error"


def test_parse_authorized_path_matching_uri():
    result = ol.parse_authorized_path(fixture("authorized_path_match.txt"))
    assert result == {
        "authorized": True,
        "path": "m/44'/1729'/0'/0'",
        "curve": "ed25519",
        "uri": URI,
        "raw_path": "44h/1729h/0h/0h",
        "legacy": False,
    }


def test_parse_authorized_path_without_uri_line():
    result = ol.parse_authorized_path(fixture("authorized_path_no_key_path.txt"))
    assert result["authorized"] is True
    assert result["uri"] is None
    assert result["curve"] == "ed25519"


def test_parse_authorized_path_other_key():
    result = ol.parse_authorized_path(fixture("authorized_path_other_key.stdout.txt"))
    assert result["path"] == "m/44'/1729'/0'/1'"
    assert result["curve"] == "secp256k1"
    assert result["uri"] is None


def test_parse_authorized_path_nothing_authorized():
    result = ol.parse_authorized_path(fixture("authorized_path_none.txt"))
    assert result["authorized"] is False
    assert result["path"] is None and result["curve"] is None


def test_parse_authorized_path_legacy_app():
    result = ol.parse_authorized_path(fixture("authorized_path_legacy.txt"))
    assert result["authorized"] is True
    assert result["legacy"] is True
    assert result["path"] == "m/44'/1729'/0'/0'"
    assert result["curve"] is None


def test_parse_authorized_path_unexpected_text():
    with pytest.raises(ol.LedgerError) as info:
        ol.parse_authorized_path("hello\n")
    assert info.value.kind == "parse_error"


@pytest.mark.parametrize("name, main, test, chain_id", [
    ("high_watermark.txt", {"level": 5023417, "round": 0}, {"level": 0, "round": 0}, "NetXdQprcVkpaWU"),
    ("high_watermark_after_setup.txt", {"level": 5100000, "round": 0}, {"level": 0, "round": 0}, "NetXdQprcVkpaWU"),
    ("high_watermark_unspecified.txt", {"level": 0, "round": 0}, {"level": 0, "round": 0}, None),
    ("high_watermark_pre_tenderbake.txt", {"level": 1589247, "round": None}, {"level": 0, "round": None}, "NetXdQprcVkpaWU"),
    ("high_watermark_legacy.txt", {"level": 1234567, "round": None}, None, None),
    ("set_high_watermark.txt", {"level": 5100000, "round": 0}, None, None),
])
def test_parse_high_watermark(name, main, test, chain_id):
    result = ol.parse_high_watermark(fixture(name))
    assert result == {"main": main, "test": test, "chain_id": chain_id}


def test_parse_high_watermark_unexpected_text():
    with pytest.raises(ol.LedgerError) as info:
        ol.parse_high_watermark(fixture("authorized_path_match.txt"))
    assert info.value.kind == "parse_error"


# ---------------------------------------------------------------------------
# Error classification and messages
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, kind", [
    ("authorized_path_other_key.stderr.txt", "wrong_key"),
    ("error_no_ledger_baking_filter.txt", "no_ledger"),
    ("error_no_ledger_with_node_warning.txt", "no_ledger"),
    ("error_incorrect_class.txt", "app_not_open"),
    ("error_hwm_wallet_app.txt", "app_not_open"),
    ("error_setup_wallet_app.txt", "app_not_open"),
    ("error_locked_device.txt", "app_not_open"),
    ("error_transport.txt", "busy"),
    ("error_apdu_sequence.txt", "busy"),
    ("error_security_status.txt", "not_authorized"),
    ("error_setup_rejected.txt", "command_failed"),
    ("error_setup_no_node.txt", "command_failed"),
])
def test_classify_error(name, kind):
    assert ol.classify_error(fixture(name)) == kind


def test_classify_error_empty_output():
    assert ol.classify_error("") == "command_failed"
    assert ol.classify_error(None) == "command_failed"


def test_error_message_is_one_line_from_the_error_block():
    message = ol.error_message(fixture("authorized_path_other_key.stderr.txt"))
    assert message == "Path and curve do not match the ones specified in the command line: ed25519 & 44h/1729h/0h/0h"


def test_error_message_skips_the_no_node_warning():
    message = ol.error_message(fixture("error_no_ledger_with_node_warning.txt"))
    assert message == 'Found no ledger corresponding to ledger://%s/ed25519/0h/0h with filter "App = Baking".' % NAME
    message = ol.error_message(fixture("error_setup_no_node.txt"))
    assert message.startswith("Rpc request failed:")
    assert "protocol version" not in message


def test_error_message_without_error_header():
    assert ol.error_message("  something\n  went wrong\n") == "something went wrong"


@pytest.mark.parametrize("kind, prefix", [
    ("no_ledger", "no Ledger connected"),
    ("app_not_open", "the Tezos Baking app is not open"),
    ("wrong_key", "the Ledger authorizes another key"),
    ("not_authorized", "no baking key is authorized"),
    ("timeout", "octez-client did not answer in time"),
    ("busy", "the Ledger is busy"),
    ("command_failed", "octez-client failed"),
    ("parse_error", "unexpected octez-client output"),
])
def test_describe_error(kind, prefix):
    assert ol.describe_error(kind).startswith(prefix)
    described = ol.describe_error(kind, "  some\n detail ")
    assert described.startswith(prefix)
    assert described.endswith(": some detail")


def test_describe_error_unknown_kind():
    assert ol.describe_error("weird", "x") == "Ledger operation failed: x"


def test_every_error_kind_is_described():
    for kind in ol.ERROR_KINDS:
        assert not ol.describe_error(kind).startswith("Ledger operation failed")


def test_ledger_error_rejects_unknown_kind():
    with pytest.raises(ValueError):
        raise ol.LedgerError("nope", "message")


def test_ledger_error_fields():
    exc = ol.LedgerError("busy", "held", stdout="o", stderr="e", rc=1)
    assert (exc.kind, exc.message, exc.stdout, exc.stderr, exc.rc) == ("busy", "held", "o", "e", 1)
    assert str(exc) == "busy: held"


# ---------------------------------------------------------------------------
# URIs, curves and BIP32 paths
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("spelling, expected", [
    ("44h/1729h/0h/0h", "m/44'/1729'/0'/0'"),
    ("m/44'/1729'/0'/0'", "m/44'/1729'/0'/0'"),
    ("44'/1729'/0H/1h", "m/44'/1729'/0'/1'"),
    ("m/44h/1729h/0h/3", "m/44'/1729'/0'/3"),
    ("m", "m"),
    (None, None),
])
def test_normalize_bip32(spelling, expected):
    assert ol.normalize_bip32(spelling) == expected


@pytest.mark.parametrize("path", ["44h/x/0h", "44h//0h'x", "m/2147483648"])
def test_normalize_bip32_rejects_garbage(path):
    with pytest.raises(ol.LedgerError) as info:
        ol.normalize_bip32(path)
    assert info.value.kind == "parse_error"


@pytest.mark.parametrize("spelling, expected", [
    ("ed25519", "ed25519"), ("ed", "ed25519"), ("ED25519", "ed25519"),
    ("secp256k1", "secp256k1"), ("p256", "P-256"), ("P-256", "P-256"), ("secp256r1", "P-256"),
    ("bip25519", "bip25519"), ("bip32-ed25519", "bip25519"), ("nope", None), (None, None),
])
def test_normalize_curve(spelling, expected):
    assert ol.normalize_curve(spelling) == expected


@pytest.mark.parametrize("uri, curve, path, printed", [
    (URI, "ed25519", "m/44'/1729'/0'/0'", URI),
    ("ledger://%s/ed/0'/0'" % NAME, "ed25519", "m/44'/1729'/0'/0'", URI),
    ("ledger://%s/p256/0h/1h" % NAME, "P-256", "m/44'/1729'/0'/1'", "ledger://%s/P-256/0h/1h" % NAME),
    ("ledger://%s/secp256k1/0h/1" % NAME, "secp256k1", "m/44'/1729'/0'/1", "ledger://%s/secp256k1/0h/1" % NAME),
    ("ledger://%s/bip32-ed25519/0h/0h" % NAME, "bip25519", "m/44'/1729'/0'/0'", "ledger://%s/bip25519/0h/0h" % NAME),
    # No curve segment: Octez defaults to ed25519.
    ("ledger://%s/0h/2h" % NAME, "ed25519", "m/44'/1729'/0'/2'", "ledger://%s/ed25519/0h/2h" % NAME),
    ("ledger://%s/ed25519/0h/0h?x=1" % NAME, "ed25519", "m/44'/1729'/0'/0'", URI),
])
def test_ledger_uri_path(uri, curve, path, printed):
    result = ol.ledger_uri_path(uri)
    assert result == {"name": NAME, "curve": curve, "path": path, "uri": printed}


def test_ledger_uri_path_bare_device():
    assert ol.ledger_uri_path("ledger://%s" % NAME) == {
        "name": NAME, "curve": None, "path": None, "uri": "ledger://%s" % NAME}


def test_ledger_uri_path_pkh_host():
    host = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx"
    assert ol.ledger_uri_path("ledger://%s/ed25519/0h/0h" % host)["name"] == host


@pytest.mark.parametrize("uri", [
    "ledger://not_animals/ed25519/0h/0h",
    "ledger://two-words/ed25519/0h/0h",
    "tcp://localhost:7732/tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx",
    "ledger://%s/ed25519/0h/1" % NAME,  # ed25519 needs hardened nodes
    "ledger://%s/ed25519/0h/zz" % NAME,
    None,
])
def test_ledger_uri_path_rejects(uri):
    with pytest.raises(ol.LedgerError) as info:
        ol.ledger_uri_path(uri)
    assert info.value.kind == "parse_error"


@pytest.mark.parametrize("authorized, expected", [
    ({"authorized": True, "curve": "ed25519", "path": "44h/1729h/0h/0h"}, True),
    ({"authorized": True, "curve": "ed", "path": "m/44'/1729'/0'/0'"}, True),
    ({"curve": "ed25519", "path": "m/44'/1729'/0'/0'"}, True),
    ({"authorized": True, "curve": "secp256k1", "path": "m/44'/1729'/0'/0'"}, False),
    ({"authorized": True, "curve": "ed25519", "path": "m/44'/1729'/0'/1'"}, False),
    ({"authorized": False, "curve": None, "path": None}, False),
    ({"authorized": True, "curve": "ed25519", "path": "garbage/x"}, False),
    (None, False),
])
def test_same_key_path(authorized, expected):
    assert ol.same_key_path(URI, authorized) is expected


def test_same_key_path_needs_a_full_uri():
    authorized = {"authorized": True, "curve": "ed25519", "path": "m/44'/1729'"}
    assert ol.same_key_path("ledger://%s" % NAME, authorized) is False
    assert ol.same_key_path("baker", authorized) is False


def test_same_key_path_from_recorded_output():
    assert ol.same_key_path(URI, ol.parse_authorized_path(fixture("authorized_path_no_key_path.txt")))
    assert not ol.same_key_path(URI, ol.parse_authorized_path(fixture("authorized_path_other_key.stdout.txt")))
    assert not ol.same_key_path(URI, ol.parse_authorized_path(fixture("authorized_path_none.txt")))


def test_resolve_alias(tmp_path):
    (tmp_path / "secret_keys").write_text(json.dumps([
        {"name": "hot", "value": "unencrypted:edsk3QoqBuvdamxouPhin7swCvkQNgq4jP5KZPbwWNnwdZpSpJiEbq"},
        {"name": "baker", "value": URI},
    ]))
    (tmp_path / "public_keys").write_text(json.dumps([
        {"name": "watch", "value": {"locator": "ledger://%s/secp256k1/0h/1h" % NAME, "key": "sppk..."}},
    ]))
    base = str(tmp_path)
    assert ol.resolve_alias("baker", base) == URI
    assert ol.resolve_alias("watch", base) == "ledger://%s/secp256k1/0h/1h" % NAME
    assert ol.resolve_alias("hot", base) is None
    assert ol.resolve_alias("unknown", base) is None
    assert ol.resolve_alias(URI, base) == URI
    assert ol.resolve_alias(None, base) is None


def test_resolve_alias_unreadable_wallet(tmp_path):
    (tmp_path / "secret_keys").write_text("{not json")
    (tmp_path / "public_keys").write_text(json.dumps({"not": "a list"}))
    assert ol.resolve_alias("baker", str(tmp_path)) is None
    assert ol.resolve_alias("baker", str(tmp_path / "missing")) is None


# ---------------------------------------------------------------------------
# setup ledger to bake for: arguments and decisions
# ---------------------------------------------------------------------------

def test_baking_setup_args():
    assert ol.baking_setup_args("baker") == ["setup", "ledger", "to", "bake", "for", "baker"]
    assert ol.baking_setup_args(URI, main_chain_id="NetXdQprcVkpaWU", main_hwm=5100000, test_hwm=0) == [
        "setup", "ledger", "to", "bake", "for", URI,
        "--main-chain-id", "NetXdQprcVkpaWU", "--main-hwm", "5100000", "--test-hwm", "0",
    ]
    assert ol.baking_setup_args("baker", main_hwm=0)[-2:] == ["--main-hwm", "0"]


def test_build_command():
    assert ol.build_command("/bin/octez-client", ["list", "connected", "ledgers"]) == [
        "/bin/octez-client", "list", "connected", "ledgers"]
    assert ol.build_command("octez-client", ["a", 1], base_dir="/srv/client") == [
        "octez-client", "-d", "/srv/client", "a", "1"]


AUTH_SAME = {"authorized": True, "curve": "ed25519", "path": "m/44'/1729'/0'/0'"}
AUTH_OTHER = {"authorized": True, "curve": "secp256k1", "path": "m/44'/1729'/0'/1'"}
AUTH_NONE = {"authorized": False, "curve": None, "path": None}
HWM = {"main": {"level": 5023417, "round": 0}, "test": {"level": 0, "round": 0}, "chain_id": "NetXdQprcVkpaWU"}
HWM_UNSPECIFIED = {"main": {"level": 0, "round": 0}, "test": {"level": 0, "round": 0}, "chain_id": None}


def test_plan_nothing_to_do_when_already_authorized():
    plan = ol.plan_baking_setup(AUTH_SAME, HWM, URI, 5000000, False, "NetXdQprcVkpaWU")
    assert plan["changed"] is False and plan["error"] is None
    assert "already authorizes" in plan["reason"] and "5023417 (>= 5000000)" in plan["reason"]


def test_plan_nothing_to_do_without_requested_values():
    plan = ol.plan_baking_setup(AUTH_SAME, HWM, URI, None, False)
    assert plan == {"changed": False, "reason": plan["reason"], "error": None}


def test_plan_equal_watermark_is_enough():
    assert ol.plan_baking_setup(AUTH_SAME, HWM, URI, 5023417, False)["changed"] is False


def test_plan_setup_when_nothing_authorized():
    plan = ol.plan_baking_setup(AUTH_NONE, HWM_UNSPECIFIED, URI, 5100000, False, "NetXdQprcVkpaWU")
    assert plan["changed"] is True and plan["error"] is None
    assert plan["reason"] == ("no baking key is authorized; main chain id 'Unspecified' -> NetXdQprcVkpaWU; "
                              "main high watermark 0 -> 5100000")


def test_plan_setup_when_another_key_is_authorized():
    plan = ol.plan_baking_setup(AUTH_OTHER, HWM, URI, 5100000, False)
    assert plan["changed"] is True
    assert "authorizes secp256k1 m/44'/1729'/0'/1' instead" in plan["reason"]


def test_plan_setup_keeps_watermark_when_not_requested():
    plan = ol.plan_baking_setup(AUTH_OTHER, HWM, URI, None, False)
    assert plan["changed"] is True and plan["error"] is None
    assert "watermark" not in plan["reason"]


def test_plan_raises_watermark_for_the_same_key():
    plan = ol.plan_baking_setup(AUTH_SAME, HWM, URI, 5100000, False)
    assert plan["changed"] is True
    assert plan["reason"] == "main high watermark 5023417 -> 5100000"


def test_plan_refuses_to_lower_the_watermark():
    plan = ol.plan_baking_setup(AUTH_OTHER, HWM, URI, 100, False)
    assert plan["changed"] is False
    assert plan["error"] == ("refusing to lower the Ledger's main high watermark from 5023417 to 100 "
                             "(set force to allow it)")


def test_plan_lowers_the_watermark_with_force():
    plan = ol.plan_baking_setup(AUTH_OTHER, HWM, URI, 100, True)
    assert plan["changed"] is True and plan["error"] is None
    assert "forced: main high watermark lowered 5023417 -> 100" in plan["reason"]


def test_plan_force_never_lowers_for_the_same_key():
    plan = ol.plan_baking_setup(AUTH_SAME, HWM, URI, 100, True)
    assert plan["changed"] is False and plan["error"] is None


def test_plan_chain_id_change():
    plan = ol.plan_baking_setup(AUTH_SAME, HWM, URI, None, False, "NetXnHfVqm9iesp")
    assert plan["changed"] is True
    assert plan["reason"] == "main chain id NetXdQprcVkpaWU -> NetXnHfVqm9iesp"


def test_plan_int32_chain_id_is_not_compared():
    plan = ol.plan_baking_setup(AUTH_SAME, HWM, URI, None, False, "2047131134")
    assert plan["changed"] is False


def test_plan_unknown_watermark_needs_force():
    plan = ol.plan_baking_setup(AUTH_OTHER, None, URI, 10, False)
    assert plan["changed"] is False
    assert "without force" in plan["error"]
    plan = ol.plan_baking_setup(AUTH_OTHER, None, URI, 10, True)
    assert plan["changed"] is True and plan["error"] is None


# ---------------------------------------------------------------------------
# run_octez_client: process handling, timeouts, lock
# ---------------------------------------------------------------------------

def test_run_octez_client_returns_stdout_and_passes_base_dir(tmp_path):
    binary = write_script(tmp_path / "octez-client", "#!/bin/sh\necho \"args: $*\"\necho \"env: $FAKE_VAR\"\n")
    out = ol.run_octez_client(binary, ["list", "connected", "ledgers"], base_dir="/srv/client",
                              env={"FAKE_VAR": 42})
    assert out == "args: -d /srv/client list connected ledgers\nenv: 42\n"


def test_run_octez_client_failure_keeps_outputs(tmp_path):
    (tmp_path / "out.txt").write_text(fixture("authorized_path_other_key.stdout.txt"))
    (tmp_path / "err.txt").write_text(fixture("authorized_path_other_key.stderr.txt"))
    binary = write_script(tmp_path / "octez-client",
                          "#!/bin/sh\ncat '%s'\ncat '%s' >&2\nexit 1\n" % (tmp_path / "out.txt", tmp_path / "err.txt"))
    with pytest.raises(ol.LedgerError) as info:
        ol.run_octez_client(binary, ["get", "ledger", "authorized", "path", "for", URI])
    exc = info.value
    assert exc.kind == "wrong_key"
    assert exc.rc == 1
    assert exc.message.startswith("Path and curve do not match")
    assert ol.parse_authorized_path(exc.stdout)["curve"] == "secp256k1"


def test_run_octez_client_failure_without_output(tmp_path):
    binary = write_script(tmp_path / "octez-client", "#!/bin/sh\nexit 3\n")
    with pytest.raises(ol.LedgerError) as info:
        ol.run_octez_client(binary, ["x"])
    assert info.value.kind == "command_failed"
    assert "exited with status 3" in info.value.message


def test_run_octez_client_missing_binary(tmp_path):
    with pytest.raises(ol.LedgerError) as info:
        ol.run_octez_client(str(tmp_path / "nope"), ["list", "connected", "ledgers"])
    assert info.value.kind == "command_failed"
    assert "cannot run" in info.value.message


def test_run_octez_client_timeout_kills_the_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    binary = write_script(tmp_path / "octez-client",
                          "#!/bin/sh\ntrap '' TERM\nsleep 30 &\necho $! > '%s'\necho partial\nsleep 30\n" % pidfile)
    start = time.monotonic()
    with pytest.raises(ol.LedgerError) as info:
        ol.run_octez_client(binary, ["list", "connected", "ledgers"], timeout=0.5)
    elapsed = time.monotonic() - start
    assert info.value.kind == "timeout"
    assert "did not finish within 0.5s" in info.value.message
    assert elapsed < 3.0
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while not process_gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_gone(child), "the background child of the hung command survived"


def test_run_octez_client_timeout_with_a_grandchild_outside_the_group(tmp_path):
    pidfile = tmp_path / "escaped.pid"
    # setsid puts the grandchild in another session: it survives the group
    # kill and keeps the pipes open; the call must still return promptly.
    script = ("#!%s\nimport os, subprocess, sys, time\n"
              "p = subprocess.Popen(['sleep', '30'], start_new_session=True)\n"
              "open(%r, 'w').write(str(p.pid))\ntime.sleep(30)\n") % (sys.executable, str(pidfile))
    binary = write_script(tmp_path / "octez-client", script)
    start = time.monotonic()
    try:
        with pytest.raises(ol.LedgerError) as info:
            ol.run_octez_client(binary, ["list"], timeout=0.5)
        assert info.value.kind == "timeout"
        assert time.monotonic() - start < 6.0
    finally:
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), 9)
            except OSError:
                pass


def test_run_octez_client_lock_contention_is_busy(tmp_path, hold_lock):
    lock = tmp_path / "ledger.lock"
    marker = tmp_path / "ran"
    binary = write_script(tmp_path / "octez-client", "#!/bin/sh\ntouch '%s'\n" % marker)
    holder = hold_lock(lock)
    start = time.monotonic()
    with pytest.raises(ol.LedgerError) as info:
        ol.run_octez_client(binary, ["list", "connected", "ledgers"], lock_path=str(lock), lock_timeout=0.3)
    assert info.value.kind == "busy"
    assert str(lock) in info.value.message
    assert time.monotonic() - start < 2.0
    assert not marker.exists(), "octez-client ran without the lock"
    holder.kill()
    holder.wait()
    # Once the holder is gone the lock is free again.
    assert ol.run_octez_client(binary, ["list"], lock_path=str(lock), lock_timeout=0.3) == ""
    assert marker.exists()


def test_ledger_lock_is_released_after_use(tmp_path):
    lock = str(tmp_path / "ledger.lock")
    with ol.ledger_lock(lock, 0.1):
        fd = os.open(lock, os.O_RDWR)
        try:
            with pytest.raises(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    with ol.ledger_lock(lock, 0.1):
        pass
    with ol.ledger_lock(None):
        pass


def test_ledger_lock_unusable_path(tmp_path):
    with pytest.raises(ol.LedgerError) as info:
        with ol.ledger_lock(str(tmp_path / "missing-dir" / "ledger.lock")):
            pass
    assert info.value.kind == "command_failed"


# ---------------------------------------------------------------------------
# check_ledger with a fake octez-client replaying recorded outputs
# ---------------------------------------------------------------------------

def fake_client(tmp_path, **changes):
    """The fake octez-client (see octez_client_fake.py) of a ready Ledger, but for ``changes``."""
    return FakeClient(tmp_path, dict(READY, **changes)).path


def test_check_ledger_ready(tmp_path):
    result = ol.check_ledger(fake_client(tmp_path), URI, timeout=5)
    assert dict((key, result[key]) for key in READY_FACTS) == READY_FACTS
    assert result["ready"] is True
    assert result["authorized"] is True and result["authorized_matches"] is True


def test_check_ledger_nothing_connected(tmp_path):
    binary = fake_client(tmp_path, list={"stdout": "@list_connected_ledgers_none.txt"})
    result = ol.check_ledger(binary, URI, timeout=5)
    assert (result["ready"], result["connected"], result["error_kind"]) == (False, False, "no_ledger")


def test_check_ledger_another_device(tmp_path):
    binary = fake_client(tmp_path)
    result = ol.check_ledger(binary, "ledger://calm-zebra-brave-otter/ed25519/0h/0h", timeout=5)
    assert result["error_kind"] == "no_ledger"
    assert NAME in result["error"]


def test_check_ledger_wallet_app(tmp_path):
    binary = fake_client(tmp_path, list={"stdout": "@list_connected_ledgers_wallet.txt"})
    result = ol.check_ledger(binary, URI, timeout=5)
    assert result["connected"] is True and result["app"] == "Tezos Wallet"
    assert result["error_kind"] == "app_not_open"


def test_check_ledger_wrong_key(tmp_path):
    binary = fake_client(tmp_path, authorized={
        "stdout": "@authorized_path_other_key.stdout.txt", "stderr": "@authorized_path_other_key.stderr.txt", "rc": 1})
    result = ol.check_ledger(binary, URI, timeout=5)
    assert result["error_kind"] == "wrong_key"
    assert result["authorized"] is True and result["authorized_matches"] is False
    assert result["authorized_curve"] == "secp256k1"
    assert result["high_watermark"]["main"]["level"] == 5023417


def test_check_ledger_not_authorized(tmp_path):
    binary = fake_client(tmp_path, authorized={"stdout": "@authorized_path_none.txt"},
                         hwm={"stdout": "@high_watermark_unspecified.txt"})
    result = ol.check_ledger(binary, URI, timeout=5)
    assert result["error_kind"] == "not_authorized"
    assert result["authorized"] is False
    assert result["high_watermark"]["chain_id"] is None


def test_check_ledger_timeout(tmp_path):
    binary = fake_client(tmp_path, list={"stdout": "@list_connected_ledgers_baking.txt", "sleep": 30})
    start = time.monotonic()
    result = ol.check_ledger(binary, URI, timeout=0.5)
    assert result["error_kind"] == "timeout"
    assert time.monotonic() - start < 3.0


def test_check_ledger_busy(tmp_path, hold_lock):
    lock = tmp_path / "ledger.lock"
    hold_lock(lock)
    result = ol.check_ledger(fake_client(tmp_path), URI, timeout=5, lock_path=str(lock), lock_timeout=0.2)
    assert result["error_kind"] == "busy"
    assert result["ready"] is False
