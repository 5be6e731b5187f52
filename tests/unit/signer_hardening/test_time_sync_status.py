from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

# SPDX-License-Identifier: GPL-3.0-or-later
"""The time-sync check: chronyc's tracking report to a verdict and metrics."""

import json
import time
import os
import stat
import sys

import pytest

import time_sync_status as ts

# Real `chronyc -c -n tracking` lines (chrony 4.3): synchronized to a pool
# server, and just started without any source.
SYNCED = ("A29FC87B,162.159.200.123,4,1767225600.123456789,-0.000012345,0.000001234,0.000023456,"
          "-12.345,0.001,0.012,0.012345678,0.000456789,64.5,Normal")
UNSYNCED = ("00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,"
            "1.000000000,1.000000000,0.0,Not synchronised")


def report(**changes):
    parsed = ts.parse_tracking(SYNCED)
    parsed.update(changes)
    return parsed


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("metric %s missing from:\n%s" % (name, text))


def test_parse_tracking_types_the_fields():
    parsed = ts.parse_tracking(SYNCED)
    assert parsed["reference_name"] == "162.159.200.123"
    assert parsed["stratum"] == 4
    assert parsed["system_time_offset"] == pytest.approx(-0.000012345)
    assert parsed["root_delay"] == pytest.approx(0.012345678)
    assert parsed["leap_status"] == "Normal"


@pytest.mark.parametrize("line", ["", "506 Cannot talk to daemon", SYNCED + ",extra", SYNCED.replace(",4,", ",four,")])
def test_parse_tracking_refuses_other_output(line):
    with pytest.raises(ts.TrackingError):
        ts.parse_tracking(line)


def test_synchronized_clock():
    synchronized, reason = ts.verdict(ts.parse_tracking(SYNCED), max_offset=0.1)
    assert synchronized
    assert "162.159.200.123" in reason


def test_no_source_is_not_synchronized():
    synchronized, reason = ts.verdict(ts.parse_tracking(UNSYNCED), max_offset=0.1)
    assert not synchronized
    assert "no synchronized source" in reason


@pytest.mark.parametrize("offset", [0.5, -0.5])
def test_offset_beyond_the_limit_is_not_synchronized(offset):
    synchronized, reason = ts.verdict(report(system_time_offset=offset), max_offset=0.1)
    assert not synchronized
    assert "0.500000 s off" in reason


def test_stratum_16_is_not_synchronized():
    assert not ts.verdict(report(stratum=16), max_offset=0.1)[0]


def test_status_maps_to_exit_codes():
    assert ts.status(SYNCED, 0.1)[3] == ts.EXIT_SYNCHRONIZED
    assert ts.status(UNSYNCED, 0.1)[3] == ts.EXIT_NOT_SYNCHRONIZED
    assert ts.status(None, 0.1)[3] == ts.EXIT_NO_CHRONYD
    assert ts.status("506 Cannot talk to daemon", 0.1)[3] == ts.EXIT_NO_CHRONYD


def test_metrics_of_a_synchronized_clock():
    text = ts.render_metrics(ts.parse_tracking(SYNCED), True, now=1767225660.0)
    assert metric(text, "tezos_bakery_time_chronyd_up") == 1
    assert metric(text, "tezos_bakery_time_synchronized") == 1
    assert metric(text, "tezos_bakery_time_offset_seconds") == pytest.approx(-0.000012345)
    assert metric(text, "tezos_bakery_time_root_distance_seconds") == pytest.approx(0.012345678 / 2 + 0.000456789)
    assert metric(text, "tezos_bakery_time_stratum") == 4
    assert metric(text, "tezos_bakery_time_last_update_age_seconds") == pytest.approx(59.877, abs=0.001)
    assert metric(text, "tezos_bakery_time_check_timestamp_seconds") == 1767225660.0
    assert "# TYPE tezos_bakery_time_synchronized gauge" in text


def test_metrics_without_chronyd():
    text = ts.render_metrics(None, False, now=1767225660.0)
    assert metric(text, "tezos_bakery_time_chronyd_up") == 0
    assert metric(text, "tezos_bakery_time_synchronized") == 0
    assert "tezos_bakery_time_offset_seconds" not in text


def test_write_atomically_replaces_the_file(tmp_path):
    target = tmp_path / "time_sync.prom"
    target.write_text("old\n")
    ts.write_atomically(str(target), "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["time_sync.prom"]


def fake_chronyc(tmp_path, output, rc=0):
    script = tmp_path / "chronyc"
    script.write_text("#!%s\nimport sys\nsys.stdout.write(%r)\nsys.exit(%d)\n" % (sys.executable, output, rc))
    script.chmod(0o755)
    return str(script)


def test_main_writes_metrics_and_json(tmp_path, capsys):
    output = tmp_path / "time_sync.prom"
    code = ts.main(["--chronyc", fake_chronyc(tmp_path, SYNCED + "\n"), "--output", str(output), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["synchronized"] is True
    assert summary["tracking"]["stratum"] == 4
    assert metric(output.read_text(), "tezos_bakery_time_synchronized") == 1


def test_the_check_time_is_when_chronyd_was_asked(tmp_path):
    """A slow answer is stamped with the time of the question: a reader that
    stopped chronyd at T and reads a timestamp after T must never get an
    answer from before T (the signer_hardening scenario relies on it)."""
    slow = tmp_path / "slow-chronyc"
    slow.write_text("#!%s\nimport sys, time\ntime.sleep(1.5)\nsys.stdout.write(%r)\n" % (sys.executable, SYNCED + "\n"))
    slow.chmod(0o755)
    output = tmp_path / "time_sync.prom"
    before = time.time()
    assert ts.main(["--chronyc", str(slow), "--output", str(output)]) == 0
    stamped = metric(output.read_text(), "tezos_bakery_time_check_timestamp_seconds")
    assert before - 0.01 <= stamped < before + 1.0


def test_main_when_chronyd_is_down(tmp_path, capsys):
    output = tmp_path / "time_sync.prom"
    code = ts.main(["--chronyc", fake_chronyc(tmp_path, "506 Cannot talk to daemon\n", rc=1), "--output", str(output)])
    assert code == ts.EXIT_NO_CHRONYD
    assert capsys.readouterr().out.startswith("NOT synchronized: chronyd does not answer")
    assert metric(output.read_text(), "tezos_bakery_time_chronyd_up") == 0


def test_main_with_a_missing_chronyc(tmp_path):
    assert ts.main(["--chronyc", str(tmp_path / "absent")]) == ts.EXIT_NO_CHRONYD
