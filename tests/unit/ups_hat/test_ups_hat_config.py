# SPDX-License-Identifier: GPL-3.0-or-later
"""Configuration validation (also what `--check-config` runs before the
role installs a configuration)."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

import pytest

import ups_hat


def test_defaults_are_valid():
    config = ups_hat.validate_config({})
    assert config["model"] == "x728"
    assert config["stop_units"] == ["tezos-signer.service", "tezos-signer-health.service"]
    assert config["metrics_port"] == 9101


@pytest.mark.parametrize("setting, match", [
    ({"model": "pijuice"}, "model"),
    ({"shutdown_pct": 10}, "unknown setting"),
    ({"shutdown_percent": 101}, "shutdown_percent"),
    ({"shutdown_percent": -1}, "shutdown_percent"),
    ({"shutdown_percent": "20"}, "shutdown_percent"),
    ({"shutdown_percent": True}, "shutdown_percent"),
    ({"shutdown_percent": 0, "shutdown_runtime_seconds": 0}, "both be 0"),
    ({"debounce_reads": 0}, "debounce_reads"),
    ({"debounce_reads": 1.5}, "debounce_reads"),
    ({"poll_interval": 0}, "poll_interval"),
    ({"stop_timeout": 0}, "stop_timeout"),
    ({"stop_units": "tezos-signer.service"}, "stop_units"),
    ({"stop_units": ["tezos-signer"]}, "stop_units"),
    ({"stop_units": ["a.service; reboot"]}, "stop_units"),
    ({"poweroff_command": []}, "poweroff_command"),
    ({"poweroff_command": ["systemctl", "poweroff"]}, "poweroff_command"),
    ({"poweroff_command": "/usr/bin/systemctl poweroff"}, "poweroff_command"),
    ({"metrics_address": "0.0.0.0"}, "loopback"),
    ({"metrics_port": 70000}, "metrics_port"),
    ({"x728_i2c_address": 0x80}, "x728_i2c_address"),
    ({"x728_gpio_chip": "/dev/gpiochip0"}, "x728_gpio_chip"),
    ({"waveshare_cell_empty_volts": 4.2, "waveshare_cell_full_volts": 3.0}, "below"),
    ({"waveshare_shunt_ohms": 0}, "waveshare_shunt_ohms"),
    ({"simulated_path": "battery.json"}, "simulated_path"),
])
def test_bad_settings_are_refused(setting, match):
    with pytest.raises(ups_hat.ConfigError, match=match):
        ups_hat.validate_config(setting)


def test_not_an_object_is_refused():
    with pytest.raises(ups_hat.ConfigError):
        ups_hat.validate_config(["model", "x728"])


def test_runtime_only_or_percent_only_is_fine():
    assert ups_hat.validate_config({"shutdown_percent": 0})["shutdown_runtime_seconds"] == 300
    assert ups_hat.validate_config({"shutdown_runtime_seconds": 0})["shutdown_percent"] == 20


def test_check_config_exit_codes(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"model": "simulated", "shutdown_percent": 15}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": "simulated", "shutdown_percent": 150}))
    broken = tmp_path / "broken.json"
    broken.write_text("{model: simulated")
    assert ups_hat.main(["--check-config", "--config", str(good)]) == 0
    assert "configuration OK (model simulated)" in capsys.readouterr().out
    assert ups_hat.main(["--check-config", "--config", str(bad)]) == 2
    assert "shutdown_percent" in capsys.readouterr().err
    assert ups_hat.main(["--check-config", "--config", str(broken)]) == 2
    assert ups_hat.main(["--check-config", "--config", str(tmp_path / "missing.json")]) == 2


def test_read_prints_one_reading(tmp_path, capsys):
    battery = tmp_path / "battery.json"
    battery.write_text(json.dumps({"percent": 70, "voltage": 3.85, "on_battery": False}))
    config = tmp_path / "ups.json"
    config.write_text(json.dumps({"model": "simulated", "simulated_path": str(battery)}))
    assert ups_hat.main(["--read", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out) == {"percent": 70.0, "voltage": 3.85, "on_battery": False,
                                                   "current": None}
    battery.unlink()
    assert ups_hat.main(["--read", "--config", str(config)]) == 1
