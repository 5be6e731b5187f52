# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The signer forwarder's haproxy (roles/tezos_nodes templates/etc/haproxy/haproxy.cfg.j2),
rendered standalone, checked with the real ``haproxy -c``, then run for real on
loopback in front of two octez-signer doubles, each with a /healthz double:
signer 1 gets every request; when it dies (or its /healthz says 503) signer 2
takes over; when it is back, signer 1 gets the traffic back. Each measured
time starts from a settled state read from haproxy's runtime API (both
servers UP with full health, or signer 1 fully DOWN), is bounded from both
sides by the health check settings of the rendered configuration, and is
written to tests/output/haproxy-failover.json."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import contextlib
import csv
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import jinja2
import pytest
import tezos_crypto as tc
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ROLE = os.path.join(ROOT, "roles", "tezos_nodes")
DOUBLES = os.path.join(ROOT, "tests", "doubles")
URI = "ledger://molecule-double-ledger-nano/ed25519/0h/0h"
CHAIN = "NetXdQprcVkpaWU"
PKH = "tz1eLV23PrBB5T28FNinUtrHDPgxBiNtmkKB"
PUBLIC_KEY = "edpkvQsoPw1UGkz5vTHjHm2mEQYKHPnsvGcqE9G8sfkxkREHiGGx17"
INTERVAL_MS = 500
FALL = 2
RISE = 3
CHECK_TIMEOUT_MS = 400
# A health check outcome can come a little less than `inter` after the
# previous one (the check in flight at the fault, timer ticks): margin below
# the lower bounds.
TOLERANCE_S = 0.1
# Margin above the upper bounds: the observation itself (requests every
# 50 ms, stats polling) on a loaded 2-core machine.
SLACK_S = 1.0

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
pytestmark = pytest.mark.skipif(not os.access(HAPROXY, os.X_OK), reason="haproxy is not installed (scripts/test setup)")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render(**overrides):
    """haproxy.cfg from the role's template, its defaults and the overrides."""
    with open(os.path.join(ROLE, "defaults", "main.yml"), encoding="utf-8") as handle:
        variables = yaml.safe_load(handle)
    variables.update(_tezos_nodes_haproxy_bind="127.0.0.1", _tezos_nodes_haproxy_signer_bind="127.0.0.1",
                     _tezos_nodes_tunnel_host="127.0.0.1")
    variables.update(overrides)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(ROLE, "templates")),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template("etc/haproxy/haproxy.cfg.j2").render(**variables)


def haproxy_check(path):
    return subprocess.run([HAPROXY, "-c", "-f", path], capture_output=True, text=True, check=False)


class Haproxy:
    """A running haproxy: its rendered configuration and its runtime API
    (a stats socket the test adds to the global section)."""

    def __init__(self, config, socket_path, log_path):
        self.config = config
        self.socket_path = socket_path
        self.log_path = log_path

    def command(self, line):
        """Output of one runtime API command."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(self.socket_path)
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return b"".join(chunks).decode()
                chunks.append(chunk)

    def servers(self, backend="signers"):
        """{server: its ``show stat`` row} of `backend` (status "UP", "UP 1/2"
        going down, "DOWN", "DOWN 1/3" going up; check_health 0..rise+fall-1)."""
        lines = [line for line in self.command("show stat -1 4 -1").splitlines() if line]
        lines[0] = lines[0].lstrip("# ")
        return {row["svname"]: row for row in csv.DictReader(lines) if row["pxname"] == backend}

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()[-4000:]


@contextlib.contextmanager
def running_haproxy(tmp_path, port, **overrides):
    """haproxy running on the role's template rendered with `overrides`
    (checked with haproxy -c first), once `port` accepts connections; plus a
    runtime API socket, the only line the test adds."""
    socket_path = str(tmp_path / "haproxy.sock")
    assert len(socket_path) < 100, socket_path
    text, added = re.subn(r"^global$", "global\n    stats socket %s mode 600 level admin" % socket_path,
                          render(**overrides), count=1, flags=re.M)
    assert added == 1
    config = tmp_path / "haproxy.cfg"
    config.write_text(text)
    result = haproxy_check(str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    log_path = str(tmp_path / "haproxy.log")
    with open(log_path, "w", encoding="utf-8") as log:
        haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        yield Haproxy(text, socket_path, log_path)
    finally:
        haproxy.terminate()
        haproxy.wait(timeout=10)


@contextlib.contextmanager
def stub_servers(handler, settings):
    """One loopback HTTP server per label of `settings` ({label: {attribute:
    value}}, set on the server for `handler` to read): {label: server}."""
    servers = {}
    try:
        for label, attributes in settings.items():
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            server.label = label
            for name, value in attributes.items():
                setattr(server, name, value)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers[label] = server
        yield servers
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()


def test_default_config_is_valid(tmp_path):
    """The configuration with the role's defaults passes haproxy -c."""
    path = tmp_path / "haproxy.cfg"
    path.write_text(render())
    result = haproxy_check(str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    text = path.read_text()
    assert "balance first" in text
    assert "server pi1 127.0.0.1:16732 check port 16733\n" in text
    assert "server pi2 127.0.0.1:26732 check port 26733\n" in text
    assert "retry-on conn-failure empty-response junk-response response-timeout 500 502 503 504" in text
    assert "http-check send meth GET uri /healthz" in text


def test_broken_config_is_refused(tmp_path):
    """haproxy -c really checks: a server line without an address is refused."""
    path = tmp_path / "haproxy.cfg"
    path.write_text(render().replace("server pi2 127.0.0.1:26732", "server pi2"))
    assert haproxy_check(str(path)).returncode != 0


class Pi:
    """A Pi as the forwarder sees it: the signer double and its /healthz double on loopback."""

    def __init__(self, tmp_path, name, env):
        self.name = name
        # Each Pi its own simulated Ledger.
        self.ledger_state = str(tmp_path / (name + "-ledger.json"))
        self.env = dict(env, OCTEZ_CLIENT_DOUBLE_STATE=self.ledger_state)
        env = self.env
        self.base_dir = str(tmp_path / name)
        self.signer_port = free_port()
        self.health_port = free_port()
        self.down_file = str(tmp_path / (name + ".down"))
        imported = subprocess.run([sys.executable, os.path.join(DOUBLES, "octez-signer"), "-d", self.base_dir,
                                   "import", "secret", "key", "baker", URI],
                                  env=env, capture_output=True, text=True, timeout=30, check=False)
        assert imported.returncode == 0, imported.stderr
        self.signer = None
        self.start_signer()
        self.health = subprocess.Popen([sys.executable, os.path.join(DOUBLES, "signer-healthz"),
                                        "--port", str(self.health_port),
                                        "--signer-url", "http://127.0.0.1:%d" % self.signer_port,
                                        "--pkh", PKH, "--public-key", PUBLIC_KEY, "--down-file", self.down_file,
                                        "--timeout", "0.3"],
                                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.health_port)

    def start_signer(self):
        self.signer = subprocess.Popen([sys.executable, os.path.join(DOUBLES, "octez-signer"), "-d", self.base_dir,
                                        "launch", "http", "signer", "-a", "127.0.0.1", "-p", str(self.signer_port),
                                        "-M", "0x11,0x12,0x13"],
                                       env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.signer_port)

    def unplug_ledger(self):
        """The Ledger goes away: the signer fails every request (HTTP 500)."""
        with open(self.ledger_state, "w", encoding="utf-8") as handle:
            json.dump({"connected": False}, handle)

    def kill_signer(self):
        self.signer.send_signal(signal.SIGKILL)
        self.signer.wait(timeout=10)

    def stop(self):
        for proc in (self.signer, self.health):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on port %d" % port)


def ask(port, method="GET", body=None):
    """(status, X-Tezos-Signer, body) of one request through haproxy; (None, None, error) when refused."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        path = "/keys/" + PKH
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("X-Tezos-Signer"), response.read().decode("utf-8")
    except OSError as error:
        return None, None, str(error)
    finally:
        conn.close()


def wait_for_signer(port, name, since, timeout=15):
    """Seconds from `since` until haproxy answers 200 from `name` five times in a row."""
    deadline = time.monotonic() + timeout
    first = None
    streak = 0
    while time.monotonic() < deadline:
        status, signer, _body = ask(port)
        if status == 200 and signer == name:
            first = first if first is not None else time.monotonic()
            streak += 1
            if streak == 5:
                return first - since
        else:
            first = None
            streak = 0
        time.sleep(0.05)
    raise AssertionError("haproxy did not move to %s within %ss" % (name, timeout))


def duration(text):
    """Seconds of an haproxy time ("500ms", "2s", "1m"; a bare number is ms)."""
    number, unit = re.fullmatch(r"(\d+)(us|ms|s|m|h|d)?", text).groups()
    return int(number) * {"us": 1e-6, None: 1e-3, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


class Checks:
    """The health checks of backend signers as the rendered configuration
    sets them (default-server and timeout check), and what they allow."""

    def __init__(self, config):
        backend = config[config.index("\nbackend signers\n"):]
        backend = backend[:backend.index("\n\n")]
        words = re.search(r"^\s*default-server (.*)$", backend, re.M).group(1).split()
        values = dict(zip(words[::2], words[1::2]))
        self.inter = duration(values["inter"])
        self.fastinter = duration(values.get("fastinter", values["inter"]))
        self.downinter = duration(values.get("downinter", values["inter"]))
        self.fall = int(values["fall"])
        self.rise = int(values["rise"])
        self.timeout = duration(re.findall(r"^\s*timeout check (\S+)$", config, re.M)[-1])
        # haproxy counts check results in a health from 0 to rise+fall-1: a
        # server is UP from `rise`; it goes DOWN (health 0) on the fall-th
        # failure in a row and back UP on the rise-th success in a row. It
        # checks every `inter` at full health, every `downinter` at health 0
        # and every `fastinter` in between.
        self.full = self.rise + self.fall - 1

    def down_bounds(self):
        """(lower, upper) seconds from a fault to haproxy taking a server
        with full health out. The first failing check may come right after
        the fault, the next fall-1 ones come each `fastinter` later: not
        faster than (fall-1) x fastinter. At worst the first one comes
        `inter` after the fault and each check runs its whole timeout."""
        return ((self.fall - 1) * self.fastinter - TOLERANCE_S,
                self.inter + (self.fall - 1) * self.fastinter + self.fall * self.timeout + SLACK_S)

    def up_bounds(self, startup=0.0):
        """(lower, upper) seconds from a fully DOWN server's repair to haproxy
        sending it traffic again: rise passing checks, (rise-1) x fastinter
        apart; at worst the first one comes `downinter` after the repair (plus
        `startup`, the time the repaired service took to listen)."""
        return ((self.rise - 1) * self.fastinter - TOLERANCE_S,
                startup + self.downinter + (self.rise - 1) * self.fastinter + self.rise * self.timeout + SLACK_S)

    def state(self, row):
        """"up" (UP, full health), "down" (DOWN, health 0) or what it is in between."""
        health = int(row["check_health"])
        if row["status"] == "UP" and health == self.full:
            return "up"
        if row["status"] == "DOWN" and health == 0:
            return "down"
        return "%s health %d/%d" % (row["status"], health, self.full)


HEALTHY = {"pi1": "up", "pi2": "up"}
PI1_OUT = {"pi1": "down", "pi2": "up"}


def states(haproxy, checks):
    return {name: checks.state(row) for name, row in haproxy.servers().items()}


def settle(haproxy, checks, want, timeout=15):
    """Monotonic time at which haproxy first shows `want` ({server: "up" or
    "down"}), polled every 20 ms."""
    deadline = time.monotonic() + timeout
    while True:
        now_states = states(haproxy, checks)
        now = time.monotonic()
        if all(now_states[name] == state for name, state in want.items()):
            return now
        if now > deadline:
            raise AssertionError("haproxy did not reach %s within %ss: %s\n%s"
                                 % (want, timeout, now_states, haproxy.log()))
        time.sleep(0.02)


def require(haproxy, checks, want):
    """Precondition of a measurement: haproxy already shows `want`. A
    measurement started from a half-way state (a server UP without full
    health, or not yet DOWN) would time fewer checks than the settings ask."""
    now_states = states(haproxy, checks)
    assert all(now_states[name] == state for name, state in want.items()), \
        "measurement refused: haproxy shows %s, not %s" % (now_states, want)


@pytest.fixture
def forwarder(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path / "home"))
    pis = []
    try:
        pis = [Pi(tmp_path, "pi1", env), Pi(tmp_path, "pi2", env)]
        port = free_port()
        with running_haproxy(
                tmp_path, port,
                tezos_nodes_forwarder_haproxy_port=port, tezos_nodes_haproxy_metrics_port=free_port(),
                tezos_nodes_haproxy_check_interval=INTERVAL_MS, tezos_nodes_haproxy_check_fall=FALL,
                tezos_nodes_haproxy_check_rise=RISE, tezos_nodes_haproxy_check_timeout=CHECK_TIMEOUT_MS,
                tezos_nodes_signers=[{"name": pi.name, "signer_port": pi.signer_port, "health_port": pi.health_port}
                                     for pi in pis]) as haproxy:
            yield port, pis, haproxy
    finally:
        for pi in pis:
            pi.stop()


def test_failover_and_failback(forwarder):
    """Signer 1 first; signer 2 when signer 1 dies or is unhealthy; signer 1
    again when back. Each figure starts from a settled state and lies between
    what the health check settings allow."""
    port, (pi1, _pi2), haproxy = forwarder
    checks = Checks(haproxy.config)
    assert (checks.fall, checks.rise) == (FALL, RISE)
    timings = {"check_interval_ms": round(checks.inter * 1000), "fastinter_ms": round(checks.fastinter * 1000),
               "downinter_ms": round(checks.downinter * 1000), "check_timeout_ms": round(checks.timeout * 1000),
               "fall": checks.fall, "rise": checks.rise}
    bounds = {}

    def record(key, seconds, lower, upper):
        timings[key] = round(seconds, 3)
        bounds[key] = [round(lower, 3), round(upper, 3)]

    # At start haproxy counts both servers UP but not at full health: wait.
    settle(haproxy, checks, HEALTHY)
    # A real signature through the forwarder (ed25519 over a block payload).
    status, signer, body = ask(port, "POST", json.dumps("11" + "00" * 40))
    assert (status, signer) == (200, "pi1"), body
    assert json.loads(body)["signature"].startswith("edsig")

    # Signer 1's process dies (Pi off, tunnel down). The first request after
    # it is refused by pi1 and sent again to pi2 (retry-on conn-failure,
    # redispatch): a failover by retry, inside that one request. No health
    # check timer stands between the fault and it, only the request's own
    # round trip (a refused connect on loopback, then pi2's answer), so its
    # lower bound is 0: nothing above can be required. What makes it a retry is
    # that it comes before any health check could have taken pi1 out (below
    # the health check failover's lower bound) and that haproxy still has
    # pi1 UP when pi2 answers. (The old harness restarted pi1's signer right
    # here: the failback it timed started half-down, pi1 never having gone
    # DOWN; require() below now refuses that.)
    require(haproxy, checks, HEALTHY)
    start = time.monotonic()
    pi1.kill_signer()
    status, signer, body = ask(port, "POST", json.dumps("12" + "00" * 40))
    retried = time.monotonic() - start
    pi1_then = states(haproxy, checks)["pi1"]
    assert (status, signer) == (200, "pi2"), body
    assert json.loads(body)["signature"].startswith("edsig")
    assert not pi1_then.startswith("DOWN"), "pi2 answered because pi1 was already out (%s), not by retry" % pi1_then
    record("failover_signer_killed_s", retried, 0.0, checks.down_bounds()[0])
    # ... and pi1's health checks (its /healthz cannot reach the signer) take it out.
    record("down_after_signer_killed_s", settle(haproxy, checks, PI1_OUT) - start, *checks.down_bounds())

    # Signer 1 back: it gets the traffic back once healthy `rise` times.
    require(haproxy, checks, PI1_OUT)
    start = time.monotonic()
    pi1.start_signer()
    startup = time.monotonic() - start
    record("failback_signer_restarted_s", wait_for_signer(port, "pi1", start), *checks.up_bounds(startup))

    # Signer 1 up but its /healthz says 503 (Ledger not ready): signer 2.
    # Its signer still answers 200, so no retry: health checks only.
    settle(haproxy, checks, HEALTHY)
    require(haproxy, checks, HEALTHY)
    start = time.monotonic()
    with open(pi1.down_file, "w", encoding="utf-8") as handle:
        handle.write("ledger app closed\n")
    record("failover_healthz_503_s", wait_for_signer(port, "pi2", start), *checks.down_bounds())

    settle(haproxy, checks, PI1_OUT)
    require(haproxy, checks, PI1_OUT)
    start = time.monotonic()
    os.unlink(pi1.down_file)
    record("failback_healthz_200_s", wait_for_signer(port, "pi1", start), *checks.up_bounds())

    timings["bounds_s"] = bounds
    out = os.path.join(ROOT, "tests", "output")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "haproxy-failover.json"), "w", encoding="utf-8") as handle:
        json.dump(timings, handle, indent=2)
    print("haproxy failover timings: %s" % json.dumps(timings))

    outside = ["%s %.3f s not in [%.3f, %.3f]" % (key, timings[key], lower, upper)
               for key, (lower, upper) in bounds.items() if not lower <= timings[key] <= upper]
    assert not outside, "; ".join(outside)


def sign(port, level):
    """(status, signer, body) of an attestation signing request at `level`."""
    return ask(port, "POST", json.dumps(tc.attestation_payload(CHAIN, level, 0).hex()))


def test_failed_request_is_sent_again_to_the_next_signer(forwarder):
    """The Ledger goes away between two health checks (pi1's /healthz still
    says 200): pi1 answers 500, haproxy sends the same bytes to pi2 and the
    baker gets pi2's signature, no error, for every request until pi1's
    health checks fail."""
    port, (pi1, _pi2), haproxy = forwarder
    checks = Checks(haproxy.config)
    settle(haproxy, checks, HEALTHY)
    status, signer, body = sign(port, 100)
    assert (status, signer) == (200, "pi1"), body

    pi1.unplug_ledger()
    assert pi1.signer.poll() is None
    for level in range(101, 111):
        status, signer, body = sign(port, level)
        assert (status, signer) == (200, "pi2"), body
        assert json.loads(body)["signature"].startswith("edsig")
    # pi1 itself does fail (the retry is what saved the requests) and its
    # health checks still pass: it stays first in line.
    status, _signer, body = sign(pi1.signer_port, 200)
    assert status == 500 and "Found no ledger" in body, body
    require(haproxy, checks, HEALTHY)


def test_signer_timeout_sends_the_request_on(tmp_path):
    """A signer that accepts the request and never answers (a hung Ledger)
    is skipped after tezos_nodes_haproxy_signer_timeout: the request gets
    the next signer's answer well within the guard's own timeout."""
    class Signer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == "/healthz" or not self.server.hang:
                body = self.server.label.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                time.sleep(10)

        do_POST = do_GET  # noqa: N815

        def log_message(self, fmt, *args):  # pylint: disable=arguments-differ
            return

    port = free_port()
    signer_timeout_ms = 800
    with stub_servers(Signer, {"pi1": {"hang": True}, "pi2": {"hang": False}}) as servers, running_haproxy(
            tmp_path, port,
            tezos_nodes_forwarder_haproxy_port=port, tezos_nodes_haproxy_metrics_port=free_port(),
            tezos_nodes_haproxy_signer_timeout=signer_timeout_ms, tezos_nodes_haproxy_check_interval=500,
            tezos_nodes_haproxy_check_timeout=400,
            tezos_nodes_signers=[{"name": label, "signer_port": server.server_address[1],
                                  "health_port": server.server_address[1]} for label, server in servers.items()]) as haproxy:
        checks = Checks(haproxy.config)
        settle(haproxy, checks, HEALTHY)
        require(haproxy, checks, HEALTHY)
        start = time.monotonic()
        status, signer, body = ask(port, "POST", json.dumps("13" + "00" * 40))
        took = time.monotonic() - start
        assert (status, signer, body) == (200, "pi2", "pi2")
        # A retry on response-timeout: not before pi1's `timeout server`
        # has run out; then only pi2's answer.
        assert signer_timeout_ms / 1000.0 - TOLERANCE_S < took < signer_timeout_ms / 1000.0 + SLACK_S


def test_pi_metrics_are_routed_through_the_metrics_port(tmp_path):
    """/signers/<pi>/<endpoint>/metrics on the metrics port reaches that Pi's
    tunnelled endpoint (as /metrics); anything else there is a 404."""
    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = ("%s %s\n" % (self.server.label, self.path)).encode()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):  # pylint: disable=arguments-differ
            return

    metrics_port = free_port()
    with stub_servers(Metrics, {"pi1-health": {}, "pi1-ups": {}, "pi2-lte": {}}) as servers, running_haproxy(
            tmp_path, metrics_port,
            tezos_nodes_forwarder_haproxy_port=free_port(), tezos_nodes_haproxy_metrics_port=metrics_port,
            tezos_nodes_signers=[
                {"name": "pi1", "signer_port": free_port(), "health_port": servers["pi1-health"].server_address[1],
                 "metrics_ports": {"ups": servers["pi1-ups"].server_address[1]}},
                {"name": "pi2", "signer_port": free_port(), "health_port": free_port(),
                 "metrics_ports": {"lte": servers["pi2-lte"].server_address[1]}}]):

        def get(path):
            connection = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=5)
            connection.request("GET", path)
            answer = connection.getresponse()
            return answer.status, answer.read().decode()

        assert get("/signers/pi1/health/metrics") == (200, "pi1-health /metrics\n")
        assert get("/signers/pi1/ups/metrics") == (200, "pi1-ups /metrics\n")
        assert get("/signers/pi2/lte/metrics") == (200, "pi2-lte /metrics\n")
        assert get("/signers/pi2/ups/metrics")[0] == 404
        assert get("/signers/pi1/ups/other")[0] == 404
        assert get("/elsewhere")[0] == 404
        status, text = get("/metrics")
        assert status == 200 and "haproxy_backend_active_servers" in text
