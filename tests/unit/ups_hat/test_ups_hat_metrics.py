# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus rendering and the loopback /metrics endpoint."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import urllib.error
import urllib.request

import pytest

import ups_hat


def values(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = value
    return out


SNAPSHOT = {"percent": 42.5, "voltage": 3.75, "current": None, "on_battery": True, "runtime": 1234.5,
            "power_loss_events": 3, "shutdown_initiated": False, "read_errors": 7, "last_read": 1700000000.25}


def test_every_metric_is_rendered_with_help_and_type():
    text = ups_hat.render_metrics(SNAPSHOT, "x728")
    for name in ("ups_battery_percent", "ups_battery_voltage_volts", "ups_on_battery",
                 "ups_estimated_runtime_seconds", "ups_power_loss_events_total", "ups_shutdown_initiated",
                 "ups_read_errors_total", "ups_last_read_timestamp_seconds"):
        assert "# HELP %s " % name in text
        assert "# TYPE %s " % name in text
    assert "# TYPE ups_power_loss_events_total counter" in text
    assert "# TYPE ups_read_errors_total counter" in text
    assert text.endswith("\n")


def test_values():
    got = values(ups_hat.render_metrics(SNAPSHOT, "x728"))
    assert got == {
        'ups_info{model="x728"}': "1",
        "ups_battery_percent": "42.5",
        "ups_battery_voltage_volts": "3.75",
        "ups_battery_current_amps": "NaN",
        "ups_on_battery": "1",
        "ups_estimated_runtime_seconds": "1234.5",
        "ups_power_loss_events_total": "3",
        "ups_shutdown_initiated": "0",
        "ups_read_errors_total": "7",
        "ups_last_read_timestamp_seconds": "1700000000.25",
    }


def test_nothing_read_yet_is_nan_not_zero():
    # A 0 % battery and "never read" must not look alike.
    empty = dict(SNAPSHOT, percent=None, voltage=None, on_battery=None, runtime=None, last_read=None)
    got = values(ups_hat.render_metrics(empty, "waveshare"))
    assert got["ups_battery_percent"] == "NaN"
    assert got["ups_on_battery"] == "NaN"
    assert got["ups_estimated_runtime_seconds"] == "NaN"
    assert got["ups_last_read_timestamp_seconds"] == "NaN"


@pytest.fixture
def server(tmp_path):
    config = ups_hat.validate_config({"model": "simulated", "state_dir": str(tmp_path),
                                      "simulated_path": str(tmp_path / "battery.json")})
    (tmp_path / "battery.json").write_text('{"percent": 64, "voltage": 3.81, "on_battery": false}')
    daemon = ups_hat.Daemon(config, ups_hat.make_battery(config), echo=lambda line: None)
    daemon.step()
    srv = ups_hat.serve_metrics(daemon, "127.0.0.1", 0)
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_endpoint_serves_the_daemon_state(server):
    with urllib.request.urlopen(server + "/metrics", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        got = values(response.read().decode())
    assert got["ups_battery_percent"] == "64"
    assert got["ups_battery_voltage_volts"] == "3.81"
    assert got["ups_on_battery"] == "0"
    assert got['ups_info{model="simulated"}'] == "1"


def test_endpoint_other_paths_are_404(server):
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(server + "/", timeout=5)
    assert info.value.code == 404
