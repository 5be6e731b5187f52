from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

# SPDX-License-Identifier: GPL-3.0-or-later
"""The failover decision, a pure state machine driven by a fake clock.

Probe interval 1 s, down after 3 failures, failback after 60 s healthy.
"""

import pytest

from lte_failover import FailoverMachine

HOLD = 60


def machine(names=("wired", "lte"), active=None):
    return FailoverMachine(list(names), failures_before_down=3, hold_time=HOLD, active=active)


def run(fsm, start, seconds, **results):
    """One probe round per second from `start` for `seconds` rounds; returns the switches made."""
    switches = []
    for tick in range(seconds):
        switch, _changes = fsm.step(results, start + tick)
        if switch is not None:
            switches.append((start + tick, switch))
    return switches


def test_starts_on_the_primary_and_stays_while_it_answers():
    fsm = machine()
    assert fsm.active == "wired"
    assert run(fsm, 0, 300, wired=True, lte=True) == []
    assert fsm.switches == 0


def test_unknown_uplinks_are_not_switched_to():
    fsm = machine()
    # Nothing probed yet: no verdict, no switch.
    assert fsm.decide(0) is None
    assert fsm.health["lte"].up is None


def test_fails_over_after_the_configured_failures_in_a_row():
    fsm = machine()
    run(fsm, 0, 5, wired=True, lte=True)
    assert run(fsm, 5, 2, wired=False, lte=True) == []
    switches = run(fsm, 7, 1, wired=False, lte=True)
    assert [(when, switch.old, switch.new) for when, switch in switches] == [(7, "wired", "lte")]
    assert "wired is down (3 probes in a row unanswered)" in switches[0][1].reason
    assert fsm.active == "lte"
    assert fsm.switches == 1


def test_a_single_lost_probe_does_not_fail_over():
    fsm = machine()
    for second in range(100):
        # every third probe lost, never three in a row
        assert fsm.step({"wired": second % 3 != 0, "lte": True}, second)[0] is None
    assert fsm.active == "wired"


def test_does_not_fail_over_to_a_backup_that_is_down_too():
    fsm = machine()
    run(fsm, 0, 5, wired=True, lte=True)
    assert run(fsm, 5, 10, wired=False, lte=False) == []
    assert fsm.active == "wired"
    assert fsm.all_down


def test_does_not_fail_over_to_a_backup_whose_last_probe_failed():
    fsm = machine()
    run(fsm, 0, 5, wired=True, lte=True)
    run(fsm, 5, 2, wired=False, lte=True)
    # lte still "up" (one failure) but its last probe failed: wait for it.
    assert fsm.step({"wired": False, "lte": False}, 7)[0] is None
    assert fsm.step({"wired": False, "lte": True}, 8)[0].new == "lte"


def test_fails_back_only_after_the_hold_time():
    fsm = machine()
    run(fsm, 0, 5, wired=True, lte=True)
    run(fsm, 5, 3, wired=False, lte=True)
    assert fsm.active == "lte"
    # wired answers again from t=20 on: no failback during the hold time...
    assert run(fsm, 8, 12, wired=False, lte=True) == []
    assert run(fsm, 20, HOLD, wired=True, lte=True) == []
    assert fsm.active == "lte"
    # ...and at exactly hold_time of continuous answers, back to wired.
    switches = run(fsm, 20 + HOLD, 1, wired=True, lte=True)
    assert [(when, switch.new) for when, switch in switches] == [(80, "wired")]
    assert "hold time 60 s" in switches[0][1].reason
    assert fsm.switches == 2


def test_a_flapping_primary_never_takes_the_traffic_back():
    fsm = machine()
    run(fsm, 0, 5, wired=True, lte=True)
    run(fsm, 5, 3, wired=False, lte=True)
    assert fsm.active == "lte"
    # Up for 50 s, one lost probe, up again, for ten minutes: never 60 s in a row.
    for second in range(8, 608):
        switch, _changes = fsm.step({"wired": (second - 8) % 51 != 50, "lte": True}, second)
        assert switch is None, "failed back at %d s" % second
    assert fsm.active == "lte"
    assert fsm.switches == 1


def test_a_single_failure_restarts_the_hold_clock():
    fsm = machine()
    run(fsm, 0, 5, wired=True, lte=True)
    run(fsm, 5, 3, wired=False, lte=True)
    run(fsm, 8, 59, wired=True, lte=True)
    assert fsm.step({"wired": False, "lte": True}, 67)[0] is None
    assert fsm.stable_for("wired", 67) == 0
    run(fsm, 68, HOLD, wired=True, lte=True)
    assert fsm.active == "lte"
    assert fsm.step({"wired": True, "lte": True}, 68 + HOLD)[0].new == "wired"


def test_switches_back_at_once_when_the_backup_dies_too():
    """On LTE, LTE dies, wired answers again: go to wired now, no hold time."""
    fsm = machine()
    run(fsm, 0, 5, wired=True, lte=True)
    run(fsm, 5, 3, wired=False, lte=True)
    run(fsm, 8, 3, wired=False, lte=False)
    assert fsm.active == "lte"
    assert fsm.all_down
    switch, changes = fsm.step({"wired": True, "lte": False}, 11)
    assert switch.new == "wired"
    assert changes == {"wired": "up"}
    assert not fsm.all_down


def test_all_down_keeps_the_current_uplink():
    fsm = machine()
    run(fsm, 0, 5, wired=True, lte=True)
    run(fsm, 5, 3, wired=False, lte=True)
    assert run(fsm, 8, 600, wired=False, lte=False) == []
    assert fsm.active == "lte"


def test_reports_verdict_changes():
    fsm = machine()
    assert fsm.step({"wired": True, "lte": True}, 0)[1] == {"wired": "up", "lte": "up"}
    assert fsm.step({"wired": False, "lte": True}, 1)[1] == {}
    fsm.step({"wired": False, "lte": True}, 2)
    assert fsm.step({"wired": False, "lte": True}, 3)[1] == {"wired": "down"}
    assert fsm.step({"wired": True, "lte": True}, 4)[1] == {"wired": "up"}


THREE = ("wired", "lte", "wifi")


def test_three_uplinks_fail_over_in_priority_order():
    fsm = machine(THREE)
    run(fsm, 0, 5, wired=True, lte=True, wifi=True)
    switches = run(fsm, 5, 3, wired=False, lte=True, wifi=True)
    assert [switch.new for _when, switch in switches] == ["lte"]
    switches = run(fsm, 8, 3, wired=False, lte=False, wifi=True)
    assert [switch.new for _when, switch in switches] == ["wifi"]


def test_three_uplinks_fail_back_to_the_highest_priority_stable_one():
    """The bug of tezos-on-gke's script: failing back to the wrong uplink."""
    fsm = machine(THREE)
    run(fsm, 0, 5, wired=True, lte=True, wifi=True)
    run(fsm, 5, 6, wired=False, lte=False, wifi=True)
    assert fsm.active == "wifi"
    # lte recovers first, wired 10 s later.
    run(fsm, 11, 10, wired=False, lte=True, wifi=True)
    switches = run(fsm, 21, 200, wired=True, lte=True, wifi=True)
    # lte is stable first: wifi -> lte at 11 + 60, then lte -> wired at 21 + 60.
    assert [(when, switch.old, switch.new) for when, switch in switches] == [
        (71, "wifi", "lte"), (81, "lte", "wired")]
    assert fsm.active == "wired"


def test_three_uplinks_fail_back_straight_to_the_primary_when_both_are_stable():
    fsm = machine(THREE)
    run(fsm, 0, 5, wired=True, lte=True, wifi=True)
    run(fsm, 5, 6, wired=False, lte=False, wifi=True)
    switches = run(fsm, 11, 100, wired=True, lte=True, wifi=True)
    assert [(when, switch.new) for when, switch in switches] == [(71, "wired")]


def test_adopted_backup_must_see_the_primary_prove_itself():
    """A restart while on LTE: the daemon starts on LTE, wired needs the hold time."""
    fsm = machine(active="lte")
    switches = run(fsm, 0, HOLD + 1, wired=True, lte=True)
    assert [(when, switch.new) for when, switch in switches] == [(HOLD, "wired")]


def test_zero_hold_time_fails_back_on_the_first_answer():
    fsm = FailoverMachine(["wired", "lte"], failures_before_down=1, hold_time=0)
    fsm.step({"wired": True, "lte": True}, 0)
    assert fsm.step({"wired": False, "lte": True}, 1)[0].new == "lte"
    assert fsm.step({"wired": True, "lte": True}, 2)[0].new == "wired"


def test_rejects_bad_names():
    with pytest.raises(ValueError):
        FailoverMachine(["wired", "wired"], 3, 60)
    with pytest.raises(ValueError):
        FailoverMachine(["wired", "lte"], 3, 60, active="wifi")
