"""The UPS daemon on the Pi with the simulated battery: it reports the
battery, stops the signer BEFORE it powers off when the battery runs low,
and does nothing when power comes back in time or when it is on mains.

The signer units are stand-ins (prepare.yml) and the power-off command is a
fixture that appends "poweroff-fixture tezos-signer.service=<state>" to the
action log, so the order of events can be read back."""
import json
import time

import pytest

BATTERY = "/run/ups-hat-sim/battery.json"
ACTIONS = "/var/lib/ups-hat/actions.log"
METRICS = "http://127.0.0.1:9101/metrics"
UNITS = ("tezos-signer.service", "tezos-signer-health.service")
# poll_interval 1 s, debounce 3 reads (converge.yml).
DEADLINE = 30


def set_battery(host, percent, voltage, on_battery):
    data = json.dumps({"percent": percent, "voltage": voltage, "on_battery": on_battery})
    host.run_expect([0], "printf '%%s' %s > %s.tmp && mv %s.tmp %s", data, BATTERY, BATTERY, BATTERY)


def metrics(host):
    """The endpoint's values; {} while it does not answer (the daemon is
    starting)."""
    text = host.run("curl -sf -m 5 %s", METRICS).stdout
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def wait_metric(host, name, value, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while True:
        got = metrics(host).get(name)
        if got == value or time.monotonic() > end:
            return got
        time.sleep(0.5)


def actions(host):
    """[(timestamp, action, rest-of-line), ...] in file order."""
    out = []
    for line in host.file(ACTIONS).content_string.splitlines():
        stamp, action, *rest = line.split()
        out.append((stamp, action, " ".join(rest)))
    return out


def wait_action(host, action, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if any(a == action for _s, a, _r in actions(host)):
            return True
        time.sleep(0.5)
    return False


def index(log, action, rest=""):
    return next(i for i, (_s, a, r) in enumerate(log) if a == action and rest in r)


def active(host, unit):
    return host.run("systemctl is-active %s", unit).stdout.strip()


@pytest.fixture
def fresh(host):
    """On mains, full battery, signer up, a freshly started daemon (shutdown
    re-armed) and an empty action log."""
    set_battery(host, 100, 4.15, False)
    host.run_expect([0], "systemctl start %s %s", *UNITS)
    host.run_expect([0], "systemctl restart ups-hat.service")
    assert wait_metric(host, "ups_on_battery", 0) == 0
    host.run_expect([0], ": > %s", ACTIONS)
    yield
    set_battery(host, 100, 4.15, False)
    host.run_expect([0], "systemctl start %s %s", *UNITS)


def test_daemon_runs_sandboxed_with_metrics_on_loopback(host):
    service = host.service("ups-hat")
    assert service.is_running
    assert service.is_enabled
    assert host.socket("tcp://127.0.0.1:9101").is_listening
    assert not host.socket("tcp://0.0.0.0:9101").is_listening
    props = host.check_output(
        "systemctl show ups-hat -p NoNewPrivileges -p ProtectSystem -p ProtectHome -p PrivateTmp -p DevicePolicy"
        " -p ProtectKernelModules -p ReadWritePaths -p StateDirectory")
    for expected in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                     "DevicePolicy=closed", "ProtectKernelModules=yes", "StateDirectory=ups-hat"):
        assert expected in props


def test_installed_config_is_checked_by_the_daemon(host):
    host.run_expect([0], "python3 /usr/local/lib/tezos-bakery/ups_hat.py --check-config"
                         " --config /etc/tezos-bakery/ups-hat.json")
    bad = host.run("echo '{\"model\": \"simulated\", \"shutdown_percent\": 150}' > /tmp/bad.json && "
                   "python3 /usr/local/lib/tezos-bakery/ups_hat.py --check-config --config /tmp/bad.json")
    assert bad.rc == 2
    assert "shutdown_percent" in bad.stderr


@pytest.mark.usefixtures("fresh")
def test_metrics_follow_the_battery(host):
    before = metrics(host)["ups_power_loss_events_total"]
    set_battery(host, 64, 3.81, True)
    assert wait_metric(host, "ups_battery_percent", 64) == 64
    now = metrics(host)
    assert now["ups_battery_voltage_volts"] == 3.81
    assert now["ups_on_battery"] == 1
    assert now["ups_power_loss_events_total"] == before + 1
    assert now["ups_shutdown_initiated"] == 0
    assert now['ups_info{model="simulated"}'] == 1
    assert time.time() - now["ups_last_read_timestamp_seconds"] < 10
    # Power loss is recorded in the journal too.
    assert "power_lost" in host.check_output("journalctl -u ups-hat --no-pager -n 50")
    set_battery(host, 64, 3.95, False)
    assert wait_metric(host, "ups_on_battery", 0) == 0


@pytest.mark.usefixtures("fresh")
def test_drain_stops_the_signer_before_the_poweroff(host):
    for percent in (80, 70, 55, 40, 30, 20, 15, 10):
        set_battery(host, percent, 3.4 + percent / 200, True)
        time.sleep(1)
    assert wait_action(host, "poweroff-fixture"), actions(host)
    log = actions(host)
    order = [index(log, "power_lost"), index(log, "shutdown"),
             index(log, "stop", "unit=tezos-signer.service"), index(log, "stopped", "unit=tezos-signer.service"),
             index(log, "stop", "unit=tezos-signer-health.service"), index(log, "poweroff"),
             index(log, "poweroff-fixture")]
    assert order == sorted(order), log
    assert [s for s, _a, _r in log] == sorted(s for s, _a, _r in log)
    assert "reason=percent" in log[index(log, "shutdown")][2]
    # When the power-off command ran, the signer was already down.
    assert log[index(log, "poweroff-fixture")][2] == "tezos-signer.service=inactive"
    assert active(host, "tezos-signer.service") == "inactive"
    assert active(host, "tezos-signer-health.service") == "inactive"
    assert metrics(host)["ups_shutdown_initiated"] == 1


@pytest.mark.usefixtures("fresh")
def test_power_back_above_threshold_stops_nothing(host):
    for percent in (80, 60, 40):
        set_battery(host, percent, 3.4 + percent / 200, True)
        time.sleep(2)
    set_battery(host, 40, 3.95, False)
    assert wait_action(host, "power_restored"), actions(host)
    time.sleep(5)
    assert [a for _s, a, _r in actions(host)] == ["power_lost", "power_restored"]
    for unit in UNITS:
        assert active(host, unit) == "active"
    assert metrics(host)["ups_shutdown_initiated"] == 0


@pytest.mark.usefixtures("fresh")
def test_low_but_charging_on_mains_does_nothing(host):
    set_battery(host, 5, 3.3, False)
    assert wait_metric(host, "ups_battery_percent", 5) == 5
    time.sleep(6)  # twice the debounce
    assert actions(host) == []
    for unit in UNITS:
        assert active(host, unit) == "active"
    now = metrics(host)
    assert now["ups_on_battery"] == 0
    assert now["ups_shutdown_initiated"] == 0


@pytest.mark.usefixtures("fresh")
def test_unreadable_battery_is_counted_and_changes_nothing(host):
    # One or two low reads (1 s polls), then the battery cannot be read:
    # failed reads must not count towards the 3-read debounce.
    low = json.dumps({"percent": 15, "voltage": 3.5, "on_battery": True})
    host.run_expect([0], "printf '%%s' %s > %s && sleep 1.2 && rm -f %s", low, BATTERY, BATTERY)
    before = metrics(host)["ups_read_errors_total"]
    end = time.monotonic() + DEADLINE
    while metrics(host)["ups_read_errors_total"] < before + 5 and time.monotonic() < end:
        time.sleep(0.5)
    assert metrics(host)["ups_read_errors_total"] >= before + 5
    assert [a for _s, a, _r in actions(host)] == ["power_lost"]
    for unit in UNITS:
        assert active(host, unit) == "active"
    assert "read error" in host.check_output("journalctl -u ups-hat --no-pager -n 20")


@pytest.mark.usefixtures("fresh")
def test_falling_runtime_triggers_the_shutdown_above_the_percent_threshold(host):
    # 2 % per step of a second or two from 95 %: under a minute left once
    # the estimate has its 10 s of samples (converge.yml: a 30 s window),
    # below the 60 s threshold, while the charge is still well above the
    # 20 % one.
    percent = 95
    end = time.monotonic() + 60
    while time.monotonic() < end and not any(a == "poweroff-fixture" for _s, a, _r in actions(host)):
        set_battery(host, percent, 3.9, True)
        percent -= 2
        time.sleep(1)
    log = actions(host)
    assert index(log, "shutdown") < index(log, "stop", "unit=tezos-signer.service") < index(log, "poweroff")
    shutdown = dict(kv.split("=", 1) for kv in log[index(log, "shutdown")][2].split())
    assert shutdown["reason"] == "runtime"
    assert float(shutdown["percent"]) > 30
    assert float(shutdown["runtime"]) <= 60
    assert log[index(log, "poweroff-fixture")][2] == "tezos-signer.service=inactive"
