# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Uplink failover of a signer host: the wired uplink first, LTE as backup.

Started by systemd as root (capabilities CAP_NET_ADMIN and CAP_NET_RAW only)::

    /usr/bin/python3 /usr/local/lib/tezos-bakery/lte_failover.py --config /etc/tezos-bakery/lte-failover.json

Standard library only (Debian bookworm's python3.11 on a Raspberry Pi).

How it works
------------
* Every uplink (in priority order: wired, then LTE, ...) always keeps a
  default route in the main table. Only the metrics move: the active uplink
  and the ones after it keep their normal metric (``route_metric_base +
  index * route_metric_step``, e.g. 100, 200); an uplink ranked above the
  active one is *demoted* to ``route_metric_demoted + index`` (e.g. 1000).
  The lowest metric wins, so the kernel sends traffic through the active
  uplink, and every uplink stays reachable for its own probes.
* Probes are ICMP echo requests sent from a raw socket bound to the
  uplink's interface (SO_BINDTODEVICE, needs CAP_NET_RAW): they leave
  through that interface whatever the active route, using its own default
  route. All targets of all uplinks are probed at once; one answering target
  makes the uplink's probe a success. No process is spawned per probe (cheap
  on a Pi, and the measured duration is the round trip, not a fork).
* The decision is the pure state machine :class:`FailoverMachine`: an
  uplink is *down* after ``failures_before_down`` failed probes in a row and
  *up* again after one answered probe. When the active uplink is down the
  daemon switches to the first uplink, in priority order, that is up and
  answered its last probe. It fails back to a higher-priority uplink only
  once that uplink has answered *every* probe for ``hold_time`` seconds (a
  single failure restarts the clock: a flapping line never takes the
  traffic back). When every uplink is down it keeps the current one.
* Routes are reconciled with the kernel every round (``ip -j route show
  default`` is read, only the differences are applied, then read again to
  verify), so a route removed by a link flap or a DHCP client is put back.
  Changes use ``ip route add`` then ``ip route del`` with the full
  (gateway, device, metric) key, never ``ip route replace``: IPv4 keys a
  route on prefix + metric only, so ``replace default via <lte> metric 100``
  silently deletes the *wired* route that had metric 100 (the class of bug
  that once failed a failover script back to the wrong route). Default
  routes of the uplink interfaces other than the wanted ones are deleted:
  tell the DHCP client / NetworkManager not to install default routes on
  them. Routes of other interfaces are never touched.
* On start the active uplink is read back from the routes (the first uplink
  holding its normal metric), so a restart while on LTE stays on LTE and
  the wired uplink still has to prove itself for ``hold_time``. On stop the
  routes are left as they are.

``GET /metrics`` (Prometheus text format 0.0.4) and ``GET /status`` (JSON)
on ``listen_address:listen_port`` (loopback) expose the active uplink, each
uplink's health, probe durations, traffic counters, the switch count and
when the last switch happened, plus, when ModemManager's ``mmcli`` is
installed, the LTE modem's signal quality and registration.

``--check-config --config FILE`` validates a configuration and exits;
``--probe-once`` probes every uplink once and prints the result without
touching any route.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import argparse
import dataclasses
import ipaddress
import json
import logging
import os
import random
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Optional, Tuple

LOG = logging.getLogger("lte_failover")

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds an ``ip`` command may take before it is killed.
COMMAND_TIMEOUT = 5.0
#: Seconds ``mmcli`` may take (ModemManager can be slow while the modem resets).
MODEM_COMMAND_TIMEOUT = 15.0
#: Where ``ip`` is looked for (the service's PATH is not relied upon).
IP_SEARCH_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
#: Linux route metrics are 32-bit unsigned.
MAX_ROUTE_METRIC = 2 ** 32 - 1
MAX_UPLINKS = 8
MAX_TARGETS = 8

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# IFNAMSIZ is 16 with the terminating NUL; no "/" or blanks.
INTERFACE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""


@dataclasses.dataclass(frozen=True)
class Uplink:
    name: str
    interface: str
    # None: a point-to-point interface (e.g. wwan0 in raw-IP mode), the
    # default route is "dev <interface>" without a gateway.
    gateway: Optional[str]


@dataclasses.dataclass(frozen=True)
class Config:
    uplinks: Tuple[Uplink, ...]
    probe_targets: Tuple[str, ...]
    probe_interval: float
    probe_timeout: float
    failures_before_down: int
    hold_time: float
    listen_address: str
    listen_port: int
    route_metric_base: int
    route_metric_step: int
    route_metric_demoted: int
    modem_command: str
    modem_interval: float

    def index_of(self, name):
        for index, uplink in enumerate(self.uplinks):
            if uplink.name == name:
                return index
        raise KeyError(name)


CONFIG_KEYS = {
    "uplinks", "probe_targets", "probe_interval", "probe_timeout", "failures_before_down", "hold_time",
    "listen_address", "listen_port", "route_metric_base", "route_metric_step", "route_metric_demoted",
    "modem_command", "modem_interval",
}
UPLINK_KEYS = {"name", "interface", "gateway"}


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _ipv4(value):
    """The IPv4 address in ``value`` as a string, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        return None


def _check_uplinks(raw, errors):
    uplinks = []
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_UPLINKS:
        errors.append("uplinks: expected a list of 2 to %d uplinks in priority order" % MAX_UPLINKS)
        return uplinks
    for index, item in enumerate(raw):
        where = "uplinks[%d]" % index
        if not isinstance(item, dict):
            errors.append("%s: expected a mapping with name, interface and gateway" % where)
            continue
        unknown = sorted(set(item) - UPLINK_KEYS)
        if unknown:
            errors.append("%s: unknown keys %s" % (where, ", ".join(unknown)))
        name, interface, gateway = item.get("name"), item.get("interface"), item.get("gateway")
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append("%s.name: %r is not a short lower-case name ([a-z][a-z0-9_-]*)" % (where, name))
            continue
        if not isinstance(interface, str) or not INTERFACE_RE.match(interface):
            errors.append("%s.interface: %r is not a network interface name" % (where, interface))
            continue
        if gateway in (None, ""):
            gateway = None
        elif _ipv4(gateway) is None:
            errors.append("%s.gateway: %r is not an IPv4 address (leave it empty for a point-to-point link)"
                          % (where, gateway))
            continue
        else:
            gateway = _ipv4(gateway)
        uplinks.append(Uplink(name=name, interface=interface, gateway=gateway))
    for attribute in ("name", "interface"):
        values = [getattr(uplink, attribute) for uplink in uplinks]
        duplicates = sorted({value for value in values if values.count(value) > 1})
        if duplicates:
            errors.append("uplinks: duplicate %s %s" % (attribute, ", ".join(duplicates)))
    return uplinks


def _check_targets(raw, uplinks, errors):
    targets = []
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_TARGETS:
        errors.append("probe_targets: expected a list of 1 to %d IPv4 addresses" % MAX_TARGETS)
        return targets
    gateways = {uplink.gateway for uplink in uplinks if uplink.gateway}
    for item in raw:
        address = _ipv4(item)
        if address is None:
            errors.append("probe_targets: %r is not an IPv4 address" % (item,))
            continue
        parsed = ipaddress.IPv4Address(address)
        if parsed.is_loopback or parsed.is_unspecified or parsed.is_multicast or parsed == ipaddress.IPv4Address(
                "255.255.255.255"):
            errors.append("probe_targets: %s cannot be probed through an uplink" % address)
            continue
        if address in gateways:
            errors.append("probe_targets: %s is an uplink's gateway; it answers even when the internet behind it "
                          "is down, probe addresses beyond it" % address)
            continue
        if address in targets:
            errors.append("probe_targets: %s is listed twice" % address)
            continue
        targets.append(address)
    return targets


def validate_config(raw):
    """A :class:`Config` from the decoded JSON ``raw``; ConfigError lists every problem."""
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a JSON object")
    errors = []
    unknown = sorted(set(raw) - CONFIG_KEYS)
    if unknown:
        errors.append("unknown keys %s" % ", ".join(unknown))
    missing = sorted({"uplinks", "probe_targets"} - set(raw))
    if missing:
        errors.append("missing keys %s" % ", ".join(missing))
    uplinks = _check_uplinks(raw.get("uplinks"), errors)
    targets = _check_targets(raw.get("probe_targets"), uplinks, errors)

    def number(key, default, minimum, maximum, integer=False):
        value = raw.get(key, default)
        valid = _is_int(value) if integer else _is_number(value)
        if not valid or not minimum <= value <= maximum:
            errors.append("%s: expected %s from %s to %s, got %r"
                          % (key, "an integer" if integer else "a number", minimum, maximum, value))
            return default
        return value

    interval = number("probe_interval", 5, 0.2, 3600)
    timeout = number("probe_timeout", 2, 0.05, 3600)
    if timeout > interval:
        errors.append("probe_timeout (%s) must not exceed probe_interval (%s)" % (timeout, interval))
    failures = number("failures_before_down", 3, 1, 100, integer=True)
    hold_time = number("hold_time", 60, 0, 86400)
    port = number("listen_port", 9102, 1, 65535, integer=True)
    base = number("route_metric_base", 100, 1, MAX_ROUTE_METRIC, integer=True)
    step = number("route_metric_step", 100, 1, MAX_ROUTE_METRIC, integer=True)
    demoted = number("route_metric_demoted", 1000, 1, MAX_ROUTE_METRIC, integer=True)
    count = max(len(uplinks), 1)
    if base + step * (count - 1) >= demoted:
        errors.append("route_metric_demoted (%s) must be above the last uplink's normal metric (%s)"
                      % (demoted, base + step * (count - 1)))
    if demoted + count - 1 > MAX_ROUTE_METRIC or base + step * (count - 1) > MAX_ROUTE_METRIC:
        errors.append("route metrics exceed %d" % MAX_ROUTE_METRIC)
    modem_interval = number("modem_interval", 60, 1, 86400)

    listen_address = raw.get("listen_address", "127.0.0.1")
    try:
        listen_address = str(ipaddress.ip_address(listen_address))
    except ValueError:
        errors.append("listen_address: %r is not an IP address" % (listen_address,))
    modem_command = raw.get("modem_command", "")
    if not isinstance(modem_command, str) or (modem_command and not os.path.isabs(modem_command)):
        errors.append("modem_command: %r is not an absolute path (empty to disable modem metrics)"
                      % (modem_command,))

    if errors:
        raise ConfigError("; ".join(errors))
    return Config(
        uplinks=tuple(uplinks), probe_targets=tuple(targets), probe_interval=float(interval),
        probe_timeout=float(timeout), failures_before_down=failures, hold_time=float(hold_time),
        listen_address=listen_address, listen_port=port, route_metric_base=base, route_metric_step=step,
        route_metric_demoted=demoted, modem_command=modem_command, modem_interval=float(modem_interval))


def load_config(path):
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except OSError as exc:
        raise ConfigError("cannot read %s: %s" % (path, exc.strerror or exc))
    except ValueError as exc:
        raise ConfigError("%s is not valid JSON: %s" % (path, exc))
    return validate_config(raw)


# ---------------------------------------------------------------------------
# Decision: a pure state machine (time is passed in)
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class UplinkHealth:
    #: None until the first verdict, then True (up) / False (down).
    up: Optional[bool] = None
    consecutive_failures: int = 0
    #: Monotonic time of the first answered probe of the current unbroken
    #: run of answered probes; None when the last probe failed.
    stable_since: Optional[float] = None
    last_probe_ok: Optional[bool] = None


@dataclasses.dataclass(frozen=True)
class Switch:
    old: str
    new: str
    reason: str


class FailoverMachine:
    """Which uplink carries the traffic, from probe results only.

    ``names`` is the priority order. Nothing here reads a clock or touches
    the system: ``now`` is a monotonic time passed by the caller.
    """

    def __init__(self, names, failures_before_down, hold_time, active=None):
        if len(names) < 1 or len(set(names)) != len(names):
            raise ValueError("uplink names must be unique and non-empty")
        self.names = tuple(names)
        self.failures_before_down = failures_before_down
        self.hold_time = hold_time
        self.active = active if active is not None else self.names[0]
        if self.active not in self.names:
            raise ValueError("unknown active uplink %r" % self.active)
        self.health = {name: UplinkHealth() for name in self.names}
        self.switches = 0
        self.all_down = False

    def observe(self, name, ok, now):
        """Record one probe result; returns "up"/"down" when the verdict changed."""
        health = self.health[name]
        health.last_probe_ok = ok
        if ok:
            health.consecutive_failures = 0
            if health.stable_since is None:
                health.stable_since = now
            if health.up is not True:
                health.up = True
                return "up"
            return None
        health.consecutive_failures += 1
        health.stable_since = None
        if health.consecutive_failures >= self.failures_before_down and health.up is not False:
            health.up = False
            return "down"
        return None

    def stable_for(self, name, now):
        """Seconds the uplink has answered every probe (0 when the last one failed)."""
        since = self.health[name].stable_since
        return 0.0 if since is None else max(0.0, now - since)

    def decide(self, now):
        """The switch to make now, or None to stay on the active uplink."""
        active = self.active
        if self.health[active].up is False:
            for name in self.names:
                health = self.health[name]
                if name != active and health.up is True and health.last_probe_ok:
                    failures = self.health[active].consecutive_failures
                    return Switch(active, name, "%s is down (%d probes in a row unanswered), %s answers"
                                  % (active, failures, name))
            return None
        for name in self.names[:self.names.index(active)]:
            health = self.health[name]
            if health.up is True and health.stable_since is not None and now - health.stable_since >= self.hold_time:
                return Switch(active, name, "%s has answered every probe for %.0f s (hold time %g s)"
                              % (name, now - health.stable_since, self.hold_time))
        return None

    def step(self, results, now):
        """Record one round of probe results ({name: ok}) and switch if needed.

        Returns (switch or None, {name: "up"/"down"} verdict changes).
        """
        changes = {}
        for name in self.names:
            if name in results:
                change = self.observe(name, results[name], now)
                if change:
                    changes[name] = change
        switch = self.decide(now)
        if switch is not None:
            self.active = switch.new
            self.switches += 1
        self.all_down = all(health.up is False for health in self.health.values())
        return switch, changes


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------

class RouteError(Exception):
    """An ``ip`` command failed or its output could not be read."""


@dataclasses.dataclass(frozen=True)
class Route:
    dev: str
    gateway: Optional[str]
    metric: int

    def describe(self):
        via = "via %s " % self.gateway if self.gateway else ""
        return "default %sdev %s metric %d" % (via, self.dev, self.metric)


def route_metric(config, index, active_index):
    """Metric of uplink ``index`` while uplink ``active_index`` is active."""
    if index < active_index:
        return config.route_metric_demoted + index
    return config.route_metric_base + index * config.route_metric_step


def desired_routes(config, active_name):
    active_index = config.index_of(active_name)
    return [Route(uplink.interface, uplink.gateway, route_metric(config, index, active_index))
            for index, uplink in enumerate(config.uplinks)]


def parse_default_routes(text):
    """IPv4 default routes of the main table from ``ip -4 -j route show default``."""
    try:
        data = json.loads(text) if text.strip() else []
    except ValueError as exc:
        raise RouteError("cannot parse ip's JSON output: %s" % exc)
    if not isinstance(data, list):
        raise RouteError("unexpected ip JSON output: %r" % (data,))
    routes = []
    for item in data:
        if not isinstance(item, dict) or item.get("dst") != "default" or not item.get("dev"):
            continue  # multipath routes (no single dev) are not ours
        if item.get("type", "unicast") != "unicast":
            continue
        metric = item.get("metric", 0)
        routes.append(Route(item["dev"], item.get("gateway") or None, int(metric) if _is_int(metric) else 0))
    return routes


def adopt_active(config, routes):
    """The active uplink as the routes show it (restart safety), else the first one."""
    for index, uplink in enumerate(config.uplinks):
        normal = Route(uplink.interface, uplink.gateway, route_metric(config, index, index))
        if normal in routes:
            return uplink.name
    return config.uplinks[0].name


def route_command(action, route):
    command = ["-4", "route", action, "default"]
    if route.gateway:
        command += ["via", route.gateway]
    command += ["dev", route.dev, "metric", str(route.metric)]
    if action == "add":
        command += ["proto", "static"]
    return command


def plan_route_changes(actual, desired):
    """``ip`` argument lists turning the ``actual`` routes into the ``desired`` ones.

    Only default routes on the desired routes' devices are touched: missing
    ones are added first (so traffic never lacks a route), then the others on
    those devices are deleted. A stale route on the same device *and* metric
    (a changed gateway) must go before the add: the kernel refuses two IPv4
    default routes with the same metric.
    Returns (commands, problems); a problem is a metric already taken by a
    route of another device, which ``ip route add`` would refuse.
    """
    devices = {route.dev for route in desired}
    first, adds, last, problems = [], [], [], []
    for want in desired:
        on_device = [route for route in actual if route.dev == want.dev]
        extras = [route for route in on_device if route != want]
        if want not in on_device:
            taken = [route for route in actual if route.metric == want.metric and route.dev not in devices]
            if taken:
                problems.append("metric %d of %s is taken by '%s'; choose other route metrics"
                                % (want.metric, want.dev, taken[0].describe()))
                last.extend(extras)
                continue
            clashes = [route for route in extras if route.metric == want.metric]
            first.extend(clashes)
            adds.append(want)
            extras = [route for route in extras if route not in clashes]
        last.extend(extras)
    commands = ([route_command("del", route) for route in first] + [route_command("add", route) for route in adds]
                + [route_command("del", route) for route in last])
    return commands, problems


def routes_in_sync(actual, desired):
    devices = {route.dev for route in desired}
    ours = sorted((route for route in actual if route.dev in devices), key=lambda route: route.metric)
    return ours == sorted(desired, key=lambda route: route.metric)


@dataclasses.dataclass
class ReconcileResult:
    in_sync: bool
    applied: List[str]
    errors: List[str]
    routes: List[Route]


class RouteTable:
    """The kernel's IPv4 main table, through iproute2 (subprocess, with a timeout)."""

    def __init__(self, ip_command=None, run=subprocess.run, timeout=COMMAND_TIMEOUT):
        self.ip_command = ip_command or shutil.which("ip", path=IP_SEARCH_PATH) or "/usr/sbin/ip"
        self._run = run
        self.timeout = timeout

    def _ip(self, args):
        try:
            done = self._run([self.ip_command] + list(args), capture_output=True, text=True, timeout=self.timeout,
                             check=False)
        except subprocess.TimeoutExpired:
            raise RouteError("ip %s: no answer within %g s" % (" ".join(args), self.timeout))
        except OSError as exc:
            raise RouteError("cannot run %s: %s" % (self.ip_command, exc.strerror or exc))
        if done.returncode != 0:
            message = (done.stderr or done.stdout or "").strip().splitlines()
            raise RouteError("ip %s: %s" % (" ".join(args), message[-1] if message else "exit %d" % done.returncode))
        return done.stdout

    def read(self):
        return parse_default_routes(self._ip(["-4", "-j", "route", "show", "default"]))

    def reconcile(self, desired):
        """Apply the differences, then read the table back to verify."""
        errors, applied = [], []
        try:
            actual = self.read()
        except RouteError as exc:
            return ReconcileResult(False, [], [str(exc)], [])
        commands, problems = plan_route_changes(actual, desired)
        errors.extend(problems)
        for args in commands:
            try:
                self._ip(args)
                applied.append("ip " + " ".join(args))
            except RouteError as exc:
                # e.g. a missing interface (LTE modem unplugged) or a link
                # without its address yet: retried on the next round.
                errors.append(str(exc))
        if commands:
            try:
                actual = self.read()
            except RouteError as exc:
                return ReconcileResult(False, applied, errors + [str(exc)], [])
        return ReconcileResult(routes_in_sync(actual, desired), applied, errors, actual)


# ---------------------------------------------------------------------------
# Probes: ICMP echo from a raw socket bound to the uplink's interface
# ---------------------------------------------------------------------------

def icmp_checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_echo_request(ident, seq, payload):
    header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    checksum = icmp_checksum(header + payload)
    return struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, checksum, ident, seq) + payload


@dataclasses.dataclass(frozen=True)
class EchoReply:
    source: str
    ident: int
    seq: int
    payload: bytes


def parse_echo_reply(packet):
    """An :class:`EchoReply` from a raw IPv4 packet, or None (not a valid echo reply)."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    header_length = (packet[0] & 0x0F) * 4
    if header_length < 20 or len(packet) < header_length + 8 or packet[9] != socket.IPPROTO_ICMP:
        return None
    icmp = packet[header_length:]
    kind, code, _checksum, ident, seq = struct.unpack("!BBHHH", icmp[:8])
    if kind != ICMP_ECHO_REPLY or code != 0 or icmp_checksum(icmp) != 0:
        return None
    return EchoReply(socket.inet_ntoa(packet[12:16]), ident, seq, bytes(icmp[8:]))


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    ok: bool
    duration: float
    error: str = ""


@dataclasses.dataclass
class _PendingProbe:
    uplink: Uplink
    ident: int
    token: bytes
    targets: frozenset
    errors: List[str]


class IcmpProber:
    """One echo request per target per uplink, all in flight at once."""

    def __init__(self, timeout, clock=time.monotonic, open_socket=None):
        self.timeout = timeout
        self.clock = clock
        self.open_socket = open_socket or (lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
        self._seq = random.randrange(0x10000)

    def _send(self, uplink, targets):
        sock = self.open_socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, uplink.interface.encode() + b"\0")
            sock.setblocking(False)
            pending = _PendingProbe(uplink, random.randrange(1, 0x10000), os.urandom(16), frozenset(targets), [])
            sent = 0
            for target in targets:
                self._seq = (self._seq + 1) & 0xFFFF
                try:
                    sock.sendto(build_echo_request(pending.ident, self._seq, pending.token), (target, 0))
                    sent += 1
                except OSError as exc:
                    pending.errors.append("%s: %s" % (target, exc.strerror or exc))
            return sock, pending, sent
        except OSError:
            sock.close()
            raise

    def probe(self, uplinks, targets):
        """{uplink name: ProbeResult} after at most ``timeout`` seconds."""
        start = self.clock()
        deadline = start + self.timeout
        results = {}
        selector = selectors.DefaultSelector()
        try:
            for uplink in uplinks:
                try:
                    sock, pending, sent = self._send(uplink, targets)
                except OSError as exc:
                    results[uplink.name] = ProbeResult(False, 0.0, "%s: %s" % (uplink.interface, exc.strerror or exc))
                    continue
                if not sent:
                    sock.close()
                    results[uplink.name] = ProbeResult(False, self.clock() - start, "; ".join(pending.errors))
                    continue
                selector.register(sock, selectors.EVENT_READ, pending)
            while selector.get_map():
                remaining = deadline - self.clock()
                if remaining <= 0:
                    break
                for key, _events in selector.select(remaining):
                    if self._receive(key.fileobj, key.data):
                        results[key.data.uplink.name] = ProbeResult(True, self.clock() - start)
                        selector.unregister(key.fileobj)
                        key.fileobj.close()
            for key in list(selector.get_map().values()):
                pending = key.data
                errors = pending.errors or ["no answer within %g s" % self.timeout]
                results[pending.uplink.name] = ProbeResult(False, self.clock() - start, "; ".join(errors))
                selector.unregister(key.fileobj)
                key.fileobj.close()
        finally:
            selector.close()
        return results

    @staticmethod
    def _receive(sock, pending):
        """Drain the socket; True when one of our targets answered our request."""
        while True:
            try:
                packet = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as exc:
                pending.errors.append("receive: %s" % (exc.strerror or exc))
                return False
            reply = parse_echo_reply(packet)
            if (reply is not None and reply.ident == pending.ident and reply.payload == pending.token
                    and reply.source in pending.targets):
                return True


# ---------------------------------------------------------------------------
# LTE modem (ModemManager's mmcli), optional
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ModemStatus:
    present: bool
    signal_quality: Optional[float] = None
    state: str = ""
    access_technology: str = ""
    operator: str = ""
    error: str = ""


def _mm_text(value):
    """mmcli prints "--" for an unknown value."""
    if isinstance(value, list):
        value = ",".join(str(item) for item in value if item not in (None, "", "--"))
    if value in (None, "--"):
        return ""
    return str(value)


def parse_mmcli(text):
    """A :class:`ModemStatus` from ``mmcli -m any -J``."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        return ModemStatus(False, error="cannot parse mmcli output: %s" % exc)
    modem = data.get("modem") if isinstance(data, dict) else None
    if not isinstance(modem, dict):
        return ModemStatus(False, error="no modem in mmcli output")
    generic = modem.get("generic") or {}
    quality = (generic.get("signal-quality") or {}).get("value")
    try:
        quality = float(quality) if _mm_text(quality) else None
    except (TypeError, ValueError):
        quality = None
    return ModemStatus(
        present=True, signal_quality=quality, state=_mm_text(generic.get("state")),
        access_technology=_mm_text(generic.get("access-technologies")),
        operator=_mm_text((modem.get("3gpp") or {}).get("operator-name")))


def read_modem(command, run=subprocess.run, timeout=MODEM_COMMAND_TIMEOUT):
    try:
        done = run([command, "-m", "any", "-J"], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return ModemStatus(False, error="mmcli: no answer within %g s" % timeout)
    except OSError as exc:
        return ModemStatus(False, error="cannot run %s: %s" % (command, exc.strerror or exc))
    if done.returncode != 0:
        return ModemStatus(False, error=(done.stderr or "mmcli exit %d" % done.returncode).strip())
    return parse_mmcli(done.stdout)


# ---------------------------------------------------------------------------
# Metrics and status
# ---------------------------------------------------------------------------

def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels):
    return "{%s}" % ",".join('%s="%s"' % (key, _label(value)) for key, value in labels.items())


def _number(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def read_interface_counters(interface, sys_class_net="/sys/class/net"):
    """(received bytes, transmitted bytes) of an interface, or None when it is absent."""
    counters = []
    for name in ("rx_bytes", "tx_bytes"):
        try:
            with open(os.path.join(sys_class_net, interface, "statistics", name), encoding="ascii") as handle:
                counters.append(int(handle.read().strip()))
        except (OSError, ValueError):
            return None
    return tuple(counters)


def render_metrics(status, counters=None):
    """Prometheus text format from a :func:`Daemon.status` snapshot.

    ``counters``: {interface: (rx bytes, tx bytes)} for the traffic metrics.
    """
    counters = counters or {}
    families = []

    def family(name, kind, help_text, samples):
        lines = ["# HELP %s %s" % (name, help_text), "# TYPE %s %s" % (name, kind)]
        lines += ["%s%s %s" % (name, labels, _number(value)) for labels, value in samples]
        families.append("\n".join(lines))

    uplinks = status["uplinks"]

    def per_uplink(key, transform=lambda value: value):
        return [(_labels(uplink=item["name"], interface=item["interface"]), transform(item[key])) for item in uplinks]

    family("lte_failover_active_uplink", "gauge", "1 for the uplink the default route goes through, else 0.",
           [(_labels(uplink=item["name"], interface=item["interface"]), item["name"] == status["active"])
            for item in uplinks])
    family("lte_failover_uplink_healthy", "gauge",
           "1 when the uplink is up (its probes answer), 0 when down or not probed yet.",
           per_uplink("healthy", lambda value: value is True))
    family("lte_failover_uplink_consecutive_failures", "gauge", "Unanswered probes in a row.",
           per_uplink("consecutive_failures"))
    family("lte_failover_uplink_stable_seconds", "gauge",
           "Seconds the uplink has answered every probe (0 after a failed probe); failback needs the hold time.",
           per_uplink("stable_seconds"))
    family("lte_failover_probe_duration_seconds", "gauge",
           "Duration of the uplink's last probe (the round trip, or the timeout when unanswered).",
           per_uplink("last_probe_duration"))
    family("lte_failover_probes_total", "counter", "Probes sent through each uplink, by result.",
           [(_labels(uplink=item["name"], interface=item["interface"], result=result), item["probes"][result])
            for item in uplinks for result in ("ok", "failed")])
    family("lte_failover_uplink_route_metric", "gauge", "Metric of the uplink's default route.",
           per_uplink("route_metric"))
    traffic = [(item, counters.get(item["interface"])) for item in uplinks]
    family("lte_failover_uplink_receive_bytes_total", "counter", "Bytes received on the uplink's interface.",
           [(_labels(uplink=item["name"], interface=item["interface"]), pair[0]) for item, pair in traffic if pair])
    family("lte_failover_uplink_transmit_bytes_total", "counter", "Bytes sent on the uplink's interface.",
           [(_labels(uplink=item["name"], interface=item["interface"]), pair[1]) for item, pair in traffic if pair])
    family("lte_failover_switches_total", "counter", "Uplink switches since the daemon started.",
           [("", status["switches"])])
    family("lte_failover_last_switch_timestamp_seconds", "gauge",
           "Unix time of the last uplink switch (0: none since the daemon started).",
           [("", (status["last_switch"] or {}).get("timestamp", 0))])
    family("lte_failover_all_uplinks_down", "gauge", "1 when every uplink is down (the active one is kept).",
           [("", status["all_down"])])
    family("lte_failover_routes_in_sync", "gauge", "1 when the kernel's default routes are the wanted ones.",
           [("", status["routes_in_sync"])])
    family("lte_failover_route_errors_total", "counter", "Failed route reads or changes.",
           [("", status["route_errors"])])
    family("lte_failover_hold_time_seconds", "gauge", "Seconds a higher-priority uplink must stay healthy to fail back.",
           [("", status["hold_time"])])
    family("lte_failover_last_round_timestamp_seconds", "gauge", "Unix time of the last probe round.",
           [("", status["last_round"] or 0)])
    modem = status.get("modem")
    if modem is not None:
        family("lte_failover_modem_present", "gauge", "1 when ModemManager reports a modem.",
               [("", modem["present"])])
        if modem["present"]:
            if modem["signal_quality"] is not None:
                family("lte_failover_modem_signal_quality_percent", "gauge",
                       "Signal quality reported by ModemManager (0-100).", [("", modem["signal_quality"])])
            family("lte_failover_modem_info", "gauge", "The modem's state, access technology and operator.",
                   [(_labels(state=modem["state"], access_technology=modem["access_technology"],
                             operator=modem["operator"]), 1)])
    return "\n".join(families) + "\n"


# ---------------------------------------------------------------------------
# Daemon
# ---------------------------------------------------------------------------

class Daemon:
    def __init__(self, config, prober=None, routes=None, clock=time.monotonic, wall=time.time,
                 modem_reader=read_modem, counters_reader=read_interface_counters):
        self.config = config
        self.prober = prober or IcmpProber(config.probe_timeout, clock=clock)
        self.routes = routes or RouteTable()
        self.clock = clock
        self.wall = wall
        self.modem_reader = modem_reader
        self.counters_reader = counters_reader
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.machine = None
        self.last_probe = {}
        self.probe_counts = {uplink.name: {"ok": 0, "failed": 0} for uplink in config.uplinks}
        self.last_switch = None
        self.last_round = None
        self.routes_ok = False
        self.route_errors = 0
        self._last_route_errors = ()
        self.modem = None
        self._server = None
        self._threads = []

    # -- decisions and routes ------------------------------------------------

    def adopt(self):
        """Take the active uplink from the kernel's routes, then install ours."""
        try:
            active = adopt_active(self.config, self.routes.read())
        except RouteError as exc:
            LOG.warning("cannot read the routes (%s): starting on %s", exc, self.config.uplinks[0].name)
            active = self.config.uplinks[0].name
        with self.lock:
            self.machine = FailoverMachine([uplink.name for uplink in self.config.uplinks],
                                           self.config.failures_before_down, self.config.hold_time, active)
        LOG.info("starting on uplink %s", active)
        self.reconcile()

    def reconcile(self):
        with self.lock:
            active = self.machine.active
        result = self.routes.reconcile(desired_routes(self.config, active))
        for line in result.applied:
            LOG.info("route: %s", line)
        errors = tuple(result.errors)
        if errors and errors != self._last_route_errors:
            for error in errors:
                LOG.warning("route: %s", error)
        elif not errors and self._last_route_errors:
            LOG.info("routes back in sync")
        self._last_route_errors = errors
        with self.lock:
            self.routes_ok = result.in_sync
            self.route_errors += len(errors)
        return result

    def run_round(self):
        results = self.prober.probe(self.config.uplinks, self.config.probe_targets)
        now = self.clock()
        with self.lock:
            for name, result in results.items():
                self.last_probe[name] = result
                self.probe_counts[name]["ok" if result.ok else "failed"] += 1
            was_all_down = self.machine.all_down
            switch, changes = self.machine.step({name: result.ok for name, result in results.items()}, now)
            if switch is not None:
                self.last_switch = {"from": switch.old, "to": switch.new, "reason": switch.reason,
                                    "timestamp": self.wall()}
            self.last_round = self.wall()
            all_down, active = self.machine.all_down, self.machine.active
        for name, change in changes.items():
            if change == "up":
                LOG.info("uplink %s is up", name)
            else:
                LOG.warning("uplink %s is down: %s", name, results[name].error)
        if all_down and not was_all_down:
            LOG.error("every uplink is down: staying on %s", active)
        if switch is not None:
            LOG.warning("switching %s -> %s: %s", switch.old, switch.new, switch.reason)
        self.reconcile()
        return switch

    def loop(self):
        while not self.stop_event.is_set():
            started = self.clock()
            try:
                self.run_round()
            except Exception:  # pylint: disable=broad-except
                LOG.exception("probe round failed")
            self.stop_event.wait(max(0.0, self.config.probe_interval - (self.clock() - started)))

    def modem_loop(self):
        while not self.stop_event.is_set():
            if os.access(self.config.modem_command, os.X_OK):
                status = self.modem_reader(self.config.modem_command)
                if status.error and (self.modem is None or self.modem.error != status.error):
                    LOG.info("modem: %s", status.error)
            else:
                status = None
            with self.lock:
                self.modem = status
            self.stop_event.wait(self.config.modem_interval)

    # -- reporting -----------------------------------------------------------

    def status(self):
        now = self.clock()
        with self.lock:
            machine = self.machine
            active = machine.active
            active_index = self.config.index_of(active)
            uplinks = []
            for index, uplink in enumerate(self.config.uplinks):
                health = machine.health[uplink.name]
                probe = self.last_probe.get(uplink.name)
                uplinks.append({
                    "name": uplink.name, "interface": uplink.interface, "gateway": uplink.gateway,
                    "healthy": health.up, "consecutive_failures": health.consecutive_failures,
                    "stable_seconds": round(machine.stable_for(uplink.name, now), 3),
                    "last_probe_ok": health.last_probe_ok,
                    "last_probe_duration": round(probe.duration, 6) if probe else 0.0,
                    "last_probe_error": probe.error if probe else "",
                    "probes": dict(self.probe_counts[uplink.name]),
                    "route_metric": route_metric(self.config, index, active_index),
                })
            modem = dataclasses.asdict(self.modem) if self.modem is not None else None
            return {
                "active": active, "uplinks": uplinks, "switches": machine.switches,
                "last_switch": dict(self.last_switch) if self.last_switch else None,
                "all_down": machine.all_down, "routes_in_sync": self.routes_ok, "route_errors": self.route_errors,
                "hold_time": self.config.hold_time, "last_round": self.last_round, "modem": modem,
            }

    def metrics(self):
        counters = {}
        for uplink in self.config.uplinks:
            pair = self.counters_reader(uplink.interface)
            if pair is not None:
                counters[uplink.interface] = pair
        return render_metrics(self.status(), counters)

    # -- lifecycle -----------------------------------------------------------

    def start(self):
        self.adopt()
        self._server = ThreadingHTTPServer((self.config.listen_address, self.config.listen_port),
                                           _handler_for(self))
        self._server.daemon_threads = True
        targets = [self._server.serve_forever, self.loop]
        if self.config.modem_command:
            targets.append(self.modem_loop)
        for target in targets:
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self):
        self.stop_event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler_for(daemon):
    class Handler(BaseHTTPRequestHandler):
        server_version = "tezos-lte-failover"

        def do_GET(self):  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, METRICS_CONTENT_TYPE, daemon.metrics())
            elif path == "/status":
                self._send(200, "application/json", json.dumps(daemon.status(), indent=2, sort_keys=True) + "\n")
            elif path == "/":
                self._send(200, "text/plain; charset=utf-8", "lte_failover: /metrics /status\n")
            else:
                self._send(404, "text/plain; charset=utf-8", "not found\n")

        def _send(self, code, content_type, body):
            data = body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # requests are not worth a journal line
            return

    return Handler


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Default-route failover between uplinks (wired first, LTE backup).")
    parser.add_argument("--config", default="/etc/tezos-bakery/lte-failover.json", help="JSON configuration file")
    parser.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--probe-once", action="store_true",
                        help="probe every uplink once, print the results, change no route")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print("lte_failover: invalid configuration %s: %s" % (args.config, exc), file=sys.stderr)
        return 2
    if args.check_config:
        print("lte_failover: configuration %s is valid (uplinks %s; probe targets %s)" % (
            args.config, ", ".join("%s=%s" % (uplink.name, uplink.interface) for uplink in config.uplinks),
            ", ".join(config.probe_targets)))
        return 0
    if args.probe_once:
        results = IcmpProber(config.probe_timeout).probe(config.uplinks, config.probe_targets)
        print(json.dumps({name: dataclasses.asdict(result) for name, result in results.items()}, indent=2))
        return 0 if all(result.ok for result in results.values()) else 1

    daemon = Daemon(config)

    def on_signal(signum, _frame):
        LOG.info("received %s, stopping (routes are left as they are)", signal.Signals(signum).name)
        daemon.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        daemon.start()
    except OSError as exc:
        LOG.error("cannot listen on %s:%s: %s", config.listen_address, config.listen_port, exc)
        return 1
    LOG.info("probing %s through %s every %g s (down after %d failures, failback after %g s healthy); "
             "metrics on %s:%d", ", ".join(config.probe_targets),
             ", ".join("%s=%s" % (uplink.name, uplink.interface) for uplink in config.uplinks),
             config.probe_interval, config.failures_before_down, config.hold_time, config.listen_address,
             config.listen_port)
    while not daemon.stop_event.wait(1.0):
        pass
    daemon.stop()
    LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
