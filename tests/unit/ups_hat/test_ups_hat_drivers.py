# SPDX-License-Identifier: GPL-3.0-or-later
"""Register decoding of the X728 (MAX17040 + GPIO6) and Waveshare (INA219)
drivers, fed through a fake I2C bus; the simulated battery file."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import socket
import subprocess

import pytest

import ups_hat


class FakeBus:
    """Register map per address; records every write in order."""

    def __init__(self, registers):
        self.registers = registers
        self.writes = []

    def read_register(self, address, register, length):
        data = self.registers[(address, register)]
        assert len(data) == length
        return bytes(data)

    def write_register(self, address, register, data):
        self.writes.append((address, register, bytes(data)))


class Done:
    def __init__(self, stdout="", returncode=0, stderr=""):
        self.stdout = stdout
        self.returncode = returncode
        self.stderr = stderr


# ------------------------------------------------------------- X728

@pytest.mark.parametrize("data, volts", [
    (b"\xd2\x00", 4.2),     # 3360 * 1.25 mV
    (b"\xb9\x00", 3.7),     # 2960 * 1.25 mV
    (b"\xb9\x0f", 3.7),     # the low nibble is not part of VCELL
    (b"\x00\x10", 0.00125),
])
def test_max17040_voltage(data, volts):
    assert ups_hat.decode_max17040_voltage(data) == pytest.approx(volts)


@pytest.mark.parametrize("data, percent", [
    (b"\x55\x80", 85.5),
    (b"\x0a\x40", 10.25),
    (b"\x00\x00", 0.0),
    (b"\x68\x00", 100.0),   # the gauge reads 104 % on a full cell: clamped
])
def test_max17040_percent(data, percent):
    assert ups_hat.decode_max17040_percent(data) == pytest.approx(percent)


def test_x728_reads_gauge_and_power_loss_pin():
    bus = FakeBus({(0x36, 0x02): b"\xb9\x00", (0x36, 0x04): b"\x55\x80"})
    battery = ups_hat.X728Battery(bus, 0x36, power_lost=lambda: True)
    assert battery.read() == ups_hat.Reading(85.5, 3.7, True)
    battery.power_lost = lambda: False
    assert battery.read().on_battery is False
    assert bus.writes == []  # the gauge is only read


@pytest.mark.parametrize("output, high", [("1\n", True), ("0\n", False), ('"6"=active\n', True),
                                          ('"6"=inactive', False)])
def test_gpioget_output(output, high):
    assert ups_hat.parse_gpioget(output) is high


def test_gpioget_garbage_is_a_read_error():
    with pytest.raises(ups_hat.ReadError):
        ups_hat.parse_gpioget("gpioget: unable to request lines")


def test_gpio_line_runs_gpioget_with_timeout():
    calls = []

    def run(argv, **kwargs):
        calls.append((argv, kwargs["timeout"]))
        return Done("1\n")

    line = ups_hat.GpioLine("/usr/bin/gpioget", "gpiochip0", 6, run=run)
    assert line() is True
    assert calls == [(["/usr/bin/gpioget", "gpiochip0", "6"], 2.0)]


@pytest.mark.parametrize("outcome", [subprocess.TimeoutExpired("gpioget", 2), FileNotFoundError("gpioget"),
                                     Done("", 1, "no such chip")])
def test_gpio_line_failures_are_read_errors(outcome):
    def run(argv, **kwargs):
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with pytest.raises(ups_hat.ReadError):
        ups_hat.GpioLine("/usr/bin/gpioget", "gpiochip0", 6, run=run)()


# ------------------------------------------------------------- Waveshare

def test_ina219_calibration_for_the_waveshare_shunt():
    assert ups_hat.ina219_calibration(0.1) == 4096
    assert ups_hat.INA219_CONFIG_VALUE == 0x3EEF


@pytest.mark.parametrize("data, volts", [(b"\x39\xd0", 7.4), (b"\x39\xd2", 7.4), (b"\x00\x08", 0.004)])
def test_ina219_bus_voltage(data, volts):
    assert ups_hat.decode_ina219_bus_voltage(data) == pytest.approx(volts)


def test_ina219_overflow_is_a_read_error():
    with pytest.raises(ups_hat.ReadError):
        ups_hat.decode_ina219_bus_voltage(b"\x39\xd1")


@pytest.mark.parametrize("data, amps", [(b"\xec\x78", -0.5), (b"\x0b\xb8", 0.3), (b"\xff\xff", -0.0001),
                                        (b"\x00\x00", 0.0)])
def test_ina219_current_is_signed(data, amps):
    assert ups_hat.decode_ina219_current(data) == pytest.approx(amps)


@pytest.mark.parametrize("volts, cells, percent", [(7.4, 2, 58.33), (8.4, 2, 100), (9.0, 2, 100), (6.0, 2, 0),
                                                   (5.5, 2, 0), (3.6, 1, 50)])
def test_percent_from_pack_voltage(volts, cells, percent):
    assert ups_hat.percent_from_voltage(volts, cells, 3.0, 4.2) == pytest.approx(percent, abs=0.01)


def waveshare(current_bytes):
    bus = FakeBus({(0x42, 0x02): b"\x39\xd0", (0x42, 0x04): current_bytes})
    return bus, ups_hat.WaveshareBattery(bus, 0x42, 0.1, 2, 3.0, 4.2, 0.05)


def test_waveshare_discharging_is_on_battery():
    bus, battery = waveshare(b"\xec\x78")
    reading = battery.read()
    assert reading.on_battery is True
    assert reading.current == pytest.approx(-0.5)
    assert reading.voltage == pytest.approx(7.4)
    assert reading.percent == pytest.approx(58.33)
    # Calibration and configuration are (re)written before the reads.
    assert bus.writes == [(0x42, 0x05, b"\x10\x00"), (0x42, 0x00, b"\x3e\xef")]


@pytest.mark.parametrize("current_bytes", [b"\x0b\xb8", b"\x00\x00", b"\xff\x38"])  # +0.3 A, 0, -0.02 A
def test_waveshare_charging_or_idle_is_on_mains(current_bytes):
    _bus, battery = waveshare(current_bytes)
    assert battery.read().on_battery is False


# ------------------------------------------------------------- I2C bus

def test_i2c_bus_selects_slave_writes_pointer_reads_bytes():
    ours, chip = socket.socketpair()
    ioctls = []
    opened = []

    def opener(path, flags):
        opened.append((path, flags))
        return ours.fileno()

    bus = ups_hat.I2CBus(1, opener=opener, ioctl=lambda fd, request, arg: ioctls.append((fd, request, arg)))
    chip.sendall(b"\x55\x80")
    assert bus.read_register(0x36, 0x04, 2) == b"\x55\x80"
    assert chip.recv(16) == b"\x04"  # the register pointer
    bus.write_register(0x36, 0x06, b"\x00\x54")
    assert chip.recv(16) == b"\x06\x00\x54"
    chip.sendall(b"\x39\xd0")
    bus.read_register(0x42, 0x02, 2)
    assert opened == [("/dev/i2c-1", os.O_RDWR)]
    # The slave address is selected once per change of address.
    assert ioctls == [(ours.fileno(), 0x0703, 0x36), (ours.fileno(), 0x0703, 0x42)]
    chip.close()
    ours.close()


def test_i2c_bus_missing_device_is_a_read_error():
    def opener(path, flags):
        raise FileNotFoundError(path)

    with pytest.raises(ups_hat.ReadError):
        ups_hat.I2CBus(7, opener=opener).read_register(0x36, 0x02, 2)


# ------------------------------------------------------------- simulated

def test_simulated_battery_reads_the_json_file(tmp_path):
    path = tmp_path / "battery.json"
    path.write_text(json.dumps({"percent": 42, "voltage": 3.8, "on_battery": True}))
    battery = ups_hat.SimulatedBattery(str(path))
    assert battery.read() == ups_hat.Reading(42.0, 3.8, True, None)
    path.write_text(json.dumps({"percent": 90, "voltage": 7.9, "on_battery": False, "current": 0.4}))
    assert battery.read() == ups_hat.Reading(90.0, 7.9, False, 0.4)


@pytest.mark.parametrize("content", ["", "[]", '{"percent": 50, "voltage": 3.7}',
                                     '{"percent": 150, "voltage": 3.7, "on_battery": false}',
                                     '{"percent": 50, "voltage": 3.7, "on_battery": "yes"}'])
def test_simulated_battery_bad_file_is_a_read_error(tmp_path, content):
    path = tmp_path / "battery.json"
    path.write_text(content)
    with pytest.raises(ups_hat.ReadError):
        ups_hat.SimulatedBattery(str(path)).read()


def test_simulated_battery_missing_file_is_a_read_error(tmp_path):
    with pytest.raises(ups_hat.ReadError):
        ups_hat.SimulatedBattery(str(tmp_path / "nope.json")).read()


@pytest.mark.parametrize("model, kind", [("x728", ups_hat.X728Battery), ("waveshare", ups_hat.WaveshareBattery),
                                         ("simulated", ups_hat.SimulatedBattery)])
def test_model_setting_picks_the_driver(model, kind):
    battery = ups_hat.make_battery(ups_hat.validate_config({"model": model}))
    assert isinstance(battery, kind)
    assert battery.model == model
