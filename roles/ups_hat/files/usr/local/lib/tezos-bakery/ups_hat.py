# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Tezos bakery maintainers
"""UPS HAT daemon for the Raspberry Pi signers: battery metrics, and an
ordered "stop the signer, then power off" when the battery runs low.

Standard-library Python 3.11. The hardware sits behind one small interface,
``Battery.read() -> Reading``, with three implementations chosen by the
``model`` setting:

``x728``
    Geekworm X728. State of charge and cell voltage from the MAX17040 fuel
    gauge (I2C address 0x36); power loss from GPIO6, which the board drives
    high when the mains adapter is gone. The GPIO line is read with
    ``gpioget`` from Debian's ``gpiod`` package (libgpiod 1.6 on bookworm):
    a subprocess with a timeout, rather than the deprecated /sys/class/gpio
    interface (whose numbering changed on recent Pi kernels) or a home-made
    ioctl binding of the GPIO character device. The board's own
    button/power-cut pins are left alone.

``waveshare``
    Waveshare UPS HAT (INA219 at I2C 0x42; 0x43 on the 1-cell "(C)" model).
    There is no power-loss pin: the HAT is on battery when current flows out
    of the pack (the INA219 current is negative below
    ``-waveshare_discharge_amps``). The charge percentage is linear in the
    pack voltage between ``cells * cell_empty_volts`` and
    ``cells * cell_full_volts`` (Waveshare's own formula for the 2-cell HAT is
    (V - 6) / 2.4): crude, and pessimistic under load, which is the safe side.

``simulated``
    Reads a JSON file ``{"percent": 80, "voltage": 3.9, "on_battery": true}``
    (optional ``"current"`` in amperes, negative when discharging). For
    tests and labs only: nothing on a real Pi writes that file.

Policy (``Policy``, a pure state machine): a switch to battery is recorded
(journal line, action log, ``ups_power_loss_events_total``). When the host
is on battery and the charge is at or below ``shutdown_percent``, or the
estimated runtime is at or below ``shutdown_runtime_seconds``, for
``debounce_reads`` successive reads, the daemon stops ``stop_units`` one by
one (each ``systemctl stop`` waited for, up to ``stop_timeout`` seconds) and
then runs ``poweroff_command``. On mains it never shuts down, whatever the
charge; power coming back before the threshold resets everything. If power
comes back while the units are being stopped, the power-off is called off
and the units are started again. Every action goes to the action log with a
timestamp, in order.

Estimated runtime: when the battery reports its current and a capacity is
configured, remaining charge / current draw. Otherwise a least-squares
slope of the charge percentage over the last ``runtime_window_seconds`` on
battery (at least a third of the window must be covered, and the charge
must be falling): percent / (percent lost per second). Unknown -> NaN.

Metrics (Prometheus text) on ``metrics_address:metrics_port`` ``/metrics``.
"""

import argparse
import datetime
import fcntl
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS = ("x728", "waveshare", "simulated")

# linux/i2c-dev.h: select the slave address of the following read()/write().
I2C_SLAVE = 0x0703

# MAX17040 fuel gauge (Geekworm X728).
MAX17040_VCELL = 0x02
MAX17040_SOC = 0x04

# INA219 power monitor (Waveshare UPS HAT).
INA219_CONFIG = 0x00
INA219_BUS_VOLTAGE = 0x02
INA219_CURRENT = 0x04
INA219_CALIBRATION = 0x05
# 32 V bus range, shunt gain /8 (+-320 mV), 12-bit ADCs averaging 32 samples,
# shunt and bus continuous: the configuration Waveshare's driver writes.
INA219_CONFIG_VALUE = (1 << 13) | (3 << 11) | (0x0D << 7) | (0x0D << 3) | 0x07
# 0.1 mA per current bit: +-3.2 A full scale, beyond any Pi's draw.
INA219_CURRENT_LSB = 0.0001

UNIT_RE = re.compile(r"^[A-Za-z0-9:_.@-]+\.(service|target|socket|timer)$")

DEFAULTS = {
    "model": "x728",
    "poll_interval": 5.0,
    "i2c_bus": 1,
    "x728_i2c_address": 0x36,
    "x728_gpio_chip": "gpiochip0",
    "x728_power_loss_line": 6,
    "gpioget": "/usr/bin/gpioget",
    "waveshare_i2c_address": 0x42,
    "waveshare_shunt_ohms": 0.1,
    "waveshare_cells": 2,
    "waveshare_cell_empty_volts": 3.0,
    "waveshare_cell_full_volts": 4.2,
    "waveshare_discharge_amps": 0.05,
    "battery_capacity_mah": 0,
    "simulated_path": "/run/ups-hat-sim/battery.json",
    "shutdown_percent": 20.0,
    "shutdown_runtime_seconds": 300.0,
    "runtime_window_seconds": 600.0,
    "debounce_reads": 3,
    "stop_units": ["tezos-signer.service", "tezos-signer-health.service"],
    "stop_timeout": 60.0,
    "poweroff_command": ["/usr/bin/systemctl", "poweroff"],
    "systemctl": "/usr/bin/systemctl",
    "state_dir": "/var/lib/ups-hat",
    "metrics_address": "127.0.0.1",
    "metrics_port": 9101,
}


# ---------------------------------------------------------------- config

class ConfigError(ValueError):
    """The configuration file is unusable."""


def _number(config, key, minimum=None, maximum=None, integer=False, exclusive_min=False):
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError("%s must be a number (got %r)" % (key, value))
    if integer and not isinstance(value, int):
        raise ConfigError("%s must be an integer (got %r)" % (key, value))
    if minimum is not None and (value <= minimum if exclusive_min else value < minimum):
        raise ConfigError("%s must be %s %s (got %r)" % (key, ">" if exclusive_min else ">=", minimum, value))
    if maximum is not None and value > maximum:
        raise ConfigError("%s must be <= %s (got %r)" % (key, maximum, value))


def _absolute_path(config, key):
    value = config[key]
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigError("%s must be an absolute path (got %r)" % (key, value))


def validate_config(raw):
    """Return the complete configuration (defaults filled in) or raise
    ConfigError. Unknown keys are refused: a typo must not silently keep a
    default threshold."""
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a JSON object")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ConfigError("unknown setting(s): %s" % ", ".join(unknown))
    config = dict(DEFAULTS)
    config.update(raw)
    if config["model"] not in MODELS:
        raise ConfigError("model must be one of %s (got %r)" % ("|".join(MODELS), config["model"]))
    _number(config, "poll_interval", 0, 300, exclusive_min=True)
    _number(config, "i2c_bus", 0, 255, integer=True)
    for key in ("x728_i2c_address", "waveshare_i2c_address"):
        _number(config, key, 0x03, 0x77, integer=True)
    if not isinstance(config["x728_gpio_chip"], str) or not re.match(r"^gpiochip[0-9]+$", config["x728_gpio_chip"]):
        raise ConfigError("x728_gpio_chip must look like gpiochip0 (got %r)" % (config["x728_gpio_chip"],))
    _number(config, "x728_power_loss_line", 0, 511, integer=True)
    _number(config, "waveshare_shunt_ohms", 0, 10, exclusive_min=True)
    _number(config, "waveshare_cells", 1, 8, integer=True)
    _number(config, "waveshare_cell_empty_volts", 0, 5, exclusive_min=True)
    _number(config, "waveshare_cell_full_volts", 0, 5, exclusive_min=True)
    if config["waveshare_cell_empty_volts"] >= config["waveshare_cell_full_volts"]:
        raise ConfigError("waveshare_cell_empty_volts must be below waveshare_cell_full_volts")
    _number(config, "waveshare_discharge_amps", 0, 3)
    _number(config, "battery_capacity_mah", 0, 1000000)
    _number(config, "shutdown_percent", 0, 100)
    _number(config, "shutdown_runtime_seconds", 0, 86400)
    if config["shutdown_percent"] == 0 and config["shutdown_runtime_seconds"] == 0:
        raise ConfigError("shutdown_percent and shutdown_runtime_seconds cannot both be 0 (no shutdown at all)")
    _number(config, "runtime_window_seconds", 0, 86400, exclusive_min=True)
    _number(config, "debounce_reads", 1, 100, integer=True)
    _number(config, "stop_timeout", 0, 3600, exclusive_min=True)
    units = config["stop_units"]
    if not isinstance(units, list) or not all(isinstance(u, str) and UNIT_RE.match(u) for u in units):
        raise ConfigError("stop_units must be a list of systemd unit names (got %r)" % (units,))
    command = config["poweroff_command"]
    if (not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command)
            or not command[0].startswith("/")):
        raise ConfigError("poweroff_command must be a non-empty argv list starting with an absolute path (got %r)"
                          % (command,))
    for key in ("gpioget", "systemctl", "simulated_path", "state_dir"):
        _absolute_path(config, key)
    address = config["metrics_address"]
    if address not in ("127.0.0.1", "::1", "localhost") and not re.match(r"^127\.[0-9]+\.[0-9]+\.[0-9]+$", str(address)):
        raise ConfigError("metrics_address must be a loopback address (got %r)" % (address,))
    _number(config, "metrics_port", 1, 65535, integer=True)
    return config


def load_config(path):
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError("cannot read %s: %s" % (path, exc)) from exc
    return validate_config(raw)


# ---------------------------------------------------------------- hardware

class ReadError(Exception):
    """The battery could not be read this time."""


class Reading:
    """One battery reading. percent 0-100, voltage in volts, current in
    amperes (negative = discharging; None when the hardware has no meter)."""

    __slots__ = ("percent", "voltage", "on_battery", "current")

    def __init__(self, percent, voltage, on_battery, current=None):
        self.percent = percent
        self.voltage = voltage
        self.on_battery = on_battery
        self.current = current

    def __eq__(self, other):
        return isinstance(other, Reading) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self):
        return "Reading(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.__slots__)

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


class Battery:
    """The interface the daemon uses; tests drive a simulated one."""

    model = "?"

    def read(self):
        """Return a Reading, or raise ReadError."""
        raise NotImplementedError


class I2CBus:
    """/dev/i2c-N through the i2c-dev interface: select the slave with the
    I2C_SLAVE ioctl, write the register pointer, read the bytes back."""

    def __init__(self, bus, opener=os.open, ioctl=fcntl.ioctl):
        self.path = "/dev/i2c-%d" % bus
        self._opener = opener
        self._ioctl = ioctl
        self._fd = None
        self._address = None
        self._lock = threading.Lock()

    def _select(self, address):
        if self._fd is None:
            self._fd = self._opener(self.path, os.O_RDWR)
            self._address = None
        if self._address != address:
            self._ioctl(self._fd, I2C_SLAVE, address)
            self._address = address

    def _reset(self):
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None
        self._address = None

    def read_register(self, address, register, length):
        with self._lock:
            try:
                self._select(address)
                os.write(self._fd, bytes([register]))
                data = os.read(self._fd, length)
            except OSError as exc:
                self._reset()
                raise ReadError("%s address 0x%02x register 0x%02x: %s" % (self.path, address, register, exc)) from exc
        if len(data) != length:
            raise ReadError("%s address 0x%02x: short read" % (self.path, address))
        return data

    def write_register(self, address, register, data):
        with self._lock:
            try:
                self._select(address)
                os.write(self._fd, bytes([register]) + bytes(data))
            except OSError as exc:
                self._reset()
                raise ReadError("%s address 0x%02x register 0x%02x: %s" % (self.path, address, register, exc)) from exc


def decode_max17040_voltage(data):
    """VCELL: 12 bits, left-aligned in 16, 1.25 mV per bit -> volts."""
    raw = (data[0] << 8) | data[1]
    return (raw >> 4) * 1.25 / 1000.0


def decode_max17040_percent(data):
    """SOC: high byte = whole percent, low byte = 1/256 %. The gauge can
    report a little above 100 % on a full cell: clamped to 100."""
    return min(100.0, data[0] + data[1] / 256.0)


def parse_gpioget(output):
    """gpioget (libgpiod 1.x) prints the line value, 0 or 1; libgpiod 2.x
    prints '"6"=active'. Returns True for a high (active) line."""
    text = output.strip()
    if text in ("0", "1"):
        return text == "1"
    match = re.match(r'^"?[^"=]*"?=(active|inactive)$', text)
    if match:
        return match.group(1) == "active"
    raise ReadError("unexpected gpioget output %r" % output)


class GpioLine:
    """One input line read with gpioget (Debian package gpiod)."""

    def __init__(self, gpioget, chip, line, timeout=2.0, run=subprocess.run):
        self.argv = [gpioget, chip, str(line)]
        self.timeout = timeout
        self._run = run

    def __call__(self):
        try:
            done = self._run(self.argv, capture_output=True, text=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReadError("%s: %s" % (" ".join(self.argv), exc)) from exc
        if done.returncode != 0:
            raise ReadError("%s: exit %d %s" % (" ".join(self.argv), done.returncode, done.stderr.strip()))
        return parse_gpioget(done.stdout)


class X728Battery(Battery):
    """Geekworm X728: MAX17040 on I2C, power loss = GPIO6 high."""

    model = "x728"

    def __init__(self, bus, address, power_lost):
        self.bus = bus
        self.address = address
        self.power_lost = power_lost

    def read(self):
        voltage = decode_max17040_voltage(self.bus.read_register(self.address, MAX17040_VCELL, 2))
        percent = decode_max17040_percent(self.bus.read_register(self.address, MAX17040_SOC, 2))
        return Reading(round(percent, 2), round(voltage, 4), bool(self.power_lost()))


def ina219_calibration(shunt_ohms, current_lsb=INA219_CURRENT_LSB):
    """Calibration register value (INA219 datasheet: 0.04096 / (LSB * R))."""
    return int(0.04096 / (current_lsb * shunt_ohms))


def decode_ina219_bus_voltage(data):
    """Bus voltage register: bits 15-3 in 4 mV steps; bit 0 = math overflow."""
    raw = (data[0] << 8) | data[1]
    if raw & 0x01:
        raise ReadError("INA219 math overflow (current beyond the calibrated range)")
    return (raw >> 3) * 0.004


def decode_ina219_current(data, current_lsb=INA219_CURRENT_LSB):
    """Current register: signed 16 bits times the calibrated LSB, amperes."""
    raw = (data[0] << 8) | data[1]
    if raw & 0x8000:
        raw -= 0x10000
    return raw * current_lsb


def percent_from_voltage(voltage, cells, cell_empty, cell_full):
    """Linear charge estimate of a `cells`-cell series pack, clamped 0-100."""
    empty = cells * cell_empty
    full = cells * cell_full
    return max(0.0, min(100.0, (voltage - empty) / (full - empty) * 100.0))


class WaveshareBattery(Battery):
    """Waveshare UPS HAT: INA219 between the pack and the load."""

    model = "waveshare"

    def __init__(self, bus, address, shunt_ohms, cells, cell_empty, cell_full, discharge_amps):
        self.bus = bus
        self.address = address
        self.calibration = ina219_calibration(shunt_ohms)
        self.cells = cells
        self.cell_empty = cell_empty
        self.cell_full = cell_full
        self.discharge_amps = discharge_amps

    def read(self):
        # Written on every read, as Waveshare's driver does: a brown-out
        # resets the chip to calibration 0 (current always 0).
        self.bus.write_register(self.address, INA219_CALIBRATION, self.calibration.to_bytes(2, "big"))
        self.bus.write_register(self.address, INA219_CONFIG, INA219_CONFIG_VALUE.to_bytes(2, "big"))
        voltage = decode_ina219_bus_voltage(self.bus.read_register(self.address, INA219_BUS_VOLTAGE, 2))
        current = decode_ina219_current(self.bus.read_register(self.address, INA219_CURRENT, 2))
        percent = percent_from_voltage(voltage, self.cells, self.cell_empty, self.cell_full)
        return Reading(round(percent, 2), round(voltage, 4), current < -self.discharge_amps, round(current, 4))


class SimulatedBattery(Battery):
    """Test/lab battery: the reading is whatever the JSON file says."""

    model = "simulated"

    def __init__(self, path):
        self.path = path

    def read(self):
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ReadError("%s: %s" % (self.path, exc)) from exc
        return parse_simulated(data)


def parse_simulated(data):
    if not isinstance(data, dict):
        raise ReadError("simulated battery: a JSON object is expected")
    try:
        percent = float(data["percent"])
        voltage = float(data["voltage"])
        on_battery = data["on_battery"]
        current = data.get("current")
        current = None if current is None else float(current)
    except (KeyError, TypeError, ValueError) as exc:
        raise ReadError("simulated battery: %r" % (exc,)) from exc
    if not isinstance(on_battery, bool) or not 0 <= percent <= 100:
        raise ReadError("simulated battery: on_battery must be a boolean and percent 0-100")
    return Reading(percent, voltage, on_battery, current)


def make_battery(config):
    model = config["model"]
    if model == "simulated":
        return SimulatedBattery(config["simulated_path"])
    bus = I2CBus(config["i2c_bus"])
    if model == "x728":
        gpio = GpioLine(config["gpioget"], config["x728_gpio_chip"], config["x728_power_loss_line"])
        return X728Battery(bus, config["x728_i2c_address"], gpio)
    return WaveshareBattery(bus, config["waveshare_i2c_address"], config["waveshare_shunt_ohms"],
                            config["waveshare_cells"], config["waveshare_cell_empty_volts"],
                            config["waveshare_cell_full_volts"], config["waveshare_discharge_amps"])


# ---------------------------------------------------------------- runtime

def runtime_from_current(percent, current, capacity_mah):
    """Seconds left at the present draw: remaining charge / discharge current.
    None when not discharging or the capacity is unknown."""
    if not capacity_mah or current is None or current >= 0:
        return None
    remaining_ah = capacity_mah / 1000.0 * percent / 100.0
    return remaining_ah / -current * 3600.0


def runtime_from_samples(samples, window):
    """Seconds until 0 % at the rate the charge fell over the samples
    [(monotonic seconds, percent), ...] (least-squares slope). None unless
    the samples cover at least a third of `window` and the charge falls."""
    if len(samples) < 2 or samples[-1][0] - samples[0][0] < window / 3.0:
        return None
    count = len(samples)
    times = [t for t, _p in samples]
    mean_t = sum(times) / count
    mean_p = sum(p for _t, p in samples) / count
    spread = sum((t - mean_t) ** 2 for t in times)
    if spread == 0:
        return None
    slope = sum((t - mean_t) * (p - mean_p) for t, p in samples) / spread
    if slope >= 0:
        return None
    return max(0.0, samples[-1][1] / -slope)


class RuntimeEstimator:
    """Keeps the on-battery samples of the last `window` seconds."""

    def __init__(self, window, capacity_mah=0):
        self.window = window
        self.capacity_mah = capacity_mah
        self.samples = []

    def update(self, now, reading):
        if not reading.on_battery:
            self.samples = []
            return None
        self.samples.append((now, reading.percent))
        self.samples = [(t, p) for t, p in self.samples if t >= now - self.window]
        by_current = runtime_from_current(reading.percent, reading.current, self.capacity_mah)
        if by_current is not None:
            return by_current
        return runtime_from_samples(self.samples, self.window)


# ---------------------------------------------------------------- policy

class Policy:
    """Pure decision logic. observe() takes one successful reading and the
    runtime estimate and returns the events it causes, in order:
    ("power_lost", detail), ("power_restored", detail), ("shutdown", reason)."""

    def __init__(self, shutdown_percent, shutdown_runtime_seconds, debounce_reads):
        self.shutdown_percent = shutdown_percent
        self.shutdown_runtime_seconds = shutdown_runtime_seconds
        self.debounce_reads = debounce_reads
        self.on_battery = None
        self.low_reads = 0
        self.shutdown_initiated = False

    def low_reason(self, reading, runtime):
        """Why this reading is below a threshold, or None."""
        if self.shutdown_percent > 0 and reading.percent <= self.shutdown_percent:
            return "percent"
        if self.shutdown_runtime_seconds > 0 and runtime is not None and runtime <= self.shutdown_runtime_seconds:
            return "runtime"
        return None

    def observe(self, reading, runtime):
        events = []
        if reading.on_battery and self.on_battery is not True:
            events.append(("power_lost", None))
        elif not reading.on_battery and self.on_battery is True:
            events.append(("power_restored", None))
        self.on_battery = reading.on_battery
        if not reading.on_battery:
            # Mains: never shut down, and forget any low reads.
            self.low_reads = 0
            return events
        reason = self.low_reason(reading, runtime)
        self.low_reads = self.low_reads + 1 if reason else 0
        if reason and self.low_reads >= self.debounce_reads and not self.shutdown_initiated:
            self.shutdown_initiated = True
            events.append(("shutdown", reason))
        return events

    def abort_shutdown(self):
        """Power came back before the power-off: start over."""
        self.shutdown_initiated = False
        self.low_reads = 0


# ---------------------------------------------------------------- actions

def timestamp(now=None):
    moment = datetime.datetime.fromtimestamp(time.time() if now is None else now, datetime.timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


class ActionLog:
    """Append-only, fsynced log of what the daemon did (and a journal line)."""

    def __init__(self, path, echo=None):
        self.path = path
        self.echo = echo

    def __call__(self, action, **details):
        line = " ".join([timestamp(), action] + ["%s=%s" % (k, v) for k, v in details.items()])
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if self.echo:
            self.echo(line)


def stop_then_poweroff(units, poweroff_command, log, still_on_battery, systemctl="/usr/bin/systemctl",
                       stop_timeout=60.0, run=subprocess.run):
    """The ordered shutdown. Returns "poweroff" or "aborted".

    Each unit is stopped and waited for (systemctl stop returns once the
    unit is down), then checked. A unit that does not stop in time does not
    keep the host up on a dying battery: the power-off stops it anyway.
    Right before the power-off the battery is read once more; if mains is
    back, the stopped units are started again and nothing else happens.
    """
    for unit in units:
        log("stop", unit=unit)
        try:
            run([systemctl, "stop", unit], timeout=stop_timeout, check=False, capture_output=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log("stop_timeout", unit=unit, error=type(exc).__name__)
        state = unit_state(unit, systemctl, run)
        log("stopped" if state in ("inactive", "failed", "unknown") else "still_running", unit=unit, state=state)
    if not still_on_battery():
        log("shutdown_aborted", reason="power_restored")
        for unit in reversed(units):
            log("start", unit=unit)
            try:
                run([systemctl, "start", "--no-block", unit], timeout=30, check=False, capture_output=True)
            except (OSError, subprocess.TimeoutExpired) as exc:
                log("start_failed", unit=unit, error=type(exc).__name__)
        return "aborted"
    log("poweroff", command=" ".join(poweroff_command))
    try:
        done = run(poweroff_command, timeout=60, check=False, capture_output=True)
        if done.returncode != 0:
            log("poweroff_failed", rc=done.returncode)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log("poweroff_failed", error=type(exc).__name__)
    return "poweroff"


def unit_state(unit, systemctl="/usr/bin/systemctl", run=subprocess.run):
    try:
        done = run([systemctl, "is-active", unit], timeout=10, check=False, capture_output=True, text=True)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


# ---------------------------------------------------------------- metrics

METRICS = (
    ("ups_battery_percent", "gauge", "Battery state of charge, percent.", "percent"),
    ("ups_battery_voltage_volts", "gauge", "Battery (cell or pack) voltage.", "voltage"),
    ("ups_battery_current_amps", "gauge", "Battery current, negative when discharging (NaN: no meter).",
     "current"),
    ("ups_on_battery", "gauge", "1 when the host runs on battery (mains lost).", "on_battery"),
    ("ups_estimated_runtime_seconds", "gauge", "Estimated seconds of battery left (NaN: unknown or on mains).",
     "runtime"),
    ("ups_power_loss_events_total", "counter", "Switches from mains to battery seen.", "power_loss_events"),
    ("ups_shutdown_initiated", "gauge", "1 once the stop-signer-then-power-off sequence has started.",
     "shutdown_initiated"),
    ("ups_read_errors_total", "counter", "Battery reads that failed.", "read_errors"),
    ("ups_last_read_timestamp_seconds", "gauge", "Unix time of the last successful battery read.", "last_read"),
)


def _format_value(value):
    if value is None:
        return "NaN"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def render_metrics(snapshot, model):
    """Prometheus text exposition of a state snapshot (dict)."""
    lines = ["# HELP ups_info UPS HAT model read by the daemon.", "# TYPE ups_info gauge",
             'ups_info{model="%s"} 1' % model]
    for name, kind, text, key in METRICS:
        lines += ["# HELP %s %s" % (name, text), "# TYPE %s %s" % (name, kind),
                  "%s %s" % (name, _format_value(snapshot.get(key)))]
    return "\n".join(lines) + "\n"


class MetricsHandler(BaseHTTPRequestHandler):
    daemon_ref = None

    def do_GET(self):  # noqa: N802 (http.server API)
        if self.path.split("?", 1)[0] != "/metrics":
            self._send(404, "text/plain; charset=utf-8", "not found\n")
            return
        daemon = self.daemon_ref
        self._send(200, "text/plain; version=0.0.4; charset=utf-8",
                   render_metrics(daemon.snapshot(), daemon.battery.model))

    def _send(self, status, content_type, body):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


# ---------------------------------------------------------------- daemon

def load_state(path):
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def save_state(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(state, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Daemon:
    """Poll the battery, feed the policy, act, publish the metrics."""

    def __init__(self, config, battery, log=None, run=subprocess.run, clock=time.monotonic, echo=None):
        self.config = config
        self.battery = battery
        self.run = run
        self.clock = clock
        self.echo = echo or (lambda line: print(line, flush=True))
        self.state_path = os.path.join(config["state_dir"], "state.json")
        self.log = log or ActionLog(os.path.join(config["state_dir"], "actions.log"), echo=self.echo)
        self.policy = Policy(config["shutdown_percent"], config["shutdown_runtime_seconds"], config["debounce_reads"])
        self.runtime = RuntimeEstimator(config["runtime_window_seconds"], config["battery_capacity_mah"])
        self.persisted = load_state(self.state_path)
        self._lock = threading.Lock()
        self._values = {
            "percent": None, "voltage": None, "current": None, "on_battery": None, "runtime": None,
            "power_loss_events": int(self.persisted.get("power_loss_events_total", 0)),
            "shutdown_initiated": False, "read_errors": 0, "last_read": None,
        }
        self.stopping = threading.Event()

    def snapshot(self):
        with self._lock:
            return dict(self._values)

    def _set(self, **values):
        with self._lock:
            self._values.update(values)

    def _persist(self, **changes):
        self.persisted.update(changes)
        try:
            save_state(self.state_path, self.persisted)
        except OSError as exc:
            self.echo("cannot write %s: %s" % (self.state_path, exc))

    def read(self):
        try:
            return self.battery.read()
        except ReadError as exc:
            with self._lock:
                self._values["read_errors"] += 1
            self.echo("read error: %s" % exc)
            return None

    def still_on_battery(self):
        reading = self.read()
        # Unreadable: assume the worst and carry on with the power-off.
        return True if reading is None else reading.on_battery

    def step(self):
        """One poll. Returns the events it produced (for tests)."""
        reading = self.read()
        if reading is None:
            return []
        runtime = self.runtime.update(self.clock(), reading)
        self._set(percent=reading.percent, voltage=reading.voltage, current=reading.current,
                  on_battery=reading.on_battery, runtime=runtime, last_read=time.time())
        events = self.policy.observe(reading, runtime)
        for kind, reason in events:
            detail = {"percent": reading.percent, "voltage": reading.voltage}
            if kind == "power_lost":
                with self._lock:
                    self._values["power_loss_events"] += 1
                    total = self._values["power_loss_events"]
                self.log("power_lost", **detail)
                self._persist(power_loss_events_total=total, last_power_loss=timestamp())
            elif kind == "power_restored":
                self.log("power_restored", **detail)
                self._persist(last_power_restored=timestamp())
            elif kind == "shutdown":
                self._shutdown(reason, reading, runtime)
        return events

    def _shutdown(self, reason, reading, runtime):
        self._set(shutdown_initiated=True)
        self.log("shutdown", reason=reason, percent=reading.percent,
                 runtime=("%.0f" % runtime) if runtime is not None else "unknown",
                 threshold_percent=self.config["shutdown_percent"],
                 threshold_runtime=self.config["shutdown_runtime_seconds"])
        self._persist(last_shutdown=timestamp(), last_shutdown_reason=reason)
        outcome = stop_then_poweroff(self.config["stop_units"], self.config["poweroff_command"], self.log,
                                     self.still_on_battery, systemctl=self.config["systemctl"],
                                     stop_timeout=self.config["stop_timeout"], run=self.run)
        if outcome == "aborted":
            self.policy.abort_shutdown()
            self._set(shutdown_initiated=False)

    def loop(self):
        interval = self.config["poll_interval"]
        while not self.stopping.is_set():
            started = self.clock()
            try:
                self.step()
            except Exception as exc:  # pylint: disable=broad-except
                # Never die on a surprise: the next poll may succeed.
                self.echo("unexpected error: %r" % (exc,))
            self.stopping.wait(max(0.0, interval - (self.clock() - started)))


def serve_metrics(daemon, address, port):
    handler = type("Handler", (MetricsHandler,), {"daemon_ref": daemon})
    server_class = ThreadingHTTPServer
    if ":" in address:
        server_class = type("Server6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    server = server_class((address, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", default="/etc/tezos-bakery/ups-hat.json")
    parser.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--read", action="store_true", help="print one battery reading as JSON and exit")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print("ups_hat: invalid configuration: %s" % exc, file=sys.stderr)
        return 2
    if args.check_config:
        print("ups_hat: configuration OK (model %s)" % config["model"])
        return 0
    battery = make_battery(config)
    if args.read:
        try:
            print(json.dumps(battery.read().as_dict(), sort_keys=True))
        except ReadError as exc:
            print("ups_hat: %s" % exc, file=sys.stderr)
            return 1
        return 0
    os.makedirs(config["state_dir"], exist_ok=True)
    daemon = Daemon(config, battery)
    server = serve_metrics(daemon, config["metrics_address"], config["metrics_port"])
    signal.signal(signal.SIGTERM, lambda *_: daemon.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: daemon.stopping.set())
    daemon.echo("ups_hat: model %s, shutdown at <= %s%% or <= %ss runtime on battery, metrics on %s:%d"
                % (config["model"], config["shutdown_percent"], config["shutdown_runtime_seconds"],
                   config["metrics_address"], config["metrics_port"]))
    daemon.loop()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
