# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/doubles/octez-signer end to end on an ephemeral loopback port,
checked with tests/lib/tezos_crypto.py (separate code)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import fcntl
import hashlib
import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import tezos_crypto as tc
from double_ledger import CHAIN, PKH, PUBLIC_KEY, SEED, URI, double_path

SIGNER = double_path("octez-signer")
BOOTSTRAP1_EDSK = "edsk3gUfUPyBSfrS9CCgmCiQsTCHGkviBDusMxDJstFtojtc1zcpsh"
BOOTSTRAP1_EDPK = "edpkuBknW28nW72KG6RoHtYW7p12T6GKc7nAbwYX5m8Wd9sDVC9yav"
BOOTSTRAP1_TZ1 = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx"


@pytest.fixture
def env(tmp_path):
    """Environment of the double: no simulated Ledger state file unless a test writes one."""
    out = dict(os.environ)
    out["OCTEZ_CLIENT_DOUBLE_STATE"] = str(tmp_path / "ledger.json")
    out["HOME"] = str(tmp_path / "home")
    return out


@pytest.fixture
def base_dir(tmp_path, env):
    """A signer base dir with the simulated Ledger key imported as ``baker``."""
    path = str(tmp_path / "signer")
    result = cli(env, "-d", path, "import", "secret", "key", "baker", URI)
    assert result.returncode == 0, result.stderr
    return path


def cli(env, *args):
    """Run the double (with this interpreter: it needs ``cryptography``)."""
    return subprocess.run([sys.executable, SIGNER] + list(args), env=env, capture_output=True,
                          text=True, timeout=30, check=False)


def read_json(base_dir, name):
    with open(os.path.join(base_dir, name)) as handle:
        return json.load(handle)


class Signer:
    """``launch http signer`` on 127.0.0.1, ephemeral port."""

    def __init__(self, env, base_dir, *flags, **kwargs):
        global_flags = list(kwargs.get("global_flags", ()))
        cmd = [sys.executable, SIGNER] + global_flags + ["-d", base_dir, "launch", "http", "signer",
                                                         "-a", "127.0.0.1", "-p", "0"] + list(flags)
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.log = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.port = self._wait_port()

    def _pump(self):
        for line in self.proc.stderr:
            self.lines.put(line)

    def _wait_port(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, "signer exited: %s" % "".join(self.log)
                continue
            self.log.append(line)
            match = re.search(r"accepting HTTP requests on port (\d+)", line)
            if match:
                return int(match.group(1))
        raise AssertionError("signer did not start: %s" % "".join(self.log))

    def request(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8")
        finally:
            conn.close()

    def sign(self, pkh, payload, query=""):
        return self.request("POST", "/keys/%s%s" % (pkh, query), json.dumps(payload.hex()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


@pytest.fixture
def launch(env):
    started = []

    def start(base_dir, *flags, **kwargs):
        signer = Signer(env, base_dir, *flags, **kwargs)
        started.append(signer)
        return signer

    yield start
    for signer in started:
        if signer.proc.poll() is None:
            signer.proc.kill()
            signer.proc.wait()


def signature_of(status, body):
    assert status == 200, body
    return json.loads(body)["signature"]


def assert_refused(status, body, message=None):
    assert status != 200
    assert '"signature":' not in body.replace(" ", "")
    if message is not None:
        errors = json.loads(body)
        assert errors[0]["kind"] == "temporary" and errors[0]["id"] == "failure"
        assert message in errors[0]["msg"]


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

def test_version(env):
    result = cli(env, "--version")
    assert result.returncode == 0
    assert "test double" in result.stdout


def test_import_writes_the_octez_wallet_files(env, base_dir):
    assert read_json(base_dir, "secret_keys") == [{"name": "baker", "value": URI}]
    assert read_json(base_dir, "public_keys") == [{"name": "baker", "value": {"locator": URI, "key": PUBLIC_KEY}}]
    assert read_json(base_dir, "public_key_hashs") == [{"name": "baker", "value": PKH}]


def test_import_prints_the_address(env, tmp_path):
    result = cli(env, "-d", str(tmp_path / "s"), "import", "secret", "key", "baker", URI)
    assert result.returncode == 0, result.stderr
    assert "Tezos address added: %s" % PKH in result.stdout


def test_import_of_an_existing_alias_needs_force(env, base_dir):
    other = URI.replace("0h/0h", "0h/1h")
    result = cli(env, "-d", base_dir, "import", "secret", "key", "baker", other)
    assert result.returncode == 1
    assert result.stderr.startswith("Error:\n")
    assert "The secret_key alias baker already exists" in result.stderr
    result = cli(env, "-d", base_dir, "import", "secret", "key", "baker", other, "--force")
    assert result.returncode == 0, result.stderr
    assert read_json(base_dir, "public_key_hashs") == [{"name": "baker", "value": tc.double_ledger_key(other)[2]}]


def test_import_unencrypted_key(env, tmp_path):
    path = str(tmp_path / "s")
    result = cli(env, "-d", path, "import", "secret", "key", "b1", "unencrypted:" + BOOTSTRAP1_EDSK)
    assert result.returncode == 0, result.stderr
    assert read_json(path, "public_key_hashs") == [{"name": "b1", "value": BOOTSTRAP1_TZ1}]
    assert read_json(path, "public_keys")[0]["value"]["key"] == BOOTSTRAP1_EDPK


def test_import_fails_when_the_simulated_ledger_is_unplugged(env, tmp_path):
    with open(env["OCTEZ_CLIENT_DOUBLE_STATE"], "w") as handle:
        json.dump({"connected": False}, handle)
    result = cli(env, "-d", str(tmp_path / "s"), "import", "secret", "key", "baker", URI)
    assert result.returncode == 1
    assert "Found no ledger corresponding to %s" % URI in result.stderr


def test_import_fails_for_another_ledger_name(env, tmp_path):
    with open(env["OCTEZ_CLIENT_DOUBLE_STATE"], "w") as handle:
        json.dump({"connected": True, "name": "major-squirrel-thick-hedgehog"}, handle)
    result = cli(env, "-d", str(tmp_path / "s"), "import", "secret", "key", "baker", URI)
    assert result.returncode == 1
    assert "Found no ledger" in result.stderr


def test_unknown_command_fails(env):
    result = cli(env, "frobnicate")
    assert result.returncode == 1
    assert result.stderr.startswith("Error:\n")


def test_add_authorized_key_is_idempotent_and_refuses_conflicts(env, tmp_path):
    path = str(tmp_path / "s")
    assert cli(env, "-d", path, "add", "authorized", "key", BOOTSTRAP1_EDPK, "--name", "gke").returncode == 0
    assert cli(env, "-d", path, "add", "authorized", "key", BOOTSTRAP1_EDPK, "-N", "gke").returncode == 0
    assert read_json(path, "authorized_keys") == [{"name": "gke", "value": BOOTSTRAP1_EDPK}]
    conflict = cli(env, "-d", path, "add", "authorized", "key", PUBLIC_KEY, "--name", "gke")
    assert conflict.returncode == 1
    assert "already aliased" in conflict.stderr
    assert cli(env, "-d", path, "add", "authorized", "key", PUBLIC_KEY).returncode == 0
    assert read_json(path, "authorized_keys")[0] == {"name": PKH, "value": PUBLIC_KEY}


# ---------------------------------------------------------------------------
# HTTP API
# ---------------------------------------------------------------------------

def test_public_key_and_unknown_key(base_dir, launch):
    signer = launch(base_dir)
    status, body = signer.request("GET", "/keys/" + PKH)
    assert status == 200
    assert json.loads(body) == {"public_key": PUBLIC_KEY}
    status, _body = signer.request("GET", "/keys/" + BOOTSTRAP1_TZ1)
    assert status == 404


def test_signature_verifies(base_dir, launch):
    signer = launch(base_dir)
    for payload in (tc.block_payload(CHAIN, 1000, 0), tc.attestation_payload(CHAIN, 1000, 0), tc.transfer_like_payload()):
        signature = signature_of(*signer.sign(PKH, payload))
        assert signature.startswith("edsig")
        assert tc.verify(PUBLIC_KEY, payload, signature)


def test_signing_with_an_unknown_key_fails(base_dir, launch):
    signer = launch(base_dir)
    assert_refused(*signer.sign(BOOTSTRAP1_TZ1, tc.block_payload(CHAIN, 1, 0)))


def test_bad_body_is_a_client_error(base_dir, launch):
    signer = launch(base_dir)
    status, _body = signer.request("POST", "/keys/" + PKH, "not json")
    assert status == 400


def test_magic_bytes_refuse_a_transfer(base_dir, launch):
    signer = launch(base_dir, "-M", "0x11,0x12,0x13")
    assert_refused(*signer.sign(PKH, tc.transfer_like_payload()), message="magic byte 0x03 not allowed")
    assert tc.verify(PUBLIC_KEY, tc.preattestation_payload(CHAIN, 5, 0),
                     signature_of(*signer.sign(PKH, tc.preattestation_payload(CHAIN, 5, 0))))


def test_signing_fails_when_the_simulated_ledger_is_unplugged(env, base_dir, launch):
    signer = launch(base_dir)
    with open(env["OCTEZ_CLIENT_DOUBLE_STATE"], "w") as handle:
        json.dump({"connected": False}, handle)
    assert_refused(*signer.sign(PKH, tc.block_payload(CHAIN, 1, 0)), message="Found no ledger")
    with open(env["OCTEZ_CLIENT_DOUBLE_STATE"], "w") as handle:
        json.dump({"connected": True}, handle)
    signature_of(*signer.sign(PKH, tc.block_payload(CHAIN, 1, 0)))


# ---------------------------------------------------------------------------
# High watermark
# ---------------------------------------------------------------------------

def test_high_watermark_refuses_lower_levels_and_rounds(base_dir, launch):
    signer = launch(base_dir, "-W")
    signature_of(*signer.sign(PKH, tc.block_payload(CHAIN, 2000, 1)))
    assert_refused(*signer.sign(PKH, tc.block_payload(CHAIN, 1999, 5)), message="below high watermark")
    assert_refused(*signer.sign(PKH, tc.block_payload(CHAIN, 2000, 0)), message="not above high watermark")
    signature_of(*signer.sign(PKH, tc.block_payload(CHAIN, 2000, 2)))
    signature_of(*signer.sign(PKH, tc.block_payload(CHAIN, 2001, 0)))


def test_high_watermark_identical_repeat_returns_the_same_signature(base_dir, launch):
    signer = launch(base_dir, "--check-high-watermark")
    payload = tc.attestation_payload(CHAIN, 3000, 0)
    first = signature_of(*signer.sign(PKH, payload))
    assert signature_of(*signer.sign(PKH, payload)) == first
    other = tc.attestation_payload(CHAIN, 3000, 0, slot=9)
    assert_refused(*signer.sign(PKH, other), message="already signed with different data")


def test_high_watermark_is_per_kind_and_per_chain(base_dir, launch):
    signer = launch(base_dir, "-W")
    signature_of(*signer.sign(PKH, tc.block_payload(CHAIN, 500, 0)))
    signature_of(*signer.sign(PKH, tc.preattestation_payload(CHAIN, 400, 0)))
    signature_of(*signer.sign(PKH, tc.attestation_payload(CHAIN, 300, 0)))
    signature_of(*signer.sign(PKH, tc.block_payload("NetXH12Aer3be93", 1, 0)))
    assert_refused(*signer.sign(PKH, tc.attestation_payload(CHAIN, 299, 0)))


def test_high_watermark_file_layout(base_dir, launch):
    signer = launch(base_dir, "-W")
    payload = tc.preattestation_payload(CHAIN, 42, 3)
    signature = signature_of(*signer.sign(PKH, payload))
    assert read_json(base_dir, "preattestation_high_watermarks") == {
        CHAIN: {PKH: {"level": 42, "round": 3, "hash": hashlib.blake2b(payload, digest_size=32).hexdigest(),
                      "signature": signature}}}
    assert not os.path.exists(os.path.join(base_dir, "block_high_watermarks"))
    assert [n for n in os.listdir(base_dir) if n.startswith(".")] == []


def test_watermark_survives_a_restart(base_dir, launch):
    signer = launch(base_dir, "-M", "0x11,0x12,0x13", "-W")
    signature_of(*signer.sign(PKH, tc.block_payload(CHAIN, 3000, 0)))
    assert signer.stop() == 0
    signer = launch(base_dir, "-M", "0x11,0x12,0x13", "-W")
    assert_refused(*signer.sign(PKH, tc.block_payload(CHAIN, 2999, 0)))
    signature_of(*signer.sign(PKH, tc.block_payload(CHAIN, 3001, 0)))


def test_without_w_no_watermark_is_kept(base_dir, launch):
    signer = launch(base_dir)
    signature_of(*signer.sign(PKH, tc.block_payload(CHAIN, 10, 0)))
    signature_of(*signer.sign(PKH, tc.block_payload(CHAIN, 9, 0)))
    assert not os.path.exists(os.path.join(base_dir, "block_high_watermarks"))


def test_concurrent_identical_requests_get_one_signature(base_dir, launch):
    signer = launch(base_dir, "-W")
    payload = tc.block_payload(CHAIN, 7000, 0)
    results = []

    def worker():
        results.append(signer.sign(PKH, payload))

    threads = [threading.Thread(target=worker) for _index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    signatures = set(signature_of(*result) for result in results)
    assert len(signatures) == 1


# ---------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------

def test_authorized_keys_without_authentication(base_dir, launch):
    signer = launch(base_dir)
    assert signer.request("GET", "/authorized_keys") == (200, "{}")


def test_authentication_required(env, base_dir, launch):
    assert cli(env, "-d", base_dir, "add", "authorized", "key", BOOTSTRAP1_EDPK, "--name", "gke").returncode == 0
    signer = launch(base_dir, global_flags=["-A"])
    status, body = signer.request("GET", "/authorized_keys")
    assert status == 200
    assert json.loads(body) == {"authorized_keys": [BOOTSTRAP1_TZ1]}

    payload = tc.block_payload(CHAIN, 100, 0)
    assert_refused(*signer.sign(PKH, payload), message="missing authentication signature field")
    wrong = tc.authentication_signature(SEED, PKH, payload)  # not an authorized key
    assert_refused(*signer.sign(PKH, payload, "?authentication=" + wrong), message="invalid authentication signature")
    other_data = tc.authentication_signature(BOOTSTRAP1_EDSK, PKH, tc.block_payload(CHAIN, 101, 0))
    assert_refused(*signer.sign(PKH, payload, "?authentication=" + other_data))

    good = tc.authentication_signature(BOOTSTRAP1_EDSK, PKH, payload)
    assert tc.verify(PUBLIC_KEY, payload, signature_of(*signer.sign(PKH, payload, "?authentication=" + good)))


def test_sigterm_stops_cleanly(base_dir, launch):
    signer = launch(base_dir, "-W")
    signature_of(*signer.sign(PKH, tc.block_payload(CHAIN, 1, 0)))
    assert signer.stop() == 0


# Generous: the old double (non-daemon handler threads joined on close) never
# stopped while a client kept an idle keep-alive connection; the fixed one
# stops in about one serve_forever poll (0.2 s).
STOP_BOUND_S = 5.0


def idle_keep_alive_connection(port):
    """An HTTP/1.1 connection that got one answer and stays open, idle (as
    haproxy keeps them)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/keys/" + PKH)
    response = conn.getresponse()
    assert response.status == 200
    response.read()
    assert response.version == 11 and conn.sock is not None, "the double did not keep the connection alive"
    return conn


def test_sigterm_with_an_idle_keep_alive_connection_stops_promptly(base_dir, launch):
    """systemctl stop must not wait out its stop timeout because haproxy
    holds a keep-alive connection: the double exits 0 within a few seconds
    and the client reads EOF (the real octez-signer's process exit closes
    every connection)."""
    signer = launch(base_dir, "-W")
    conn = idle_keep_alive_connection(signer.port)
    try:
        start = time.monotonic()
        signer.proc.send_signal(signal.SIGTERM)
        try:
            code = signer.proc.wait(timeout=STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            pytest.fail("the signer double still runs %.0f s after SIGTERM (an idle keep-alive connection is open)"
                        % STOP_BOUND_S)
        took = time.monotonic() - start
        assert code == 0, "".join(signer.log)
        conn.sock.settimeout(2)
        assert conn.sock.recv(1) == b""
    finally:
        conn.close()
    print("octez-signer double stopped %.2f s after SIGTERM" % took)


def test_sigterm_lets_the_request_in_progress_finish(base_dir, launch):
    """A request being answered at SIGTERM still gets its answer; new
    connections are refused meanwhile."""
    signer = launch(base_dir, "-W")
    with open(os.path.join(base_dir, "wallet_lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the watermark update waits on it
        results = []
        worker = threading.Thread(target=lambda: results.append(signer.sign(PKH, tc.block_payload(CHAIN, 1, 0))))
        worker.start()
        deadline = time.monotonic() + 10
        while not any("signing data for key" in line for line in signer.log) and time.monotonic() < deadline:
            try:
                signer.log.append(signer.lines.get(timeout=0.1))
            except queue.Empty:
                pass
        signer.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_BOUND_S
        while True:  # until the listening socket is closed (serve_forever polls every 0.2 s)
            try:
                socket.create_connection(("127.0.0.1", signer.port), timeout=1).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline, "the signer double still accepts connections after SIGTERM"
            time.sleep(0.02)
        assert signer.proc.poll() is None, "the request in progress was not waited for"
        fcntl.flock(lock, fcntl.LOCK_UN)
        worker.join(10)
    assert signer.proc.wait(timeout=STOP_BOUND_S) == 0
    signature_of(*results[0])


def test_healthz_double_with_an_open_connection_stops_promptly(tmp_path):
    """signer-healthz answers HTTP/1.0 (one request per connection) with
    daemon threads and keeps SIGTERM's default action: a client's open
    connection does not hold it either."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, double_path("signer-healthz"), "--port", str(port),
                             "--signer-url", "http://127.0.0.1:9", "--pkh", PKH],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "signer-healthz did not start"
                time.sleep(0.05)
        with conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(64).startswith(b"HTTP/1.0 503")
            idle = socket.create_connection(("127.0.0.1", port), timeout=1)  # connected, no request
            with idle:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=STOP_BOUND_S) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
