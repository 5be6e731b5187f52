"""The HA lab: a test client (the baker's stand-in) signs real Tenderbake
payloads (checked with tests/lib/tezos_crypto.py) through the forwarder as
the baker does: the signer guard, then haproxy (the tezos_nodes template,
on the forwarder's loopback), which reaches pi1 and pi2 through their
tunnels. Requests go to pi1; a stopped signer or an unplugged Ledger on pi1
moves them to pi2 (failover timed, several runs); pi1 back takes them back
(failback timed). Then the double-signing case: pi1's -W refuses a second
block at a level it signed, pi2 would sign it after a failover, the signer
guard refuses it.

The client runs on the controller and talks to the guard on the
forwarder's address on the lab's own docker network; what only the
forwarder itself can reach (haproxy, the tunnels' ends) is asked with
`docker exec forwarder curl`; faults are injected with `docker exec`."""
import json
import os
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
import tezos_crypto as tc
from molecule_containers import container

testinfra_hosts = ["ansible://forwarder"]

URI = "ledger://molecule-double-ledger-nano/ed25519/0h/0h"
SEED, EDPK, PKH = tc.double_ledger_key(URI)
CHAIN = "NetXdQprcVkpaWU"
HAPROXY = 6742  # on the forwarder's loopback only
GUARD = 6732
METRICS = 8404  # haproxy's metrics port (tezos_nodes_haproxy_metrics_port)
PI1_TUNNEL = 16732  # pi1's signer, where its tunnel ends on the forwarder
# Runs per fault type, and the failover bound the issue asks for, for every
# run (the tezos_nodes haproxy defaults: a failed request is sent again to
# the next signer at once; checks every 2 s, fall 2, rise 3).
RUNS = int(os.environ.get("HA_LAB_RUNS", "3"))
FAILOVER_LIMIT = 10.0
FAILBACK_LIMIT = 45.0
LEDGER_STATE = "/etc/octez-client-double/ledger.json"
MEASURES = os.environ.get("HA_LAB_MEASURES") or os.path.join(
    os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "..", "..", "tests", "output", "ha-lab-failover.txt")

RESULTS = {}
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def docker(*args, stdin=None):
    """stdout of `docker ARGS`."""
    return subprocess.run(("docker",) + args, check=True, capture_output=True, input=stdin, timeout=120).stdout


def on_host(host, *args, stdin=None):
    """stdout of ARGS run in the container of molecule instance HOST."""
    return docker("exec", *(("-i",) if stdin is not None else ()), container(host), *args, stdin=stdin)


def in_background(function, *args):
    """Run a fault injection beside the client loop (systemctl stop returns
    only once the signer has exited: the client keeps signing meanwhile, as
    a baker would). Returns the thread to join."""
    thread = threading.Thread(target=function, args=args)
    thread.start()
    return thread


class Client:
    """A baker stand-in: every call signs a new payload at a higher level."""

    def __init__(self, address):
        self.address = address
        self.level = 10000

    def post(self, port, payload, timeout=5):
        """(status, parsed body or None, X-Tezos-Signer)."""
        request = urllib.request.Request("http://%s:%d/keys/%s" % (self.address, port, PKH),
                                         data=json.dumps(payload.hex()).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with OPENER.open(request, timeout=timeout) as answer:
                return answer.status, json.loads(answer.read()), answer.headers.get("X-Tezos-Signer")
        except urllib.error.HTTPError as exc:
            body = exc.read()
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            return exc.code, parsed, exc.headers.get("X-Tezos-Signer")
        except OSError:
            return 0, None, None

    def who_serves(self, port=GUARD):
        """Which Pi haproxy sends a GET /keys to (no watermark touched)."""
        try:
            with OPENER.open("http://%s:%d/keys/%s" % (self.address, port, PKH), timeout=5) as answer:
                return answer.headers.get("X-Tezos-Signer") if answer.status == 200 else None
        except OSError:
            return None

    def attest(self, port=GUARD):
        """Sign an attestation at the next level: (signer, good signature)."""
        self.level += 1
        payload = tc.attestation_payload(CHAIN, self.level, 0)
        status, body, signer = self.post(port, payload)
        good = status == 200 and isinstance(body, dict) and tc.verify(EDPK, payload, body.get("signature", ""))
        return signer, good

    def server_down(self, pi):
        """True when haproxy's metrics (the forwarder's metrics port) say
        `pi` is DOWN (its health checks failed)."""
        try:
            with OPENER.open("http://%s:%d/metrics" % (self.address, METRICS), timeout=5) as answer:
                text = answer.read().decode()
        except OSError:
            return False
        wanted = 'haproxy_server_status{proxy="signers",server="%s",state="DOWN"} 1' % pi
        return wanted in text.splitlines()

    def wait_for(self, pi, since, limit):
        """Seconds from `since` to the first good signature by `pi`."""
        while True:
            signer, good = self.attest()
            if good and signer == pi:
                return time.monotonic() - since
            assert time.monotonic() - since < limit, "no good signature by %s %.0f s after %s" % (pi, limit, since)
            time.sleep(0.2)


@pytest.fixture(scope="module")
def client():
    address = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                     container("forwarder")).decode().strip()
    return Client(address)


def record(line):
    print(line)
    with open(MEASURES, "a") as stream:
        stream.write(line + "\n")


@pytest.fixture(scope="module", autouse=True)
def measures_file():
    os.makedirs(os.path.dirname(MEASURES), exist_ok=True)
    with open(MEASURES, "w") as stream:
        stream.write("HA lab failover measures (molecule verify, %s; through the guard; haproxy: a failed request"
                     " goes to the next signer, checks every 2 s, fall 2, rise 3; signer_health signer probe and"
                     " Ledger check every 3 s)\n" % time.strftime("%Y-%m-%d %H:%M:%S"))


def on_forwarder(port, payload):
    """(status, parsed body, X-Tezos-Signer) of a signing request sent from
    the forwarder itself to its loopback `port` (haproxy, or a tunnel)."""
    out = on_host("forwarder", "curl", "-s", "-m", "10", "-D", "-", "-H", "Content-Type: application/json",
                  "--data-binary", json.dumps(payload.hex()), "http://127.0.0.1:%d/keys/%s" % (port, PKH)).decode()
    head, _sep, body = out.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    signer = {key.lower(): value for key, value in headers.items()}.get("x-tezos-signer")
    return int(lines[0].split()[1]), json.loads(body), signer


def stop_signer(pi):
    on_host(pi, "systemctl", "stop", "tezos-signer.service")


def start_signer(pi):
    on_host(pi, "systemctl", "start", "tezos-signer.service")


def ledger_state(pi):
    return json.loads(on_host(pi, "cat", LEDGER_STATE))


def write_ledger_state(pi, state):
    on_host(pi, "sh", "-c", "cat > %s.new && mv %s.new %s" % ((LEDGER_STATE,) * 3),
            stdin=json.dumps(state).encode())


def test_requests_go_to_pi1(client):
    # Tunnels up, first Ledger checks passed, haproxy's rise counted.
    client.wait_for("pi1", time.monotonic(), 180)
    for _count in range(5):
        assert client.attest() == ("pi1", True)
    assert client.who_serves() == "pi1"


FAULTS = {
    "signer stopped": (stop_signer, start_signer),
    "Ledger unplugged": (
        lambda pi: write_ledger_state(pi, dict(ledger_state(pi), connected=False)),
        lambda pi: write_ledger_state(pi, dict(ledger_state(pi), connected=True))),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_failover_to_pi2_and_back(client, fault):
    inject, repair = FAULTS[fault]
    for run in range(1, RUNS + 1):
        client.wait_for("pi1", time.monotonic(), 60)
        since = time.monotonic()
        injection = in_background(inject, "pi1")
        failover = client.wait_for("pi2", since, 60)
        injection.join()
        # Keep the fault until the health checks have taken pi1 out (until
        # then a request tries pi1 first and goes on to pi2): the failback
        # below is then haproxy's real one (rise checks).
        while not client.server_down("pi1"):
            assert time.monotonic() - since < 60, "haproxy never took pi1 out"
            client.attest()
            time.sleep(0.5)
        out = time.monotonic() - since
        since = time.monotonic()
        repair("pi1")
        failback = client.wait_for("pi1", since, FAILBACK_LIMIT)
        RESULTS.setdefault(fault, []).append((failover, failback))
        record("%s, run %d: failover to pi2 %.1f s, pi1 out of haproxy after %.1f s, back to pi1 %.1f s after the"
               " repair" % (fault, run, failover, out, failback))


def test_failover_summary():
    assert sorted(RESULTS) == sorted(FAULTS)
    for fault, runs in sorted(RESULTS.items()):
        failovers = [run[0] for run in runs]
        failbacks = [run[1] for run in runs]
        record("%s: failover median %.1f s, max %.1f s (%d runs); failback median %.1f s, max %.1f s"
               % (fault, statistics.median(failovers), max(failovers), len(runs),
                  statistics.median(failbacks), max(failbacks)))
    for fault, runs in sorted(RESULTS.items()):
        failovers = [run[0] for run in runs]
        assert max(failovers) < FAILOVER_LIMIT, "%s: a failover took %.1f s (bound %.0f s)" % (
            fault, max(failovers), FAILOVER_LIMIT)


def block_marks(pi):
    """pi's -W block marks. No marks file yet (no block signed) is {}; any
    other failure (no container, no signer state directory) fails the test:
    an empty answer must never stand in for a missing input."""
    script = "cd /var/lib/tezos-signer && if [ -e block_high_watermarks ]; then cat block_high_watermarks; else echo '{}'; fi"
    return json.loads(on_host(pi, "sh", "-c", script))


def test_no_double_signing_after_failover(client):
    client.wait_for("pi1", time.monotonic(), 60)
    client.level += 1
    level = client.level
    first = tc.block_payload(CHAIN, level, 0)
    second = tc.block_payload(CHAIN, level, 0, timestamp=1700000999)  # another block, same level and round

    # pi1 signs the block (through the guard, the production path).
    status, body, signer = client.post(GUARD, first)
    assert (status, signer) == (200, "pi1")
    assert tc.verify(EDPK, first, body["signature"])
    signature = body["signature"]

    # pi1 itself refuses another block at that level (-W), asked directly
    # (where its tunnel ends on the forwarder).
    status, body, _signer = on_forwarder(PI1_TUNNEL, second)
    assert status == 500
    assert "already signed with different data" in body[0]["msg"]
    # The guard refuses it without asking anyone.
    assert client.post(GUARD, second)[0] == 409

    # Failover: pi1's signer stops, haproxy moves to pi2.
    stop_signer("pi1")
    try:
        since = time.monotonic()
        while client.who_serves() != "pi2":
            assert time.monotonic() - since < 30, "haproxy did not move to pi2"
            time.sleep(0.3)

        # Through the guard: the conflicting block is refused, pi2 never
        # sees it; the block pi1 signed gets its stored signature again.
        status, body, _signer = client.post(GUARD, second)
        assert status == 409 and "already signed" in body[0]["msg"]
        assert level not in [mark.get("level") for chain in block_marks("pi2").values() for mark in chain.values()]
        assert client.post(GUARD, first)[:2] == (200, {"signature": signature})
        record("double signing: level %d signed by pi1; after failover the guard refused another block at"
               " that level (pi2 not asked)" % level)

        # Without the guard, pi2 (its -W and its Ledger never saw level
        # `level`) signs the conflicting block: a double bake. (With pi1
        # up, haproxy alone would do the same: pi1's refusal is a 500, and
        # a failed request goes on to the next signer. The guard in front
        # is what makes that retry safe.)
        status, body, signer = on_forwarder(HAPROXY, second)
        assert (status, signer) == (200, "pi2")
        assert tc.verify(EDPK, second, body["signature"]) and tc.verify(EDPK, first, signature)
        record("double signing: WITHOUT the guard pi2 signed another block at level %d round 0 (two valid"
               " signatures, same key, same level and round)" % level)

        # New levels still go through the guard to pi2.
        client.level += 1
        status, body, signer = client.post(GUARD, tc.block_payload(CHAIN, client.level, 0))
        assert (status, signer) == (200, "pi2")
    finally:
        start_signer("pi1")
    client.wait_for("pi1", time.monotonic(), FAILBACK_LIMIT)
