from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

# SPDX-License-Identifier: GPL-3.0-or-later
"""Configuration validation (what `--check-config` runs before install)."""

import copy
import json

import pytest

import lte_failover
from lte_failover import ConfigError, Uplink, load_config, validate_config

GOOD = {
    "uplinks": [{"name": "wired", "interface": "eth0", "gateway": "192.168.1.1"},
                {"name": "lte", "interface": "usb0", "gateway": "192.168.8.1"}],
    "probe_targets": ["1.1.1.1", "9.9.9.9"],
    "probe_interval": 5,
    "probe_timeout": 2,
    "failures_before_down": 3,
    "hold_time": 60,
    "listen_address": "127.0.0.1",
    "listen_port": 9102,
    "route_metric_base": 100,
    "route_metric_step": 100,
    "route_metric_demoted": 1000,
    "modem_command": "/usr/bin/mmcli",
    "modem_interval": 60,
}


def changed(**changes):
    raw = copy.deepcopy(GOOD)
    raw.update(changes)
    return raw


def error_of(raw):
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    return str(info.value)


def test_accepts_the_role_defaults():
    config = validate_config(GOOD)
    assert config.uplinks == (Uplink("wired", "eth0", "192.168.1.1"), Uplink("lte", "usb0", "192.168.8.1"))
    assert config.probe_targets == ("1.1.1.1", "9.9.9.9")
    assert config.hold_time == 60.0 and config.failures_before_down == 3


def test_minimal_config_gets_defaults():
    config = validate_config({"uplinks": GOOD["uplinks"], "probe_targets": ["1.1.1.1"]})
    assert (config.probe_interval, config.probe_timeout, config.failures_before_down, config.hold_time) == (5, 2, 3, 60)
    assert (config.listen_address, config.listen_port) == ("127.0.0.1", 9102)
    assert config.modem_command == ""


def test_point_to_point_uplink_has_no_gateway():
    uplinks = [GOOD["uplinks"][0], {"name": "lte", "interface": "wwan0", "gateway": None}]
    assert validate_config(changed(uplinks=uplinks)).uplinks[1] == Uplink("lte", "wwan0", None)
    uplinks[1]["gateway"] = ""
    assert validate_config(changed(uplinks=uplinks)).uplinks[1].gateway is None


@pytest.mark.parametrize("uplinks, message", [
    ([GOOD["uplinks"][0]], "expected a list of 2 to 8 uplinks"),
    ("eth0", "expected a list of 2 to 8 uplinks"),
    ([GOOD["uplinks"][0], GOOD["uplinks"][0]], "duplicate name wired"),
    ([GOOD["uplinks"][0], dict(GOOD["uplinks"][1], interface="eth0")], "duplicate interface eth0"),
    ([GOOD["uplinks"][0], dict(GOOD["uplinks"][1], name="LTE modem")], "is not a short lower-case name"),
    ([GOOD["uplinks"][0], dict(GOOD["uplinks"][1], interface="../etc")], "is not a network interface name"),
    ([GOOD["uplinks"][0], dict(GOOD["uplinks"][1], interface="averyveryverylongname")],
     "is not a network interface name"),
    ([GOOD["uplinks"][0], dict(GOOD["uplinks"][1], gateway="fe80::1")], "is not an IPv4 address"),
    ([GOOD["uplinks"][0], dict(GOOD["uplinks"][1], metric=5)], "unknown keys metric"),
    ([GOOD["uplinks"][0], "usb0"], "expected a mapping"),
])
def test_rejects_bad_uplinks(uplinks, message):
    assert message in error_of(changed(uplinks=uplinks))


@pytest.mark.parametrize("targets, message", [
    ([], "expected a list of 1 to 8 IPv4 addresses"),
    (["one.one.one.one"], "is not an IPv4 address"),
    (["127.0.0.1"], "cannot be probed through an uplink"),
    (["224.0.0.1"], "cannot be probed through an uplink"),
    (["192.168.1.1"], "is an uplink's gateway"),
    (["1.1.1.1", "1.1.1.1"], "listed twice"),
])
def test_rejects_bad_probe_targets(targets, message):
    assert message in error_of(changed(probe_targets=targets))


@pytest.mark.parametrize("changes, message", [
    ({"probe_timeout": 6}, "must not exceed probe_interval"),
    ({"probe_interval": 0}, "probe_interval: expected a number"),
    ({"probe_interval": "5"}, "probe_interval: expected a number"),
    ({"failures_before_down": 0}, "failures_before_down: expected an integer"),
    ({"failures_before_down": 2.5}, "failures_before_down: expected an integer"),
    ({"failures_before_down": True}, "failures_before_down: expected an integer"),
    ({"hold_time": -1}, "hold_time: expected a number"),
    ({"listen_port": 70000}, "listen_port: expected an integer"),
    ({"listen_address": "localhost"}, "is not an IP address"),
    ({"route_metric_demoted": 200}, "route_metric_demoted (200) must be above the last uplink's normal metric (200)"),
    ({"route_metric_base": 2 ** 32}, "route_metric_base: expected an integer"),
    ({"modem_command": "mmcli"}, "not an absolute path"),
    ({"probe_intervall": 5}, "unknown keys probe_intervall"),
])
def test_rejects_bad_settings(changes, message):
    assert message in error_of(changed(**changes))


def test_lists_every_problem_at_once():
    message = error_of(changed(probe_targets=["nope"], hold_time=-5, listen_port=0))
    assert "probe_targets" in message and "hold_time" in message and "listen_port" in message


def test_requires_uplinks_and_targets():
    assert "missing keys probe_targets, uplinks" in error_of({})
    assert "must be a JSON object" in error_of([])


def test_check_config_command(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD))
    assert lte_failover.main(["--check-config", "--config", str(good)]) == 0
    assert "is valid (uplinks wired=eth0, lte=usb0; probe targets 1.1.1.1, 9.9.9.9)" in capsys.readouterr().out

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(changed(probe_targets=["192.168.8.1"])))
    assert lte_failover.main(["--check-config", "--config", str(bad)]) == 2
    assert "is an uplink's gateway" in capsys.readouterr().err

    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert lte_failover.main(["--check-config", "--config", str(broken)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "missing.json"))
