from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

# SPDX-License-Identifier: GPL-3.0-or-later
"""Default routes: metrics per active uplink, `ip -j route` parsing, the
commands that move the traffic, and the read-back verification."""

import json

import pytest

from lte_failover import (Route, RouteError, RouteTable, adopt_active, desired_routes, parse_default_routes,
                          plan_route_changes, route_command, routes_in_sync, validate_config)
from lte_failover_fakes import FakeIp

CONFIG = validate_config({
    "uplinks": [{"name": "wired", "interface": "eth0", "gateway": "192.168.1.1"},
                {"name": "lte", "interface": "usb0", "gateway": "192.168.8.1"}],
    "probe_targets": ["1.1.1.1", "9.9.9.9"],
})
WIRED = Route("eth0", "192.168.1.1", 100)
WIRED_DEMOTED = Route("eth0", "192.168.1.1", 1000)
LTE = Route("usb0", "192.168.8.1", 200)
DOCKER = Route("docker0", "172.17.0.1", 0)

# `ip -4 -j route show default` on a Pi on wired, with a stray DHCP route and a multipath route.
IP_OUTPUT = json.dumps([
    {"dst": "default", "gateway": "192.168.1.1", "dev": "eth0", "protocol": "static", "metric": 100, "flags": []},
    {"dst": "default", "gateway": "192.168.8.1", "dev": "usb0", "protocol": "static", "metric": 200,
     "flags": ["linkdown"]},
    {"dst": "default", "gateway": "172.17.0.1", "dev": "docker0", "flags": []},
    {"dst": "default", "protocol": "static", "metric": 50, "flags": [],
     "nexthops": [{"gateway": "10.0.0.1", "dev": "eth1", "weight": 1}]},
    {"type": "unreachable", "dst": "default", "dev": "lo", "metric": 4278198272, "flags": []},
])


def test_parses_default_routes():
    assert parse_default_routes(IP_OUTPUT) == [WIRED, LTE, DOCKER]


def test_parses_an_empty_table_and_a_gatewayless_route():
    assert parse_default_routes("") == []
    assert parse_default_routes("[]\n") == []
    ptp = json.dumps([{"dst": "default", "dev": "wwan0", "protocol": "static", "metric": 200, "flags": []}])
    assert parse_default_routes(ptp) == [Route("wwan0", None, 200)]


def test_refuses_garbage():
    with pytest.raises(RouteError):
        parse_default_routes("Error: ipv4: FIB table does not exist.")
    with pytest.raises(RouteError):
        parse_default_routes('{"dst": "default"}')


def test_metrics_move_by_active_uplink():
    assert desired_routes(CONFIG, "wired") == [WIRED, LTE]
    assert desired_routes(CONFIG, "lte") == [WIRED_DEMOTED, LTE]


def test_three_uplinks_demote_only_those_above_the_active_one():
    config = validate_config({
        "uplinks": [{"name": "wired", "interface": "eth0", "gateway": "192.168.1.1"},
                    {"name": "lte", "interface": "usb0", "gateway": "192.168.8.1"},
                    {"name": "wifi", "interface": "wlan0", "gateway": "192.168.2.1"}],
        "probe_targets": ["1.1.1.1"],
    })
    assert [route.metric for route in desired_routes(config, "wired")] == [100, 200, 300]
    assert [route.metric for route in desired_routes(config, "lte")] == [1000, 200, 300]
    assert [route.metric for route in desired_routes(config, "wifi")] == [1000, 1001, 300]
    for active in ("wired", "lte", "wifi"):
        routes = desired_routes(config, active)
        assert min(routes, key=lambda route: route.metric).dev == config.uplinks[config.index_of(active)].interface


def test_route_commands():
    assert route_command("add", WIRED) == ["-4", "route", "add", "default", "via", "192.168.1.1", "dev", "eth0",
                                           "metric", "100", "proto", "static"]
    assert route_command("del", Route("wwan0", None, 1001)) == ["-4", "route", "del", "default", "dev", "wwan0",
                                                                "metric", "1001"]


def test_nothing_to_do_when_in_sync():
    assert plan_route_changes([WIRED, LTE, DOCKER], [WIRED, LTE]) == ([], [])
    assert routes_in_sync([WIRED, LTE, DOCKER], [WIRED, LTE])


def test_failover_adds_the_demoted_route_before_deleting_the_primary_one():
    commands, problems = plan_route_changes([WIRED, LTE], [WIRED_DEMOTED, LTE])
    assert problems == []
    assert commands == [route_command("add", WIRED_DEMOTED), route_command("del", WIRED)]


def test_failback_restores_the_primary_route_and_keeps_the_backup():
    commands, _problems = plan_route_changes([WIRED_DEMOTED, LTE], [WIRED, LTE])
    assert commands == [route_command("add", WIRED), route_command("del", WIRED_DEMOTED)]
    # The LTE route is never touched (it stays the backup at 200).
    assert not any("usb0" in command for command in commands)


def test_missing_routes_are_added_and_foreign_ones_on_our_devices_deleted():
    stray = Route("eth0", "192.168.1.254", 50)  # a DHCP client's route on the wired interface
    commands, _problems = plan_route_changes([stray, DOCKER], [WIRED, LTE])
    assert commands == [route_command("add", WIRED), route_command("add", LTE), route_command("del", stray)]


def test_a_changed_gateway_on_the_same_metric_is_deleted_first():
    old = Route("eth0", "192.168.1.254", 100)
    commands, _problems = plan_route_changes([old, LTE], [WIRED, LTE])
    assert commands == [route_command("del", old), route_command("add", WIRED)]


def test_never_touches_other_interfaces_and_reports_a_taken_metric():
    taken = Route("docker0", "172.17.0.1", 200)
    commands, problems = plan_route_changes([WIRED, taken], [WIRED, LTE])
    assert commands == []
    assert problems == ["metric 200 of usb0 is taken by 'default via 172.17.0.1 dev docker0 metric 200'; "
                        "choose other route metrics"]


def test_in_sync_needs_exactly_the_wanted_routes_on_our_devices():
    assert not routes_in_sync([WIRED], [WIRED, LTE])
    assert not routes_in_sync([WIRED, WIRED_DEMOTED, LTE], [WIRED, LTE])
    assert not routes_in_sync([WIRED_DEMOTED, LTE], [WIRED, LTE])


def test_adopts_the_active_uplink_from_the_routes():
    assert adopt_active(CONFIG, [WIRED, LTE, DOCKER]) == "wired"
    assert adopt_active(CONFIG, [WIRED_DEMOTED, LTE, DOCKER]) == "lte"
    # Wired's route gone with its link, LTE in its normal place: on LTE.
    assert adopt_active(CONFIG, [LTE]) == "lte"
    # Nothing of ours (fresh boot): the primary.
    assert adopt_active(CONFIG, [DOCKER]) == "wired"
    assert adopt_active(CONFIG, []) == "wired"


def test_reconcile_applies_and_verifies():
    ip = FakeIp([WIRED, LTE, DOCKER])
    table = RouteTable("/usr/sbin/ip", run=ip)
    result = table.reconcile([WIRED_DEMOTED, LTE])
    assert result.in_sync and result.errors == []
    assert ip.routes == [LTE, DOCKER, WIRED_DEMOTED]
    assert result.applied == ["ip -4 route add default via 192.168.1.1 dev eth0 metric 1000 proto static",
                              "ip -4 route del default via 192.168.1.1 dev eth0 metric 100"]
    # Read, apply, read back.
    assert ip.calls[0][:2] == ["-4", "-j"] and ip.calls[-1][:2] == ["-4", "-j"]
    # Idempotent: a second pass only reads.
    ip.calls.clear()
    again = table.reconcile([WIRED_DEMOTED, LTE])
    assert again.in_sync and again.applied == [] and len(ip.calls) == 1


def test_reconcile_keeps_going_when_one_uplink_cannot_be_routed():
    ip = FakeIp([WIRED], fail={"usb0": "Cannot find device \"usb0\""})
    result = RouteTable("/usr/sbin/ip", run=ip).reconcile([WIRED, LTE])
    assert not result.in_sync
    assert result.errors == ['ip -4 route add default via 192.168.8.1 dev usb0 metric 200 proto static: '
                             'Cannot find device "usb0"']
    assert ip.routes == [WIRED]


def test_reconcile_reports_a_hung_ip():
    ip = FakeIp([WIRED], fail={"-j": "timeout"})
    result = RouteTable("/usr/sbin/ip", run=ip, timeout=5).reconcile([WIRED, LTE])
    assert not result.in_sync
    assert result.errors == ["ip -4 -j route show default: no answer within 5 s"]


def test_a_metric_clash_is_refused_never_clobbered():
    """Why the daemon never uses `ip route replace`: the kernel keys IPv4
    routes on prefix + metric, so a replace would delete the wired route;
    `add` is refused instead (the fake mirrors the kernel) and reported."""
    ip = FakeIp([WIRED])
    result = RouteTable("/usr/sbin/ip", run=ip).reconcile([WIRED, Route("usb0", "192.168.8.1", 100)])
    assert WIRED in ip.routes
    assert not result.in_sync
    assert "File exists" in result.errors[0]
