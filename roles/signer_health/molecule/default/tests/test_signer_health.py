"""The health endpoint on the Pi, against the real signer role and the
simulated Ledger: /healthz flips with the Ledger and the signer, /metrics
says why, and a hung Ledger never blocks the endpoint."""
import json
import time

import pytest

HEALTH = "http://127.0.0.1:6733"
LEDGER_STATE = "/etc/octez-client-double/ledger.json"
# check_interval is 3 s in converge.yml: a flip must show within a few checks.
FLIP_DEADLINE = 30


def get(host, path):
    out = host.run("curl -s -m 5 -o /tmp/health-body -w '%%{http_code} %%{time_total}' %s%s", HEALTH, path)
    assert out.rc == 0, out.stderr
    code, seconds = out.stdout.split()
    return int(code), host.file("/tmp/health-body").content_string, float(seconds)


def error_kind(body):
    """The Ledger verdict's error_kind in a /healthz body (None if not JSON)."""
    try:
        return json.loads(body)["ledger"]["error_kind"]
    except (ValueError, KeyError, TypeError):
        return None


def wait_for(host, path, status, kind=None):
    """Poll until `path` answers `status` (and, given `kind`, a Ledger
    verdict of that error_kind). A check that straddles a state change sees
    the old state in one step and the new one in the next (e.g. the app
    list before the flip, the baking query after it), so the first 503 may
    name another cause: wait for the verdict of the new state."""
    deadline = time.monotonic() + FLIP_DEADLINE
    while True:
        code, body, _seconds = get(host, path)
        if code == status and (kind is None or error_kind(body) == kind):
            return code, body
        if time.monotonic() > deadline:
            return code, body
        time.sleep(1)


def metric(body, name, **labels):
    """Value of the first series `name` carrying all of `labels`."""
    wanted = ['%s="%s"' % item for item in labels.items()]
    for line in body.splitlines():
        series, _sep, value = line.rpartition(" ")
        if series.split("{", 1)[0] == name and all(label in series for label in wanted):
            return float(value)
    raise AssertionError("metric %s%s missing" % (name, labels))


def set_ledger(host, **changes):
    state = json.loads(host.file(LEDGER_STATE).content_string)
    state.update(changes)
    host.run_expect([0], "printf '%%s' %s > %s", json.dumps(state), LEDGER_STATE)


@pytest.fixture
def ledger(host):
    """Restore the simulated Ledger and the signer after each test."""
    saved = host.file(LEDGER_STATE).content_string
    yield
    host.run_expect([0], "printf '%%s' %s > %s", saved, LEDGER_STATE)
    host.run_expect([0], "systemctl start tezos-signer")
    assert wait_for(host, "/healthz", 200)[0] == 200


def test_service_runs_unprivileged_on_loopback(host):
    assert host.service("tezos-signer-health").is_running
    assert host.service("tezos-signer-health").is_enabled
    assert host.socket("tcp://127.0.0.1:6733").is_listening
    assert not host.socket("tcp://0.0.0.0:6733").is_listening
    user = host.check_output("systemctl show -p User --value tezos-signer-health")
    assert user == "tezos-signer"


def test_healthy_when_signer_and_ledger_are_ready(host):
    code, body = wait_for(host, "/healthz", 200)
    assert code == 200, body
    report = json.loads(body)
    assert report["healthy"] is True
    assert report["signer"]["public_key_matches"] is True
    assert report["ledger"]["ready"] is True


def test_metrics_report_ledger_and_signer(host):
    wait_for(host, "/healthz", 200)
    code, body, _seconds = get(host, "/metrics")
    assert code == 200
    assert metric(body, "tezos_signer_up") == 1
    assert metric(body, "tezos_ledger_connected") == 1
    assert metric(body, "tezos_ledger_authorized") == 1
    assert metric(body, "tezos_ledger_ready") == 1
    assert metric(body, "tezos_ledger_high_watermark_level") >= 100
    assert metric(body, "tezos_ledger_last_check_age_seconds") < 30
    assert metric(body, "tezos_signer_health_ready") == 1


@pytest.mark.usefixtures("ledger")
def test_app_closed_turns_unhealthy_then_back(host):
    set_ledger(host, app="Tezos Wallet")
    code, body = wait_for(host, "/healthz", 503, kind="app_not_open")
    assert code == 503, body
    assert error_kind(body) == "app_not_open", body
    _code, metrics, _seconds = get(host, "/metrics")
    assert metric(metrics, "tezos_ledger_app_open") == 0
    assert metric(metrics, "tezos_signer_health_ready") == 0
    set_ledger(host, app="Tezos Baking")
    assert wait_for(host, "/healthz", 200)[0] == 200


@pytest.mark.usefixtures("ledger")
def test_unplugged_ledger_turns_unhealthy(host):
    set_ledger(host, connected=False)
    code, body = wait_for(host, "/healthz", 503, kind="no_ledger")
    assert code == 503, body
    assert error_kind(body) == "no_ledger", body


@pytest.mark.usefixtures("ledger")
def test_other_key_authorized_turns_unhealthy(host):
    set_ledger(host, authorized={"curve": "ed25519", "path": "44h/1729h/1h/0h"})
    code, body = wait_for(host, "/healthz", 503, kind="wrong_key")
    assert code == 503, body
    assert error_kind(body) == "wrong_key", body
    _code, metrics, _seconds = get(host, "/metrics")
    assert metric(metrics, "tezos_ledger_authorized") == 0


@pytest.mark.usefixtures("ledger")
def test_stopped_signer_turns_unhealthy(host):
    host.run_expect([0], "systemctl stop tezos-signer")
    code, body = wait_for(host, "/healthz", 503)
    assert code == 503, body
    assert json.loads(body)["signer"]["up"] is False
    _code, metrics, _seconds = get(host, "/metrics")
    assert metric(metrics, "tezos_signer_up") == 0


@pytest.mark.usefixtures("ledger")
def test_hung_ledger_never_blocks_the_endpoint(host):
    set_ledger(host, hang_seconds=60)
    code, body = wait_for(host, "/healthz", 503)
    assert code == 503, body
    assert json.loads(body)["ledger"]["error_kind"] == "timeout"
    # The check is killed after check_timeout (2 s); answers stay immediate.
    for _attempt in range(5):
        _code, _body, seconds = get(host, "/healthz")
        assert seconds < 1.0
    # No octez-client is left behind holding the device.
    time.sleep(3)
    leftovers = host.run("pgrep -u tezos-signer -f 'octez-client.*ledger' | wc -l").stdout.strip()
    assert int(leftovers) <= 1


def test_unit_is_sandboxed(host):
    props = host.check_output(
        "systemctl show tezos-signer-health -p NoNewPrivileges -p ProtectSystem -p DevicePolicy -p PrivateTmp")
    assert "NoNewPrivileges=yes" in props
    assert "ProtectSystem=strict" in props
    assert "DevicePolicy=closed" in props
    assert "PrivateTmp=yes" in props


def test_held_ledger_lock_is_waited_for_not_fought_over(host):
    # Someone else (an operator's ledger_info run) holds the Ledger: the
    # service skips its checks (counted as busy) and keeps its last verdict.
    wait_for(host, "/healthz", 200)
    before = metric(get(host, "/metrics")[1], "tezos_ledger_checks_total", result="busy")
    holder = host.run("systemd-run --unit=ledger-lock-holder flock /run/tezos-ledger/ledger.lock sleep 15")
    assert holder.rc == 0, holder.stderr
    try:
        time.sleep(10)
        code, _body, _seconds = get(host, "/healthz")
        assert code == 200
        after = metric(get(host, "/metrics")[1], "tezos_ledger_checks_total", result="busy")
        assert after > before
    finally:
        host.run("systemctl stop ledger-lock-holder")
