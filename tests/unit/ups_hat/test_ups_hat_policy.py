# SPDX-License-Identifier: GPL-3.0-or-later
"""The decision logic (Policy) and the ordered stop-then-power-off, driven
end to end through Daemon.step() with a scripted battery."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import subprocess

import pytest

import ups_hat

R = ups_hat.Reading


def policy(percent=20, runtime=300, debounce=3):
    return ups_hat.Policy(percent, runtime, debounce)


def kinds(events):
    return [kind for kind, _reason in events]


# ------------------------------------------------------------- Policy

def test_power_loss_is_an_event_once():
    p = policy()
    assert p.observe(R(100, 4.1, False), None) == []
    assert kinds(p.observe(R(99, 4.0, True), None)) == ["power_lost"]
    assert p.observe(R(98, 4.0, True), None) == []
    assert kinds(p.observe(R(98, 4.1, False), None)) == ["power_restored"]


def test_starting_on_battery_counts_as_a_power_loss():
    assert kinds(policy().observe(R(60, 3.8, True), None)) == ["power_lost"]


def test_shutdown_after_debounce_reads_at_or_below_threshold():
    p = policy(debounce=3)
    p.observe(R(80, 3.9, True), None)
    assert p.observe(R(20, 3.5, True), None) == []
    assert p.observe(R(19, 3.5, True), None) == []
    assert p.observe(R(18, 3.5, True), None) == [("shutdown", "percent")]
    assert p.shutdown_initiated


def test_shutdown_happens_only_once():
    p = policy(debounce=1)
    assert p.observe(R(10, 3.4, True), None)[-1] == ("shutdown", "percent")
    assert p.observe(R(9, 3.4, True), None) == []


def test_one_good_read_resets_the_debounce():
    p = policy(debounce=2)
    p.observe(R(15, 3.5, True), None)
    p.observe(R(25, 3.6, True), None)  # gauge noise back above the threshold
    assert p.observe(R(15, 3.5, True), None) == []
    assert p.observe(R(15, 3.5, True), None) == [("shutdown", "percent")]


def test_never_shuts_down_on_mains_even_when_low():
    p = policy(debounce=1)
    for _poll in range(10):
        assert p.observe(R(3, 3.3, False), 10) == []
    assert not p.shutdown_initiated


def test_power_back_before_threshold_resets_everything():
    p = policy(debounce=3)
    p.observe(R(22, 3.6, True), None)
    p.observe(R(19, 3.5, True), None)
    p.observe(R(19, 3.5, True), None)
    assert kinds(p.observe(R(19, 3.6, False), None)) == ["power_restored"]
    assert p.low_reads == 0
    assert kinds(p.observe(R(19, 3.5, True), None)) == ["power_lost"]  # a new outage starts from zero
    assert p.observe(R(19, 3.5, True), None) == []


def test_low_runtime_triggers_a_shutdown_above_the_percent_threshold():
    p = policy(percent=20, runtime=300, debounce=2)
    p.observe(R(60, 3.8, True), 299)
    assert p.observe(R(60, 3.8, True), 250) == [("shutdown", "runtime")]


def test_unknown_runtime_never_triggers():
    p = policy(percent=20, runtime=300, debounce=1)
    assert kinds(p.observe(R(60, 3.8, True), None)) == ["power_lost"]


def test_thresholds_at_zero_are_disabled():
    p = policy(percent=0, runtime=300, debounce=1)
    assert kinds(p.observe(R(0, 3.0, True), None)) == ["power_lost"]
    p = policy(percent=20, runtime=0, debounce=1)
    assert kinds(p.observe(R(50, 3.0, True), 1)) == ["power_lost"]


# ------------------------------------------------------------- ordered shutdown

class Systemd:
    """Records commands in order; units go inactive when stopped."""

    def __init__(self, stuck=()):
        self.calls = []
        self.active = {"tezos-signer.service", "tezos-signer-health.service"}
        self.stuck = set(stuck)

    def __call__(self, argv, **kwargs):
        self.calls.append(list(argv))
        if argv[1:2] == ["stop"]:
            if argv[2] in self.stuck:
                raise subprocess.TimeoutExpired(argv, kwargs["timeout"])
            self.active.discard(argv[2])
        elif argv[1:2] == ["start"]:
            self.active.add(argv[-1])
        elif argv[1:2] == ["is-active"]:
            return Done("active\n" if argv[2] in self.active else "inactive\n", 0 if argv[2] in self.active else 3)
        return Done()


class Done:
    def __init__(self, stdout="", returncode=0):
        self.stdout = stdout
        self.returncode = returncode


class Log:
    def __init__(self):
        self.lines = []

    def __call__(self, action, **details):
        self.lines.append((action, details))

    def actions(self):
        return [(a, d.get("unit")) if "unit" in d else a for a, d in self.lines]


UNITS = ["tezos-signer.service", "tezos-signer-health.service"]
POWEROFF = ["/usr/bin/systemctl", "poweroff"]


def test_units_stop_before_the_poweroff_command():
    systemd, log = Systemd(), Log()
    assert ups_hat.stop_then_poweroff(UNITS, POWEROFF, log, lambda: True, run=systemd) == "poweroff"
    assert [c for c in systemd.calls if c[1] != "is-active"] == [
        ["/usr/bin/systemctl", "stop", "tezos-signer.service"],
        ["/usr/bin/systemctl", "stop", "tezos-signer-health.service"],
        POWEROFF,
    ]
    assert log.actions() == [("stop", "tezos-signer.service"), ("stopped", "tezos-signer.service"),
                             ("stop", "tezos-signer-health.service"), ("stopped", "tezos-signer-health.service"),
                             "poweroff"]


def test_a_stuck_unit_does_not_keep_a_dying_host_up():
    systemd, log = Systemd(stuck=["tezos-signer.service"]), Log()
    assert ups_hat.stop_then_poweroff(UNITS, POWEROFF, log, lambda: True, run=systemd, stop_timeout=5) == "poweroff"
    assert ("stop_timeout", "tezos-signer.service") in log.actions()
    assert ("still_running", "tezos-signer.service") in log.actions()
    assert systemd.calls[-1] == POWEROFF


def test_power_back_during_the_stops_restarts_the_units_instead():
    systemd, log = Systemd(), Log()
    assert ups_hat.stop_then_poweroff(UNITS, POWEROFF, log, lambda: False, run=systemd) == "aborted"
    assert POWEROFF not in systemd.calls
    assert "shutdown_aborted" in log.actions()
    assert systemd.active == set(UNITS)


# ------------------------------------------------------------- daemon

class Script(ups_hat.Battery):
    model = "simulated"

    def __init__(self, readings):
        self.readings = list(readings)

    def read(self):
        item = self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]
        if isinstance(item, Exception):
            raise item
        return item


def daemon(tmp_path, readings, **overrides):
    config = ups_hat.validate_config(dict({"model": "simulated", "state_dir": str(tmp_path),
                                           "debounce_reads": 2, "shutdown_percent": 20}, **overrides))
    systemd = Systemd()
    clock = iter(range(0, 100000, 5))
    d = ups_hat.Daemon(config, Script(readings), run=systemd, clock=lambda: next(clock), echo=lambda line: None)
    return d, systemd


def action_names(tmp_path):
    lines = (tmp_path / "actions.log").read_text().splitlines()
    return [line.split()[1] + ("" if "unit=" not in line else " " + line.split("unit=")[1].split()[0])
            for line in lines]


def test_drain_to_threshold_stops_the_signer_then_powers_off(tmp_path):
    readings = [R(100, 4.1, False), R(80, 3.9, True), R(50, 3.7, True), R(20, 3.55, True), R(15, 3.5, True),
                R(14, 3.5, True)]
    d, systemd = daemon(tmp_path, readings)
    for _poll in range(5):
        d.step()
    assert action_names(tmp_path) == [
        "power_lost", "shutdown",
        "stop tezos-signer.service", "stopped tezos-signer.service",
        "stop tezos-signer-health.service", "stopped tezos-signer-health.service",
        "poweroff"]
    assert systemd.calls[-1] == POWEROFF
    assert d.snapshot()["shutdown_initiated"] is True
    assert d.snapshot()["power_loss_events"] == 1


def test_power_restored_above_threshold_stops_nothing(tmp_path):
    readings = [R(100, 4.1, False), R(80, 3.9, True), R(60, 3.8, True), R(55, 3.8, True), R(56, 4.0, False)]
    d, systemd = daemon(tmp_path, readings)
    for _poll in range(8):
        d.step()
    assert action_names(tmp_path) == ["power_lost", "power_restored"]
    assert systemd.calls == []
    assert d.snapshot()["on_battery"] is False


def test_low_and_charging_on_mains_does_nothing(tmp_path):
    d, systemd = daemon(tmp_path, [R(5, 3.4, False)])
    for _poll in range(10):
        d.step()
    assert systemd.calls == []
    assert not (tmp_path / "actions.log").exists()


def test_read_errors_are_counted_and_never_act(tmp_path):
    err = ups_hat.ReadError("i2c gone")
    d, systemd = daemon(tmp_path, [R(15, 3.5, True), err, err, R(15, 3.5, True)])
    d.step()
    d.step()
    d.step()
    assert d.snapshot()["read_errors"] == 2
    assert systemd.calls == []
    d.step()  # the second low read (errors neither count nor reset)
    assert systemd.calls[-1] == POWEROFF


def test_power_back_at_the_last_check_aborts_and_rearms(tmp_path):
    # The final re-read before the power-off finds mains again.
    readings = [R(15, 3.5, True), R(15, 3.5, True), R(16, 3.6, False), R(16, 3.6, False)]
    d, systemd = daemon(tmp_path, readings)
    d.step()
    d.step()
    assert POWEROFF not in systemd.calls
    assert "shutdown_aborted" in action_names(tmp_path)
    assert d.snapshot()["shutdown_initiated"] is False
    assert not d.policy.shutdown_initiated
    d.step()
    assert action_names(tmp_path)[-1] == "power_restored"


def test_power_loss_counter_survives_a_restart(tmp_path):
    d, _systemd = daemon(tmp_path, [R(90, 4.0, True), R(90, 4.0, False), R(90, 4.0, True)])
    for _poll in range(3):
        d.step()
    assert d.snapshot()["power_loss_events"] == 2
    assert json.loads((tmp_path / "state.json").read_text())["power_loss_events_total"] == 2
    again, _systemd = daemon(tmp_path, [R(90, 4.0, False)])
    assert again.snapshot()["power_loss_events"] == 2


def test_action_log_lines_are_timestamped_in_order(tmp_path):
    log = ups_hat.ActionLog(str(tmp_path / "actions.log"))
    log("stop", unit="a.service")
    log("poweroff", command="/bin/true")
    lines = (tmp_path / "actions.log").read_text().splitlines()
    stamps = [line.split()[0] for line in lines]
    assert stamps == sorted(stamps)
    assert all(s.endswith("Z") and "T" in s for s in stamps)
    assert lines[0].split()[1:] == ["stop", "unit=a.service"]


@pytest.mark.parametrize("percent, expected", [(21, []), (20, ["shutdown"])])
def test_threshold_is_inclusive(tmp_path, percent, expected):
    d, _systemd = daemon(tmp_path, [R(percent, 3.6, True)], debounce_reads=1)
    assert kinds(d.step())[1:] == expected
