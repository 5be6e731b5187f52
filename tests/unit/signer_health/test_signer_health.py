from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit and end-to-end tests of the signer health daemon.

The daemon is a standalone script (roles/signer_health/files/...), loaded
here from its path. The end-to-end tests run its HTTP server on an ephemeral
loopback port against a fake octez-signer (http.server) and a fake
octez-client (a python script printing Octez's real Ledger outputs, driven
by a JSON state file).
"""

import fcntl
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
DAEMON_PATH = os.path.join(ROOT, "roles", "signer_health", "files", "usr", "local", "lib", "tezos-bakery", "signer_health.py")


def _load_daemon():
    spec = importlib.util.spec_from_file_location("tezos_bakery_signer_health", DAEMON_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sh = _load_daemon()

# Octez sandbox bootstrap1 / bootstrap2 (public, well-known test keys).
PKH = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx"
PK = "edpkuBknW28nW72KG6RoHtYW7p12T6GKc7nAbwYX5m8Wd9sDVC9yav"
OTHER_PKH = "tz1gjaF81ZRRvdzjobyfVNsAeSC6PScjfQwN"
OTHER_PK = "edpktzNbDAUjUk697W7gYg2CRuBQjyPxbEg8dLccYYwKSKvkPvjtV9"
URI = "ledger://molecule-double-ledger-nano/ed25519/0h/0h"

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def base_config(**overrides):
    raw = {"pkh": PKH, "public_key": PK, "ledger_uri": URI}
    raw.update(overrides)
    return raw


class FakeClock:
    """Wall and monotonic clocks moved by hand."""

    def __init__(self):
        self.wall = 1700000000.0
        self.mono = 5000.0

    def time(self):
        return self.wall

    def monotonic(self):
        return self.mono

    def advance(self, seconds):
        self.wall += seconds
        self.mono += seconds


def ok_result(level=4242, round_=1):
    result = sh.empty_ledger_result(URI)
    result.update({
        "connected": True, "name": "molecule-double-ledger-nano", "app": "Tezos Baking", "app_version": "2.4.7",
        "device": "Ledger Nano S Plus", "authorized": True, "authorized_matches": True,
        "authorized_path": "m/44'/1729'/0'/0'", "authorized_curve": "ed25519", "authorized_uri": URI,
        "high_watermark": {"main": {"level": level, "round": round_}, "test": {"level": 0, "round": 0},
                           "chain_id": "NetXdQprcVkpaWU"},
        "ready": True,
    })
    return result


def failed_result(kind, message="boom", connected=False):
    result = sh.empty_ledger_result(URI, kind, message)
    result["connected"] = connected
    return result


SIGNER_OK = sh.SignerObservation(up=True, public_key_matches=True, public_key=PK, status=200)


def make_state(clock, **overrides):
    config = sh.validate_config(base_config(**overrides))
    return sh.HealthState(config, clock=clock.time, monotonic=clock.monotonic)


def wait_for(predicate, timeout=5.0, what="condition"):
    """Poll ``predicate`` until it returns a truthy value (returned) or fail."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(0.05)


def wait_status(port, status, what, extra=lambda body: True):
    """Poll /healthz until it answers ``status`` (and ``extra(body)``); -> body."""
    def check():
        code, body = healthz(port)
        return body if code == status and extra(body) else None
    return wait_for(check, what=what)


def http_get(port, path, method="GET"):
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with NO_PROXY.open(request, timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode("utf-8")


def healthz(port):
    status, _headers, body = http_get(port, "/healthz")
    return status, json.loads(body)


_SAMPLE_RE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
_LABEL_RE = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\\n]|\\[\\"n])*)"(?:,|$)')


def parse_exposition(text):
    """Strict enough parser of the text format 0.0.4.

    Returns (types, samples): ``types`` maps family -> type, ``samples`` maps
    (name, frozenset(labels)) -> float. Fails on anything malformed.
    """
    assert text.endswith("\n")
    types, helps, samples = {}, {}, {}
    for line in text[:-1].split("\n"):
        assert line, "empty line in exposition"
        if line.startswith("# HELP "):
            name, _sep, help_text = line[len("# HELP "):].partition(" ")
            assert name not in helps, "duplicate HELP for %s" % name
            assert help_text, "empty HELP for %s" % name
            helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, mtype = line[len("# TYPE "):].split(" ")
            assert name not in types, "duplicate TYPE for %s" % name
            assert mtype in ("counter", "gauge", "histogram", "summary", "untyped")
            assert not any(key[0] == name for key in samples), "TYPE after samples for %s" % name
            types[name] = mtype
        elif line.startswith("#"):
            continue
        else:
            match = _SAMPLE_RE.match(line)
            assert match, "bad sample line %r" % line
            name = match.group("name")
            assert name in types, "sample %s without TYPE" % name
            labels = {}
            raw_labels = match.group("labels") or ""
            pos = 0
            while pos < len(raw_labels):
                label = _LABEL_RE.match(raw_labels, pos)
                assert label, "bad labels in %r" % line
                labels[label.group("key")] = label.group("value")
                pos = label.end()
            value = float(match.group("value"))  # also accepts NaN / +Inf
            key = (name, frozenset(labels.items()))
            assert key not in samples, "duplicate series %r" % (key,)
            samples[key] = value
    for name, mtype in types.items():
        assert name in helps, "TYPE without HELP for %s" % name
        if mtype == "counter":
            assert name.endswith("_total")
    return types, samples


def sample(samples, name, **labels):
    labels.setdefault("pkh", PKH)
    return samples.get((name, frozenset(labels.items())))


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

def test_defaults_are_applied():
    config = sh.validate_config(base_config())
    assert config.listen_address == "127.0.0.1"
    assert config.listen_port == 6733
    assert config.signer_url == "http://127.0.0.1:6732"
    assert config.signer_key_url == "http://127.0.0.1:6732/keys/" + PKH
    assert config.octez_client == "/usr/local/bin/octez-client"
    assert config.octez_client_base_dir is None and config.lock_path is None
    assert (config.check_interval, config.check_timeout, config.max_result_age) == (60, 10, 180)
    assert (config.lock_timeout, config.signer_timeout) == (2, 3)
    assert config.signer_interval == 5


def test_signer_url_trailing_slash_is_dropped():
    config = sh.validate_config(base_config(signer_url="http://127.0.0.1:6732/"))
    assert config.signer_key_url == "http://127.0.0.1:6732/keys/" + PKH


@pytest.mark.parametrize("key", ["tz2", "tz3", "tz4"])
def test_other_key_kinds_are_accepted(key):
    pairs = {  # public test vectors (pk -> pkh) of the other curves
        "tz2": ("sppk7a7FbTvhn3Qxh5WpXVdNK88xsdpWAZF2ux2RNmvikKFtXYdHdMy", "tz2ToZF5fjmcawoUQUa6NoV3jsRmmZNwuEyZ", "secp256k1"),
        "tz3": ("p2pk66tTYL5EvahKAXncbtbRPBkAnxo3CszzUho5wPCgWauBMyvybuB", "tz3Lfm6CyfSTZ7EgMckptZZGiPxzs9GK59At", "p256"),
        "tz4": ("BLpk1wdBzZKshyhkdge3cXvWdTWhCWDsih8X1pbEdvjTapd1PvsESzTjMTwNWpephX8wyhshSFCp",
                "tz4F2fxv7sKQx9wyoRMteoJwZEZnV9WFU2wL", "ed25519"),
    }
    public_key, pkh, curve = pairs[key]
    assert sh.public_key_hash(public_key) == pkh
    config = sh.validate_config(base_config(pkh=pkh, public_key=public_key,
                                            ledger_uri="ledger://molecule-double-ledger-nano/%s/0h/0h" % curve))
    assert config.pkh == pkh


@pytest.mark.parametrize("overrides, key, fragment", [
    ({"pkh": None}, "pkh", "required"),
    ({"public_key": None}, "public_key", "required"),
    ({"ledger_uri": None}, "ledger_uri", "required"),
    ({"pkh": "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSy"}, "pkh", "checksum"),
    ({"pkh": "KT1PWx2mnDueood7fEmfbBDKx1D9BAnnXitn"}, "pkh", "tz1/tz2/tz3/tz4"),
    ({"pkh": 42}, "pkh", "string"),
    ({"public_key": OTHER_PK}, "public_key", "is the key of " + OTHER_PKH),
    ({"public_key": "edpk-nonsense"}, "public_key", "edpk"),
    ({"ledger_uri": "tcp://molecule-double-ledger-nano/ed25519/0h/0h"}, "ledger_uri", "ledger://"),
    ({"ledger_uri": "ledger://molecule-double-ledger-nano"}, "ledger_uri", "curve and path"),
    ({"ledger_uri": "ledger://molecule-double-ledger-nano/secp256k1/0h/0h"}, "ledger_uri", "cannot give the tz1"),
    ({"listen_address": "not an address!"}, "listen_address", "IP address"),
    ({"listen_port": 70000}, "listen_port", "port"),
    ({"listen_port": "6733"}, "listen_port", "port"),
    ({"listen_port": True}, "listen_port", "port"),
    ({"signer_url": "ftp://127.0.0.1:6732"}, "signer_url", "http://"),
    ({"signer_url": "http://127.0.0.1:notaport"}, "signer_url", "http://"),
    ({"signer_url": "http://127.0.0.1:6732/?x=1"}, "signer_url", "query"),
    ({"octez_client": "octez-client"}, "octez_client", "absolute path"),
    ({"octez_client_base_dir": "relative/dir"}, "octez_client_base_dir", "absolute path"),
    ({"lock_path": ""}, "lock_path", "non-empty"),
    ({"check_interval": 0}, "check_interval", "> 0"),
    ({"check_interval": True}, "check_interval", "number"),
    ({"check_timeout": -1}, "check_timeout", "> 0"),
    ({"check_timeout": "10"}, "check_timeout", "number"),
    ({"lock_timeout": -0.5}, "lock_timeout", ">= 0"),
    ({"signer_timeout": float("nan")}, "signer_timeout", "number"),
    ({"max_result_age": 90}, "max_result_age", "must exceed"),
])
def test_config_errors_name_the_key(overrides, key, fragment):
    with pytest.raises(sh.ConfigError) as excinfo:
        sh.validate_config(base_config(**overrides))
    message = str(excinfo.value)
    assert "'%s'" % key in message
    assert fragment in message


def test_unknown_key_and_non_object_are_rejected():
    with pytest.raises(sh.ConfigError, match="unknown config key: 'chek_interval'"):
        sh.validate_config(base_config(chek_interval=5))
    with pytest.raises(sh.ConfigError, match="JSON object"):
        sh.validate_config([1, 2])


def test_check_config_cli(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(base_config()))
    assert sh.main(["--config", str(good), "--check-config"]) == 0
    assert "is valid" in capsys.readouterr().out

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(base_config(check_timeout="soon")))
    assert sh.main(["--config", str(bad), "--check-config"]) == 2
    assert "'check_timeout'" in capsys.readouterr().err

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert sh.main(["--config", str(broken), "--check-config"]) == 2
    assert "not valid JSON" in capsys.readouterr().err

    assert sh.main(["--config", str(tmp_path / "missing.json"), "--check-config"]) == 2
    assert "cannot read" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# Verdict
# ---------------------------------------------------------------------------

def test_unhealthy_before_first_results():
    clock = FakeClock()
    state = make_state(clock)
    healthy, reasons = sh.evaluate(state.view())
    assert not healthy
    assert any("not been probed" in reason for reason in reasons)
    assert any("no Ledger check has completed yet" in reason for reason in reasons)
    body = sh.healthz_body(state.view())
    assert body["healthy"] is False and body["signer"]["up"] is False and body["ledger"]["age_seconds"] is None


def test_healthy_when_signer_and_ledger_are_ok():
    clock = FakeClock()
    state = make_state(clock)
    state.record_signer(SIGNER_OK)
    state.record_ledger(ok_result(), 0.4)
    clock.advance(10)
    body = sh.healthz_body(state.view())
    assert body["healthy"] is True and body["reasons"] == []
    assert body["signer"]["up"] is True and body["signer"]["public_key_matches"] is True
    assert body["signer"]["age_seconds"] == 10
    assert body["ledger"]["ready"] is True and body["ledger"]["age_seconds"] == 10
    assert body["ledger"]["duration_seconds"] == 0.4
    assert body["ledger"]["high_watermark"]["main"] == {"level": 4242, "round": 1}
    assert body["ledger"]["error_kind"] is None and body["ledger"]["error"] is None


def test_signer_down_is_unhealthy():
    clock = FakeClock()
    state = make_state(clock)
    state.record_signer(sh.SignerObservation(up=False, public_key_matches=False, error_kind="unreachable",
                                             error="cannot reach http://127.0.0.1:6732/keys/x: refused"))
    state.record_ledger(ok_result())
    healthy, reasons = sh.evaluate(state.view())
    assert not healthy
    assert reasons == ["signer down: cannot reach http://127.0.0.1:6732/keys/x: refused"]


def test_wrong_public_key_is_unhealthy():
    clock = FakeClock()
    state = make_state(clock)
    state.record_signer(sh.SignerObservation(up=True, public_key_matches=False, public_key=OTHER_PK, status=200,
                                             error_kind="wrong_public_key", error="signer serves public key %s" % OTHER_PK))
    state.record_ledger(ok_result())
    body = sh.healthz_body(state.view())
    assert body["healthy"] is False
    assert body["signer"]["up"] is True and body["signer"]["public_key_matches"] is False
    assert OTHER_PK in body["reasons"][0]


@pytest.mark.parametrize("kind", ["no_ledger", "app_not_open", "wrong_key", "not_authorized", "timeout", "command_failed"])
def test_ledger_not_ready_is_unhealthy(kind):
    clock = FakeClock()
    state = make_state(clock)
    state.record_signer(SIGNER_OK)
    state.record_ledger(ok_result())
    state.record_ledger(failed_result(kind, "details of %s" % kind))
    body = sh.healthz_body(state.view())
    assert body["healthy"] is False
    assert body["ledger"]["error_kind"] == kind
    assert body["reasons"] == ["Ledger not ready (%s): details of %s" % (kind, kind)]


def test_stale_ledger_result_is_unhealthy():
    clock = FakeClock()
    state = make_state(clock)
    state.record_ledger(ok_result())
    clock.advance(179)
    state.record_signer(SIGNER_OK)
    assert sh.evaluate(state.view())[0] is True
    clock.advance(2)
    state.record_signer(SIGNER_OK)
    healthy, reasons = sh.evaluate(state.view())
    assert not healthy
    assert reasons == ["the last Ledger check is 181 s old (max_result_age 180 s)"]
    assert sh.healthz_body(state.view())["ledger"]["fresh"] is False


def test_stale_signer_probe_is_unhealthy():
    clock = FakeClock()
    state = make_state(clock)
    state.record_signer(SIGNER_OK)
    state.record_ledger(ok_result())
    clock.advance(state.config.signer_max_age + 1)
    state.record_ledger(ok_result())
    healthy, reasons = sh.evaluate(state.view())
    assert not healthy and "last signer probe" in reasons[0]


def test_busy_keeps_previous_result_until_it_is_stale():
    clock = FakeClock()
    state = make_state(clock)
    state.record_signer(SIGNER_OK)
    state.record_ledger(ok_result(level=100))
    clock.advance(60)
    state.record_signer(SIGNER_OK)
    state.record_ledger(failed_result("busy", "another process holds the Ledger lock"), 2.0)
    view = state.view()
    assert view.checks["busy"] == 1 and view.checks["ok"] == 1
    body = sh.healthz_body(view)
    assert body["healthy"] is True
    assert body["ledger"]["ready"] is True and body["ledger"]["age_seconds"] == 60
    assert body["ledger"]["high_watermark"]["main"]["level"] == 100
    assert body["ledger"]["busy"]["skipped_checks"] == 1

    clock.advance(121)
    state.record_signer(SIGNER_OK)
    state.record_ledger(failed_result("busy", "another process holds the Ledger lock"))
    healthy, reasons = sh.evaluate(state.view())
    assert not healthy
    assert "181 s old" in reasons[0] and "2 checks found the Ledger busy" in reasons[0]

    state.record_ledger(ok_result(level=101))
    body = sh.healthz_body(state.view())
    assert body["healthy"] is True and body["ledger"]["busy"] is None
    checks = state.view().checks
    assert (checks["ok"], checks["busy"]) == (2, 2)


def test_busy_without_previous_result_stays_unhealthy():
    clock = FakeClock()
    state = make_state(clock)
    state.record_signer(SIGNER_OK)
    state.record_ledger(failed_result("busy", "device or resource busy"))
    healthy, reasons = sh.evaluate(state.view())
    assert not healthy
    assert reasons == ["no Ledger check has completed yet; the last 1 check found the Ledger busy: device or resource busy"]


def test_state_changes_are_logged_once(caplog):
    clock = FakeClock()
    state = make_state(clock)
    with caplog.at_level("INFO", logger="tezos_signer_health"):
        for _attempt in range(3):
            state.record_signer(SIGNER_OK)
            state.record_ledger(ok_result())
        for _attempt in range(3):
            state.record_ledger(failed_result("no_ledger", "unplugged"))
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if m.startswith("signer:")]) == 1
    assert len([m for m in messages if m.startswith("ledger:")]) == 2
    assert [m for m in messages if m.startswith("health:")] == [
        "health: healthy", "health: UNHEALTHY: Ledger not ready (no_ledger): unplugged"]


def test_checker_never_raises():
    config = sh.validate_config(base_config())

    def crash(*_args, **_kwargs):
        raise RuntimeError("bug")

    result, duration = sh.LedgerChecker(config, check_fn=crash).check()
    assert result["ready"] is False and result["error_kind"] == "command_failed" and "bug" in result["error"]
    assert duration >= 0


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------

def test_metrics_before_any_check():
    clock = FakeClock()
    state = make_state(clock)
    types, samples = parse_exposition(sh.render_metrics(state.view()))
    assert types["tezos_ledger_checks_total"] == "counter"
    assert types["tezos_signer_health_ready"] == "gauge"
    assert sample(samples, "tezos_signer_up") == 0
    assert sample(samples, "tezos_signer_health_ready") == 0
    assert sample(samples, "tezos_ledger_high_watermark_level") is None
    assert sample(samples, "tezos_ledger_last_check_age_seconds") is None
    for kind in ("ok", "no_ledger", "app_not_open", "wrong_key", "not_authorized", "timeout", "busy",
                 "command_failed", "parse_error"):
        assert sample(samples, "tezos_ledger_checks_total", result=kind) == 0


def test_metrics_reflect_state():
    clock = FakeClock()
    state = make_state(clock)
    state.record_signer(SIGNER_OK)
    state.record_ledger(ok_result(level=4242, round_=3), 0.25)
    clock.advance(7)
    state.record_ledger(failed_result("busy", "held"), 2.5)
    types, samples = parse_exposition(sh.render_metrics(state.view()))
    assert set(types) == set(name for name, _type, _help in sh.METRICS)
    expected = {
        "tezos_signer_up": 1, "tezos_signer_public_key_matches": 1, "tezos_ledger_connected": 1,
        "tezos_ledger_app_open": 1, "tezos_ledger_authorized": 1, "tezos_ledger_ready": 1,
        "tezos_ledger_high_watermark_level": 4242, "tezos_ledger_high_watermark_round": 3,
        "tezos_ledger_last_check_timestamp_seconds": 1700000000.0, "tezos_ledger_last_check_age_seconds": 7,
        "tezos_ledger_check_duration_seconds": 2.5, "tezos_signer_health_ready": 1,
    }
    for name, value in expected.items():
        assert sample(samples, name) == value, name
    assert sample(samples, "tezos_ledger_checks_total", result="ok") == 1
    assert sample(samples, "tezos_ledger_checks_total", result="busy") == 1

    state.record_ledger(dict(failed_result("app_not_open", "Wallet app", connected=True), app="Tezos Wallet"), 0.1)
    _types, samples = parse_exposition(sh.render_metrics(state.view()))
    assert sample(samples, "tezos_ledger_connected") == 1
    assert sample(samples, "tezos_ledger_app_open") == 0
    assert sample(samples, "tezos_ledger_ready") == 0
    assert sample(samples, "tezos_signer_health_ready") == 0
    assert sample(samples, "tezos_ledger_high_watermark_level") is None
    assert sample(samples, "tezos_ledger_checks_total", result="app_not_open") == 1


def test_label_values_are_escaped():
    assert sh._labels((("pkh", 'a"b\\c\nd'),)) == '{pkh="a\\"b\\\\c\\nd"}'


# ---------------------------------------------------------------------------
# End to end: fake signer + fake octez-client + the daemon's server
# ---------------------------------------------------------------------------

FAKE_CLIENT = r'''
import json, os, sys, time
STATE = %(state)r
URI = %(uri)r
args = sys.argv[1:]
if args[:1] == ["-d"]:
    args = args[2:]
with open(STATE) as handle:
    state = json.load(handle)
with open(STATE + ".calls", "a") as handle:
    handle.write(" ".join(args) + "\n")
mode = state.get("mode", "ok")
command = " ".join(args)
if mode == "hang":
    with open(STATE + ".pids", "a") as handle:
        handle.write("%%d\n" %% os.getpid())
    time.sleep(30)
    sys.exit(0)
if command == "list connected ledgers":
    if mode == "no_ledger":
        sys.exit(0)
    print("## Ledger `molecule-double-ledger-nano`")
    print('Found a %%s 2.4.7 (git-description: "") application running on'
          %% ("Tezos Wallet" if mode == "wallet" else "Tezos Baking"))
    print("Ledger Nano S Plus at [1-1.2:1.0].")
    print("")
    print("To use keys at BIP32 path m/44'/1729'/0'/0' (default Tezos key path), use")
    print("one of:")
    print('  octez-client import secret key ledger_user "%%s"' %% URI)
elif command == "get ledger authorized path for " + URI:
    print("Authorized baking path: 44h/1729h/0h/0h")
    print("Authorized baking curve: ed25519")
    print("Authorized baking URI: " + URI)
elif command == "get ledger high watermark for " + URI:
    print("The high water mark values for %%s are %%d (round: %%d) for the main-chain" %% (URI, state.get("level", 4242), 1))
    print("(NetXdQprcVkpaWU) and 0 (round: 0) for the test-chain.")
else:
    sys.stderr.write("Error:\n  unexpected command %%s\n" %% command)
    sys.exit(1)
'''


class FakeOctezClient:
    def __init__(self, directory):
        self.state_path = str(directory / "ledger-state.json")
        self.path = str(directory / "octez-client")
        self.set(mode="ok")
        with open(self.path, "w") as handle:
            handle.write("#!%s -S\n" % sys.executable)
            handle.write(FAKE_CLIENT % {"state": self.state_path, "uri": URI})
        os.chmod(self.path, 0o755)

    def set(self, **state):
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(state, handle)
        os.replace(tmp, self.state_path)

    def calls(self):
        try:
            with open(self.state_path + ".calls") as handle:
                return handle.read().splitlines()
        except OSError:
            return []

    def pids(self):
        try:
            with open(self.state_path + ".pids") as handle:
                return [int(line) for line in handle.read().split()]
        except OSError:
            return []


class FakeSigner:
    """octez-signer's GET /keys/<pkh> on an ephemeral loopback port."""

    def __init__(self):
        self.public_key = PK
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if self.path == "/keys/" + PKH:
                    status, body = 200, json.dumps({"public_key": fake.public_key})
                else:
                    status, body = 404, json.dumps([{"kind": "permanent", "id": "cli.signer.unknown_key"}])
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_signer():
    signer = FakeSigner()
    yield signer
    signer.close()


@pytest.fixture
def fake_client(tmp_path):
    return FakeOctezClient(tmp_path)


@pytest.fixture
def run_daemon(fake_signer, fake_client, tmp_path):
    daemons = []

    def start(**overrides):
        raw = base_config(listen_port=0, signer_url=fake_signer.url, octez_client=fake_client.path,
                          octez_client_base_dir=str(tmp_path), lock_path=str(tmp_path / "ledger.lock"),
                          check_interval=0.2, check_timeout=2, lock_timeout=0.1, max_result_age=8, signer_timeout=1)
        raw.update(overrides)
        daemon = sh.Daemon(sh.validate_config(raw))
        daemon.start()
        daemons.append(daemon)
        return daemon, daemon.address[1]

    yield start
    for daemon in daemons:
        daemon.stop()


def free_port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return port


def test_signer_probe(fake_signer):
    config = sh.validate_config(base_config(signer_url=fake_signer.url, signer_timeout=1))
    probe = sh.SignerProbe(config)
    obs = probe.probe()
    assert obs.up and obs.public_key_matches and obs.status == 200 and obs.error is None

    fake_signer.public_key = OTHER_PK
    obs = probe.probe()
    assert obs.up and not obs.public_key_matches and obs.error_kind == "wrong_public_key" and OTHER_PK in obs.error

    other = sh.SignerProbe(sh.validate_config(base_config(pkh=OTHER_PKH, public_key=OTHER_PK, signer_url=fake_signer.url)))
    obs = other.probe()
    assert obs.up and not obs.public_key_matches and obs.status == 404 and obs.error_kind == "http_status"

    down = sh.SignerProbe(sh.validate_config(base_config(signer_url="http://127.0.0.1:%d" % free_port(), signer_timeout=1)))
    obs = down.probe()
    assert not obs.up and obs.error_kind == "unreachable"


def test_end_to_end_ledger_flips(run_daemon, fake_client, fake_signer):
    _daemon, port = run_daemon()
    body = wait_status(port, 200, "/healthz 200")
    assert body["healthy"] and body["ledger"]["ready"] and body["ledger"]["app_version"] == "2.4.7"
    assert body["ledger"]["high_watermark"]["main"] == {"level": 4242, "round": 1}
    assert body["ledger"]["authorized_path"] == "m/44'/1729'/0'/0'"

    status, headers, text = http_get(port, "/metrics")
    assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    _types, samples = parse_exposition(text)
    assert sample(samples, "tezos_signer_health_ready") == 1
    assert sample(samples, "tezos_ledger_high_watermark_level") == 4242

    status, headers, text = http_get(port, "/healthz", method="HEAD")
    assert status == 200 and text == "" and int(headers["Content-Length"]) > 0
    assert http_get(port, "/")[0] == 200
    assert http_get(port, "/nope")[0] == 404

    fake_client.set(mode="no_ledger")
    body = wait_status(port, 503, "/healthz 503")
    assert body["ledger"]["error_kind"] == "no_ledger" and body["reasons"]
    assert http_get(port, "/healthz", method="HEAD")[0] == 503

    fake_client.set(mode="ok", level=5000)
    body = wait_status(port, 200, "/healthz back to 200", lambda b: b["ledger"]["high_watermark"]["main"]["level"] == 5000)
    assert body["ledger"]["high_watermark"]["main"]["level"] == 5000

    fake_signer.public_key = OTHER_PK
    body = wait_status(port, 503, "wrong key 503")
    assert body["signer"]["public_key_matches"] is False


def test_requests_never_trigger_a_check(run_daemon, fake_client):
    _daemon, port = run_daemon(check_interval=60, max_result_age=120)
    wait_for(lambda: healthz(port)[0] == 200, what="first check")
    calls = len(fake_client.calls())
    assert calls == 3
    for _attempt in range(40):
        http_get(port, "/healthz")
        http_get(port, "/metrics")
    assert len(fake_client.calls()) == calls


def test_busy_lock_keeps_previous_result(run_daemon, tmp_path):
    _daemon, port = run_daemon()
    wait_for(lambda: healthz(port)[0] == 200, what="first check")
    fd = os.open(str(tmp_path / "ledger.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)

        def busy_seen():
            _types, samples = parse_exposition(http_get(port, "/metrics")[2])
            return sample(samples, "tezos_ledger_checks_total", result="busy") >= 2

        wait_for(busy_seen, what="busy checks counted")
        status, body = healthz(port)
        assert status == 200 and body["ledger"]["ready"] is True
        assert body["ledger"]["busy"]["skipped_checks"] >= 1
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    wait_for(lambda: healthz(port)[1]["ledger"]["busy"] is None, what="busy streak to end")


def test_hanging_octez_client_is_killed_and_server_stays_responsive(run_daemon, fake_client):
    _daemon, port = run_daemon(check_timeout=0.5)
    wait_for(lambda: healthz(port)[0] == 200, what="first check")
    fake_client.set(mode="hang")
    slowest = [0.0]

    def timed_out():
        start = time.monotonic()
        status, body = healthz(port)
        slowest[0] = max(slowest[0], time.monotonic() - start)
        return status == 503 and body["ledger"]["error_kind"] == "timeout" and body

    body = wait_for(timed_out, what="timeout result")
    assert "did not finish within 0.5s" in body["ledger"]["error"]
    assert slowest[0] < 0.5, "a request waited for the Ledger check (%.2fs)" % slowest[0]
    hung = fake_client.pids()[0]

    def gone():
        try:
            os.kill(hung, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, timeout=3, what="the hung octez-client to be killed")
    fake_client.set(mode="ok")
    wait_for(lambda: healthz(port)[0] == 200, what="recovery")


def test_once_cli(fake_signer, fake_client, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(base_config(signer_url=fake_signer.url, octez_client=fake_client.path,
                                             check_timeout=5, signer_timeout=1)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, ".collections"), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, DAEMON_PATH, "--config", str(config), "--once"]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["healthy"] is True

    fake_client.set(mode="wallet")
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=30, check=False)
    assert proc.returncode == 1, proc.stderr
    body = json.loads(proc.stdout)
    assert body["ledger"]["error_kind"] == "app_not_open" and body["ledger"]["app"] == "Tezos Wallet"


def test_daemon_stops_on_sigterm(fake_signer, fake_client, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(base_config(listen_port=0, signer_url=fake_signer.url, octez_client=fake_client.path,
                                             check_interval=30, check_timeout=2, max_result_age=60)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, ".collections"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, DAEMON_PATH, "--config", str(config)], stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        match = None
        while match is None and len(lines) < 20:
            lines.append(proc.stderr.readline())
            match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", lines[-1])
        assert match, lines
        port = int(match.group(1))
        wait_for(lambda: healthz(port)[0] == 200, what="daemon healthy")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
