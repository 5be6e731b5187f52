"""The HA lab: a test client signs real Tenderbake payloads (checked with
tests/lib/tezos_crypto.py) through the forwarder's haproxy, which reaches
pi1 and pi2 through their tunnels. Requests go to pi1; a stopped signer or a
failed Ledger check on pi1 moves them to pi2 (failover timed, several runs);
pi1 back takes them back (failback timed). Then the double-signing case:
pi1's -W refuses a second block at a level it signed, pi2 would sign it
after a failover, the signer guard refuses it.

The client runs on the controller and talks to the forwarder's address on
the lab's own docker network; faults are injected with `docker exec`."""
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

testinfra_hosts = ["ansible://forwarder"]

URI = "ledger://molecule-double-ledger-nano/ed25519/0h/0h"
SEED, EDPK, PKH = tc.double_ledger_key(URI)
CHAIN = "NetXdQprcVkpaWU"
HAPROXY = 6742
GUARD = 6732
# Runs per fault type, and the failover bound the issue asks for (with the
# tezos_nodes default haproxy check timing: inter 2 s, fall 2, rise 3).
RUNS = int(os.environ.get("HA_LAB_RUNS", "3"))
FAILOVER_LIMIT = 10.0
# Single runs may exceed FAILOVER_LIMIT here: the Pis are emulated (qemu on
# a loaded 2-core host) and each health check and Ledger check runs Python
# under emulation. The bound of the design is detection (signer_health's
# interval) + 2 checks 2 s apart + the check timeout: about 8.5 s here.
OUTLIER_LIMIT = float(os.environ.get("HA_LAB_OUTLIER_LIMIT", "15"))
FAILBACK_LIMIT = 45.0
LEDGER_STATE = "/etc/octez-client-double/ledger.json"
MEASURES = os.environ.get("HA_LAB_MEASURES") or os.path.join(
    os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "..", "..", "tests", "output", "ha-lab-failover.txt")

RESULTS = {}
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def docker(*args, stdin=None):
    """stdout of `docker ARGS`."""
    return subprocess.run(("docker",) + args, check=True, capture_output=True, input=stdin, timeout=120).stdout


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

    def who_serves(self, port=HAPROXY):
        """Which Pi haproxy sends a GET /keys to (no watermark touched)."""
        try:
            with OPENER.open("http://%s:%d/keys/%s" % (self.address, port, PKH), timeout=5) as answer:
                return answer.headers.get("X-Tezos-Signer") if answer.status == 200 else None
        except OSError:
            return None

    def attest(self, port=HAPROXY):
        """Sign an attestation at the next level: (signer, good signature)."""
        self.level += 1
        payload = tc.attestation_payload(CHAIN, self.level, 0)
        status, body, signer = self.post(port, payload)
        good = status == 200 and isinstance(body, dict) and tc.verify(EDPK, payload, body.get("signature", ""))
        return signer, good

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
                     "forwarder").decode().strip()
    return Client(address)


def record(line):
    print(line)
    with open(MEASURES, "a") as stream:
        stream.write(line + "\n")


@pytest.fixture(scope="module", autouse=True)
def measures_file():
    os.makedirs(os.path.dirname(MEASURES), exist_ok=True)
    with open(MEASURES, "w") as stream:
        stream.write("HA lab failover measures (molecule verify, %s; haproxy inter 2 s fall 2 rise 3,"
                     " signer_health signer probe and Ledger check every 3 s)\n" % time.strftime("%Y-%m-%d %H:%M:%S"))


def stop_signer(pi):
    docker("exec", pi, "systemctl", "stop", "tezos-signer.service")


def start_signer(pi):
    docker("exec", pi, "systemctl", "start", "tezos-signer.service")


def ledger_state(pi):
    return json.loads(docker("exec", pi, "cat", LEDGER_STATE))


def write_ledger_state(pi, state):
    docker("exec", "-i", pi, "sh", "-c", "cat > %s.new && mv %s.new %s" % ((LEDGER_STATE,) * 3),
           stdin=json.dumps(state).encode())


def test_requests_go_to_pi1(client):
    # Tunnels up, first Ledger checks passed, haproxy's rise counted.
    client.wait_for("pi1", time.monotonic(), 180)
    for _count in range(5):
        assert client.attest() == ("pi1", True)
    assert client.who_serves() == "pi1"


FAULTS = {
    "signer stopped": (stop_signer, start_signer),
    "Ledger check failing": (
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
        since = time.monotonic()
        repair("pi1")
        failback = client.wait_for("pi1", since, FAILBACK_LIMIT)
        RESULTS.setdefault(fault, []).append((failover, failback))
        record("%s, run %d: failover to pi2 %.1f s, back to pi1 %.1f s" % (fault, run, failover, failback))


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
        assert statistics.median(failovers) < FAILOVER_LIMIT, "%s: median failover over %.0f s" % (fault, FAILOVER_LIMIT)
        assert max(failovers) < OUTLIER_LIMIT, "%s: a failover took over %.0f s" % (fault, OUTLIER_LIMIT)
        over = [value for value in failovers if value >= FAILOVER_LIMIT]
        if over:
            record("%s: %d of %d runs over %.0f s (%s)" % (fault, len(over), len(runs), FAILOVER_LIMIT,
                                                          ", ".join("%.1f s" % value for value in over)))


def block_marks(pi):
    out = subprocess.run(["docker", "exec", pi, "cat", "/var/lib/tezos-signer/block_high_watermarks"], check=False,
                         capture_output=True, timeout=60)
    return json.loads(out.stdout) if out.returncode == 0 else {}


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

    # pi1 itself refuses another block at that level (-W), asked directly.
    status, body, signer = client.post(HAPROXY, second)
    assert (status, signer) == (500, "pi1")
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
        # `level`) signs the conflicting block: a double bake.
        status, body, signer = client.post(HAPROXY, second)
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
