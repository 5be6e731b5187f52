from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

# SPDX-License-Identifier: GPL-3.0-or-later
"""The daemon end to end on fakes (probes, `ip`, clocks), its metrics and
status, the LTE modem reading, and its HTTP endpoint on a loopback port."""

import dataclasses
import json
import subprocess
import urllib.error
import urllib.request

import pytest

from lte_failover import (Daemon, ModemStatus, ProbeResult, Route, RouteTable, parse_mmcli, read_interface_counters,
                          read_modem, render_metrics, validate_config)
from lte_failover_fakes import FakeIp

CONFIG = validate_config({
    "uplinks": [{"name": "wired", "interface": "eth0", "gateway": "192.168.1.1"},
                {"name": "lte", "interface": "usb0", "gateway": "192.168.8.1"}],
    "probe_targets": ["1.1.1.1", "9.9.9.9"],
    "probe_interval": 1, "probe_timeout": 1, "failures_before_down": 2, "hold_time": 5,
})
WIRED = Route("eth0", "192.168.1.1", 100)
WIRED_DEMOTED = Route("eth0", "192.168.1.1", 1000)
LTE = Route("usb0", "192.168.8.1", 200)

MMCLI_JSON = json.dumps({"modem": {
    "3gpp": {"operator-name": "Molecule Mobile", "registration-state": "home"},
    "generic": {"access-technologies": ["lte"], "signal-quality": {"recent": "yes", "value": "75"},
                "state": "connected", "state-failed-reason": "--"}}})


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


class FakeProber:
    def __init__(self):
        self.up = {"wired": True, "lte": True}

    def probe(self, uplinks, targets):
        assert targets == ("1.1.1.1", "9.9.9.9")
        return {uplink.name: ProbeResult(self.up[uplink.name], 0.02 if self.up[uplink.name] else 1.0,
                                         "" if self.up[uplink.name] else "no answer within 1 s")
                for uplink in uplinks}


@pytest.fixture
def rig():
    clock, wall, prober, ip = Clock(), Clock(1.7e9), FakeProber(), FakeIp([])
    daemon = Daemon(CONFIG, prober=prober, routes=RouteTable("/usr/sbin/ip", run=ip), clock=clock, wall=wall,
                    counters_reader=lambda interface: (1000, 2000) if interface == "eth0" else None)

    def rounds(count):
        for _round in range(count):
            daemon.run_round()
            clock.now += 1
            wall.now += 1
    return daemon, prober, ip, rounds


def metric_lines(daemon):
    return [line for line in daemon.metrics().splitlines() if not line.startswith("#")]


def test_installs_both_routes_on_start_and_stays_on_wired(rig):
    daemon, _prober, ip, rounds = rig
    daemon.adopt()
    assert ip.routes == [WIRED, LTE]
    rounds(10)
    status = daemon.status()
    assert status["active"] == "wired" and status["switches"] == 0 and status["routes_in_sync"]
    assert [uplink["healthy"] for uplink in status["uplinks"]] == [True, True]


def test_fails_over_and_back_moving_only_the_metrics(rig):
    daemon, prober, ip, rounds = rig
    daemon.adopt()
    rounds(3)
    prober.up["wired"] = False
    rounds(2)
    assert daemon.status()["active"] == "lte"
    assert sorted(ip.routes, key=lambda route: route.metric) == [LTE, WIRED_DEMOTED]
    last = daemon.status()["last_switch"]
    assert (last["from"], last["to"], last["timestamp"]) == ("wired", "lte", 1.7e9 + 4)

    prober.up["wired"] = True
    rounds(5)  # healthy for 0..4 s: not yet
    assert daemon.status()["active"] == "lte"
    rounds(1)  # 5 s: hold time reached
    assert daemon.status()["active"] == "wired"
    assert sorted(ip.routes, key=lambda route: route.metric) == [WIRED, LTE]
    assert daemon.status()["switches"] == 2


def test_a_restart_on_lte_stays_on_lte(rig):
    daemon, _prober, ip, rounds = rig
    ip.routes = [WIRED_DEMOTED, LTE]
    daemon.adopt()
    assert daemon.status()["active"] == "lte"
    assert ip.calls == [["-4", "-j", "route", "show", "default"]] * 2  # adopt + reconcile: nothing to change
    rounds(5)
    assert daemon.status()["active"] == "lte"
    rounds(1)
    assert daemon.status()["active"] == "wired"


def test_puts_back_a_route_removed_behind_its_back(rig):
    daemon, _prober, ip, rounds = rig
    daemon.adopt()
    ip.routes.remove(LTE)
    ip.routes.append(Route("eth0", "192.168.1.254", 50))  # a DHCP client's
    rounds(1)
    assert sorted(ip.routes, key=lambda route: route.metric) == [WIRED, LTE]


def test_route_errors_are_counted_and_reported_out_of_sync(rig):
    daemon, _prober, ip, rounds = rig
    ip.fail = {"usb0": 'Cannot find device "usb0"'}
    daemon.adopt()
    rounds(2)
    status = daemon.status()
    assert not status["routes_in_sync"]
    assert status["route_errors"] == 3
    assert "lte_failover_routes_in_sync 0" in metric_lines(daemon)


def test_metrics(rig):
    daemon, prober, _ip, rounds = rig
    daemon.adopt()
    rounds(2)
    prober.up["wired"] = False
    rounds(2)
    lines = metric_lines(daemon)
    for line in [
        'lte_failover_active_uplink{uplink="wired",interface="eth0"} 0',
        'lte_failover_active_uplink{uplink="lte",interface="usb0"} 1',
        'lte_failover_uplink_healthy{uplink="wired",interface="eth0"} 0',
        'lte_failover_uplink_healthy{uplink="lte",interface="usb0"} 1',
        'lte_failover_uplink_consecutive_failures{uplink="wired",interface="eth0"} 2',
        'lte_failover_uplink_stable_seconds{uplink="wired",interface="eth0"} 0.0',
        'lte_failover_uplink_stable_seconds{uplink="lte",interface="usb0"} 4.0',
        'lte_failover_probe_duration_seconds{uplink="wired",interface="eth0"} 1.0',
        'lte_failover_probe_duration_seconds{uplink="lte",interface="usb0"} 0.02',
        'lte_failover_probes_total{uplink="wired",interface="eth0",result="ok"} 2',
        'lte_failover_probes_total{uplink="wired",interface="eth0",result="failed"} 2',
        'lte_failover_uplink_route_metric{uplink="wired",interface="eth0"} 1000',
        'lte_failover_uplink_route_metric{uplink="lte",interface="usb0"} 200',
        'lte_failover_uplink_receive_bytes_total{uplink="wired",interface="eth0"} 1000',
        'lte_failover_uplink_transmit_bytes_total{uplink="wired",interface="eth0"} 2000',
        'lte_failover_switches_total 1',
        'lte_failover_last_switch_timestamp_seconds 1700000003.0',
        'lte_failover_all_uplinks_down 0',
        'lte_failover_routes_in_sync 1',
        'lte_failover_hold_time_seconds 5.0',
    ]:
        assert line in lines
    # usb0 has no counters (interface absent): no sample rather than a fake 0.
    assert not any(line.startswith('lte_failover_uplink_receive_bytes_total{uplink="lte"') for line in lines)
    assert not any(line.startswith("lte_failover_modem") for line in lines)
    text = daemon.metrics()
    assert "# TYPE lte_failover_switches_total counter" in text
    assert "# TYPE lte_failover_active_uplink gauge" in text


def test_metrics_before_any_switch_and_label_escaping():
    status = {
        "active": "wired", "switches": 0, "last_switch": None, "all_down": False, "routes_in_sync": True,
        "route_errors": 0, "hold_time": 60.0, "last_round": None,
        "uplinks": [{"name": "wired", "interface": "eth0", "healthy": None, "consecutive_failures": 0,
                     "stable_seconds": 0.0, "last_probe_duration": 0.0, "probes": {"ok": 0, "failed": 0},
                     "route_metric": 100}],
        "modem": dataclasses.asdict(ModemStatus(True, 75.0, "connected", "lte", 'Say "hi"\\now')),
    }
    lines = render_metrics(status).splitlines()
    assert "lte_failover_last_switch_timestamp_seconds 0" in lines
    assert 'lte_failover_uplink_healthy{uplink="wired",interface="eth0"} 0' in lines
    assert "lte_failover_modem_present 1" in lines
    assert "lte_failover_modem_signal_quality_percent 75.0" in lines
    assert ('lte_failover_modem_info{state="connected",access_technology="lte",operator="Say \\"hi\\"\\\\now"} 1'
            in lines)


def test_parses_mmcli():
    assert parse_mmcli(MMCLI_JSON) == ModemStatus(True, 75.0, "connected", "lte", "Molecule Mobile")
    unknown = json.dumps({"modem": {"generic": {"signal-quality": {"value": "--"}, "state": "searching",
                                                "access-technologies": []}, "3gpp": {"operator-name": "--"}}})
    assert parse_mmcli(unknown) == ModemStatus(True, None, "searching", "", "")
    assert parse_mmcli("[]").present is False
    assert "cannot parse" in parse_mmcli("error: couldn't find modem").error


def test_reads_the_modem_with_a_timeout():
    def run(argv, **kwargs):
        assert argv == ["/usr/bin/mmcli", "-m", "any", "-J"] and kwargs["timeout"] == 15
        return subprocess.CompletedProcess(argv, 0, MMCLI_JSON, "")
    assert read_modem("/usr/bin/mmcli", run=run).signal_quality == 75.0

    def no_modem(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 1, "", "error: couldn't find modem\n")
    assert read_modem("/usr/bin/mmcli", run=no_modem) == ModemStatus(False, error="error: couldn't find modem")

    def hung(argv, **kwargs):
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])
    assert read_modem("/usr/bin/mmcli", run=hung).error == "mmcli: no answer within 15 s"


def test_reads_interface_counters(tmp_path):
    stats = tmp_path / "eth0" / "statistics"
    stats.mkdir(parents=True)
    (stats / "rx_bytes").write_text("123\n")
    (stats / "tx_bytes").write_text("456\n")
    assert read_interface_counters("eth0", str(tmp_path)) == (123, 456)
    assert read_interface_counters("usb0", str(tmp_path)) is None


def test_http_endpoint(rig):
    daemon, _prober, _ip, _rounds = rig
    daemon.config = dataclasses.replace(CONFIG, listen_port=0)
    daemon.start()
    try:
        port = daemon._server.server_address[1]
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert "lte_failover_switches_total 0" in answer.read().decode()
        with urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=5) as answer:
            assert json.load(answer)["active"] == "wired"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen("http://127.0.0.1:%d/nope" % port, timeout=5)
        assert info.value.code == 404
    finally:
        daemon.stop()
