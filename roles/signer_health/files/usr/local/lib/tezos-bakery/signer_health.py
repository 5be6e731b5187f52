# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health endpoint of one Tezos remote signer host (octez-signer + Ledger).

Started by systemd as::

    /usr/bin/python3 /usr/local/lib/tezos-bakery/signer_health.py --config /etc/tezos-bakery/signer-health.json

Standard library only (Debian bookworm's python3.11 on a Raspberry Pi; no
pip). ``octez_ledger.py`` (the collection's module_utils) is installed next
to this file.

* ``GET /healthz`` (and ``HEAD``): 200 only when the signer serves the
  configured public key for the configured address AND the last Ledger check
  passed (Tezos Baking app open, authorized key = the configured URI) and is
  at most ``max_result_age`` seconds old; 503 otherwise, and before the first
  check completes. The JSON body gives every detail and the reasons.
* ``GET /metrics``: Prometheus text exposition format 0.0.4.
* ``GET /``: a short index.

Requests only read cached state. Two background threads do the work: one
probes the signer's ``GET /keys/<pkh>`` every ``min(check_interval, 5)``
seconds (cheap, does not touch the Ledger), one runs the Ledger check every
``check_interval`` seconds. Only one process can hold the Ledger at a time
and a hung check once froze another bakery's health daemon, so the check has
a hard timeout (the whole octez-client process group is killed), takes the
host's Ledger lock and never runs on behalf of a request: a flood of probes
cannot hammer the Ledger or collide with the signer. A check that finds the
Ledger busy (lock or device held by someone else) keeps the previous result,
which still expires after ``max_result_age``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import argparse
import dataclasses
import hashlib
import ipaddress
import json
import logging
import math
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
try:
    import octez_ledger
except ImportError:  # unit tests: the collection's module_utils
    from ansible_collections.tezos.bakery.plugins.module_utils import octez_ledger

LOG = logging.getLogger("tezos_signer_health")

#: The signer probe never runs less often than this (seconds).
SIGNER_PROBE_MAX_INTERVAL = 5.0
#: Biggest signer answer read (the expected one is ~100 bytes).
MAX_SIGNER_ANSWER = 64 * 1024
#: ``result`` label values of tezos_ledger_checks_total.
CHECK_RESULTS = ("ok",) + tuple(octez_ledger.ERROR_KINDS)

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# ---------------------------------------------------------------------------
# Tezos keys (base58check) -- only to validate the configuration
# ---------------------------------------------------------------------------

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = dict((char, index) for index, char in enumerate(_B58_ALPHABET))

# Address prefix -> public key prefix, binary prefixes (Octez base58.ml),
# key size and the Ledger curves whose keys have such addresses (None: no
# Ledger curve is known for it, not checked).
_KEY_KINDS = {
    "tz1": {"pk": "edpk", "pk_bytes": b"\x0d\x0f\x25\xd9", "size": 32, "pkh_bytes": b"\x06\xa1\x9f",
            "curves": ("ed25519", "bip25519")},
    "tz2": {"pk": "sppk", "pk_bytes": b"\x03\xfe\xe2\x56", "size": 33, "pkh_bytes": b"\x06\xa1\xa1",
            "curves": ("secp256k1",)},
    "tz3": {"pk": "p2pk", "pk_bytes": b"\x03\xb2\x8b\x7f", "size": 33, "pkh_bytes": b"\x06\xa1\xa4",
            "curves": ("P-256",)},
    "tz4": {"pk": "BLpk", "pk_bytes": b"\x06\x95\x87\xcc", "size": 48, "pkh_bytes": b"\x06\xa1\xa6",
            "curves": None},
}


def _b58check_decode(text):
    """Payload of a base58check string; ValueError when it is not one."""
    number = 0
    for char in text:
        if char not in _B58_INDEX:
            raise ValueError("%r is not a base58 character" % (char,))
        number = number * 58 + _B58_INDEX[char]
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(text) - len(text.lstrip("1"))) + raw
    if len(raw) < 5:
        raise ValueError("too short")
    payload, checksum = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        raise ValueError("bad checksum")
    return payload


def _b58check_encode(payload):
    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(raw, "big")
    chars = []
    while number:
        number, rest = divmod(number, 58)
        chars.append(_B58_ALPHABET[rest])
    return "1" * (len(raw) - len(raw.lstrip(b"\x00"))) + "".join(reversed(chars))


def _decode_key(text, binary_prefix, size, what):
    try:
        payload = _b58check_decode(text)
    except ValueError as exc:
        raise ValueError("not a valid %s (%s)" % (what, exc))
    if not payload.startswith(binary_prefix) or len(payload) != len(binary_prefix) + size:
        raise ValueError("not a valid %s (wrong prefix or length)" % what)
    return payload[len(binary_prefix):]


def decode_pkh(pkh):
    """Raw 20 bytes of a tz1/tz2/tz3/tz4 address; ValueError otherwise."""
    kind = _KEY_KINDS.get(pkh[:3]) if isinstance(pkh, str) else None
    if kind is None:
        raise ValueError("unknown prefix %r" % (str(pkh)[:3],))
    return _decode_key(pkh, kind["pkh_bytes"], 20, "%s address" % pkh[:3])


def public_key_hash(public_key):
    """The address (tz1...) of a public key (edpk/sppk/p2pk/BLpk)."""
    for kind in _KEY_KINDS.values():
        if isinstance(public_key, str) and public_key.startswith(kind["pk"]):
            raw = _decode_key(public_key, kind["pk_bytes"], kind["size"], "%s public key" % kind["pk"])
            return _b58check_encode(kind["pkh_bytes"] + hashlib.blake2b(raw, digest_size=20).digest())
    raise ValueError("must be an edpk/sppk/p2pk/BLpk public key")


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

class ConfigError(Exception):
    """Invalid configuration; the message names the offending key."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Validated configuration (see :func:`validate_config`)."""

    listen_address: str
    listen_port: int
    signer_url: str
    pkh: str
    public_key: str
    ledger_uri: str
    octez_client: str
    octez_client_base_dir: object
    check_interval: float
    check_timeout: float
    max_result_age: float
    lock_path: object
    lock_timeout: float
    signer_timeout: float

    @property
    def signer_interval(self):
        """Seconds between two signer probes."""
        return min(self.check_interval, SIGNER_PROBE_MAX_INTERVAL)

    @property
    def signer_max_age(self):
        """Age after which the last signer probe no longer counts."""
        return 3 * self.signer_interval + self.signer_timeout

    @property
    def max_check_duration(self):
        """Longest a Ledger check can take: the lock wait plus three commands."""
        return self.lock_timeout + 3 * self.check_timeout

    @property
    def signer_key_url(self):
        """The signer URL probed: ``<signer_url>/keys/<pkh>``."""
        return "%s/keys/%s" % (self.signer_url, self.pkh)


_REQUIRED = ("pkh", "public_key", "ledger_uri")
_DEFAULTS = {
    "listen_address": "127.0.0.1",
    "listen_port": 6733,
    "signer_url": "http://127.0.0.1:6732",
    "octez_client": "/usr/local/bin/octez-client",
    "octez_client_base_dir": None,
    "check_interval": 60,
    "check_timeout": 10,
    "max_result_age": 180,
    "lock_path": None,
    "lock_timeout": 2,
    "signer_timeout": 3,
}
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)%s(?:\.%s)*$" % (_LABEL, _LABEL))


def _fail(key, message, value=None, show=True):
    text = "config key '%s': %s" % (key, message)
    if show:
        text += " (got %s)" % json.dumps(value)
    raise ConfigError(text)


def _number(key, value, minimum=0.0, allow_equal=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(key, "must be a number of seconds", value)
    if value < minimum or (value == minimum and not allow_equal):
        _fail(key, "must be %s %g" % (">=" if allow_equal else ">", minimum), value)
    return float(value)


def _string(key, value):
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        _fail(key, "must be a non-empty string without surrounding blanks", value)
    return value


def _abs_path(key, value, optional=False):
    if value is None and optional:
        return None
    _string(key, value)
    if not os.path.isabs(value) or "\x00" in value:
        _fail(key, "must be an absolute path" + (" or null" if optional else ""), value)
    return value


def _listen_address(key, value):
    _string(key, value)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOSTNAME_RE.match(value):
        _fail(key, "must be an IP address or a host name", value)
    return value


def _port(key, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        _fail(key, "must be an integer port 0-65535 (0: any free port)", value)
    return value


def _signer_url(key, value):
    _string(key, value)
    try:
        parts = urllib.parse.urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        _fail(key, "must be an http:// or https:// URL such as http://127.0.0.1:6732", value)
    if parts.query or parts.fragment or parts.username or parts.password:
        _fail(key, "must not carry credentials, a query or a fragment", value)
    return value.rstrip("/")


def _pkh(key, value):
    _string(key, value)
    try:
        decode_pkh(value)
    except ValueError as exc:
        _fail(key, "must be a tz1/tz2/tz3/tz4 address: %s" % exc, value)
    return value


def _public_key(key, value, pkh):
    _string(key, value)
    try:
        derived = public_key_hash(value)
    except ValueError as exc:
        _fail(key, "must be the baking key's public key (edpk/sppk/p2pk/BLpk): %s" % exc, value)
    if derived != pkh:
        _fail(key, "is the key of %s, not of pkh %s" % (derived, pkh), value)
    return value


def _ledger_uri(key, value, pkh):
    _string(key, value)
    try:
        parsed = octez_ledger.ledger_uri_path(value)
    except octez_ledger.LedgerError as exc:
        _fail(key, "must be a ledger://<animals>/<curve>/<path> URI: %s" % exc.message, value)
    if parsed["path"] is None:
        _fail(key, "must name the key's curve and path (ledger://<animals>/ed25519/0h/0h), not only the device", value)
    curves = _KEY_KINDS[pkh[:3]]["curves"]
    if curves is not None and parsed["curve"] not in curves:
        _fail(key, "curve %s cannot give the %s address %s" % (parsed["curve"], pkh[:3], pkh), value)
    return value


def validate_config(raw):
    """Check a decoded JSON document; return a :class:`Config`.

    Raises :class:`ConfigError` whose message names the first bad key.
    """
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a JSON object, got %s" % type(raw).__name__)
    unknown = sorted(set(raw) - set(_DEFAULTS) - set(_REQUIRED))
    if unknown:
        raise ConfigError("unknown config key%s: %s (known: %s)" % (
            "s" if len(unknown) > 1 else "", ", ".join("'%s'" % k for k in unknown),
            ", ".join(sorted(set(_DEFAULTS) | set(_REQUIRED)))))
    for key in _REQUIRED:
        if raw.get(key) is None:
            _fail(key, "is required", show=False)
    values = dict(_DEFAULTS)
    values.update(raw)
    pkh = _pkh("pkh", values["pkh"])
    config = Config(
        listen_address=_listen_address("listen_address", values["listen_address"]),
        listen_port=_port("listen_port", values["listen_port"]),
        signer_url=_signer_url("signer_url", values["signer_url"]),
        pkh=pkh,
        public_key=_public_key("public_key", values["public_key"], pkh),
        ledger_uri=_ledger_uri("ledger_uri", values["ledger_uri"], pkh),
        octez_client=_abs_path("octez_client", values["octez_client"]),
        octez_client_base_dir=_abs_path("octez_client_base_dir", values["octez_client_base_dir"], optional=True),
        check_interval=_number("check_interval", values["check_interval"]),
        check_timeout=_number("check_timeout", values["check_timeout"]),
        max_result_age=_number("max_result_age", values["max_result_age"]),
        lock_path=_abs_path("lock_path", values["lock_path"], optional=True),
        lock_timeout=_number("lock_timeout", values["lock_timeout"], allow_equal=True),
        signer_timeout=_number("signer_timeout", values["signer_timeout"]),
    )
    cycle = config.check_interval + config.max_check_duration
    if config.max_result_age <= cycle:
        _fail("max_result_age", "must exceed check_interval + lock_timeout + 3 * check_timeout = %g s "
              "(the longest gap between two results), or a healthy Ledger would go stale" % cycle,
              raw.get("max_result_age", _DEFAULTS["max_result_age"]))
    return config


def load_config(path):
    """Read and validate the JSON file at ``path`` (:class:`ConfigError`)."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("cannot read config file %s: %s" % (path, exc))
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ConfigError("config file %s is not valid JSON: %s" % (path, exc))
    return validate_config(raw)


# ---------------------------------------------------------------------------
# Signer probe
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SignerObservation:
    """What one ``GET <signer_url>/keys/<pkh>`` found.

    ``up``: the signer answered HTTP; ``error_kind``: None,
    ``unreachable``, ``http_status``, ``bad_answer`` or ``wrong_public_key``.
    """

    up: bool
    public_key_matches: bool
    public_key: object = None
    status: object = None
    error_kind: object = None
    error: object = None
    duration: float = 0.0


class SignerProbe:
    """Asks the signer which public key it serves for the configured address."""

    def __init__(self, config, monotonic=time.monotonic):
        self.config = config
        self.monotonic = monotonic
        # The signer is on loopback: never go through an HTTP(S)_PROXY.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def probe(self):
        """One probe -> :class:`SignerObservation` (never raises for network errors)."""
        start = self.monotonic()
        observation = self._probe()
        return dataclasses.replace(observation, duration=max(0.0, self.monotonic() - start))

    def _probe(self):
        url = self.config.signer_key_url
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with self._opener.open(request, timeout=self.config.signer_timeout) as answer:
                status = answer.status
                body = answer.read(MAX_SIGNER_ANSWER + 1)
        except urllib.error.HTTPError as exc:
            detail = _squash(_read_quietly(exc))[:200]
            return SignerObservation(
                up=True, public_key_matches=False, status=exc.code, error_kind="http_status",
                error="signer answered HTTP %d for %s%s" % (exc.code, url, (": " + detail) if detail else ""))
        except urllib.error.URLError as exc:
            return SignerObservation(up=False, public_key_matches=False, error_kind="unreachable",
                                     error="cannot reach %s: %s" % (url, exc.reason))
        except (OSError, HTTPException) as exc:  # timeouts while reading, resets, bad status lines
            return SignerObservation(up=False, public_key_matches=False, error_kind="unreachable",
                                     error="no answer from %s: %s" % (url, str(exc) or type(exc).__name__))
        try:
            if len(body) > MAX_SIGNER_ANSWER:
                raise ValueError("answer larger than %d bytes" % MAX_SIGNER_ANSWER)
            served = json.loads(body.decode("utf-8")).get("public_key")
            if not isinstance(served, str):
                raise ValueError("no public_key string in the answer")
        except (ValueError, AttributeError) as exc:
            return SignerObservation(up=True, public_key_matches=False, status=status, error_kind="bad_answer",
                                     error="unexpected answer from %s: %s" % (url, exc))
        if served != self.config.public_key:
            return SignerObservation(up=True, public_key_matches=False, public_key=served, status=status,
                                     error_kind="wrong_public_key",
                                     error="signer serves public key %s for %s, expected %s"
                                     % (served, self.config.pkh, self.config.public_key))
        return SignerObservation(up=True, public_key_matches=True, public_key=served, status=status)


def _read_quietly(response):
    try:
        return response.read(2048).decode("utf-8", "replace")
    except (OSError, HTTPException, ValueError, AttributeError):
        return ""


def _squash(text):
    return " ".join((text or "").split())


# ---------------------------------------------------------------------------
# Ledger check
# ---------------------------------------------------------------------------

def empty_ledger_result(uri, error_kind=None, error=None):
    """A check result with nothing known (same keys as octez_ledger.check_ledger)."""
    return {
        "uri": uri, "connected": False, "name": None, "app": None, "app_version": None, "device": None,
        "ledgers": [], "authorized": False, "authorized_matches": False, "authorized_path": None,
        "authorized_curve": None, "authorized_uri": None, "high_watermark": None, "ready": False,
        "error_kind": error_kind, "error": error,
    }


class LedgerChecker:
    """Runs one bounded, locked, read-only Ledger check (octez_ledger.check_ledger)."""

    def __init__(self, config, check_fn=None, monotonic=time.monotonic):
        self.config = config
        self.check_fn = check_fn or octez_ledger.check_ledger
        self.monotonic = monotonic

    def check(self):
        """-> (result dict, duration in seconds); never raises."""
        cfg = self.config
        start = self.monotonic()
        try:
            result = self.check_fn(cfg.octez_client, cfg.ledger_uri, base_dir=cfg.octez_client_base_dir,
                                   timeout=cfg.check_timeout, lock_path=cfg.lock_path, lock_timeout=cfg.lock_timeout)
        except Exception as exc:  # pylint: disable=broad-except
            # A bug must not kill the check loop: count it as a failed check.
            LOG.exception("Ledger check crashed")
            result = empty_ledger_result(cfg.ledger_uri, "command_failed", "internal error in the Ledger check: %r" % (exc,))
        if result.get("error_kind") not in octez_ledger.ERROR_KINDS:
            result = dict(result, error_kind=None if result.get("ready") else "command_failed")
        return result, max(0.0, self.monotonic() - start)


# ---------------------------------------------------------------------------
# Shared state and verdict
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Stamped:
    """An observation (SignerObservation or Ledger result dict) and when it was made."""

    value: object
    at: float          # wall clock (exported as a timestamp)
    mono: float        # monotonic clock (ages: immune to NTP steps on a Pi without RTC)
    duration: float = 0.0


@dataclasses.dataclass(frozen=True)
class HealthView:
    """A consistent copy of the state at one instant; everything below derives from it."""

    config: Config
    signer: object       # Stamped(SignerObservation) or None
    ledger: object       # Stamped(result) of the last non-busy check, or None
    attempt: object      # Stamped(result) of the last check attempt (busy included), or None
    busy_streak: int
    checks: dict
    now: float
    now_mono: float

    @property
    def signer_age(self):
        return None if self.signer is None else max(0.0, self.now_mono - self.signer.mono)

    @property
    def ledger_age(self):
        return None if self.ledger is None else max(0.0, self.now_mono - self.ledger.mono)


def _busy_note(view):
    if view.busy_streak and view.attempt is not None:
        return "; the last %d check%s found the Ledger busy: %s" % (
            view.busy_streak, "s" if view.busy_streak > 1 else "", view.attempt.value.get("error"))
    return ""


def evaluate(view):
    """-> (healthy, [reasons]) for a :class:`HealthView`."""
    cfg = view.config
    reasons = []
    if view.signer is None:
        reasons.append("the signer has not been probed yet")
    else:
        obs = view.signer.value
        if not obs.up:
            reasons.append("signer down: %s" % obs.error)
        elif not obs.public_key_matches:
            reasons.append(obs.error)
        if view.signer_age > cfg.signer_max_age:
            reasons.append("the last signer probe is %.0f s old (limit %.0f s)" % (view.signer_age, cfg.signer_max_age))
    if view.ledger is None:
        reasons.append("no Ledger check has completed yet" + _busy_note(view))
    else:
        result = view.ledger.value
        if not result.get("ready"):
            reasons.append("Ledger not ready (%s): %s" % (result.get("error_kind"), result.get("error")))
        if view.ledger_age > cfg.max_result_age:
            reasons.append("the last Ledger check is %.0f s old (max_result_age %g s)%s"
                           % (view.ledger_age, cfg.max_result_age, _busy_note(view)))
    return not reasons, reasons


def _signer_state(obs):
    return None if obs is None else (obs.up, obs.public_key_matches, obs.error_kind)


def _ledger_state(result):
    return None if result is None else (bool(result.get("ready")), result.get("error_kind"))


def describe_ledger(result):
    """One line about a check result, for the log."""
    if result.get("ready"):
        hwm = ((result.get("high_watermark") or {}).get("main")) or {}
        return "ready: %s %s on %s, authorized %s %s, main high watermark %s (round %s)" % (
            result.get("app"), result.get("app_version"), result.get("device"), result.get("authorized_curve"),
            result.get("authorized_path"), hwm.get("level"), hwm.get("round"))
    return "not ready (%s): %s" % (result.get("error_kind"), result.get("error"))


class HealthState:
    """Thread-safe cache of the last observations; logs one line per state change."""

    def __init__(self, config, clock=time.time, monotonic=time.monotonic, logger=LOG):
        self.config = config
        self.clock = clock
        self.monotonic = monotonic
        self.log = logger
        self._lock = threading.Lock()
        self._signer = None
        self._ledger = None
        self._attempt = None
        self._busy_streak = 0
        self._checks = dict((kind, 0) for kind in CHECK_RESULTS)
        self._healthy = None

    def record_signer(self, observation):
        """Store a :class:`SignerObservation`."""
        with self._lock:
            previous = None if self._signer is None else self._signer.value
            self._signer = Stamped(observation, self.clock(), self.monotonic(), observation.duration)
            if _signer_state(previous) != _signer_state(observation):
                if observation.up and observation.public_key_matches:
                    self.log.info("signer: serves the expected public key for %s", self.config.pkh)
                else:
                    self.log.warning("signer: %s", observation.error)
            self._log_verdict()

    def record_ledger(self, result, duration=0.0):
        """Store a check result; a ``busy`` one keeps the previous result."""
        with self._lock:
            stamped = Stamped(result, self.clock(), self.monotonic(), duration)
            kind = "ok" if result.get("ready") else (result.get("error_kind") or "command_failed")
            self._checks[kind] = self._checks.get(kind, 0) + 1
            self._attempt = stamped
            if kind == "busy":
                self._busy_streak += 1
                if self._busy_streak == 1:
                    self.log.warning("ledger: check skipped, the Ledger is busy (%s); keeping the previous result",
                                     result.get("error"))
            else:
                if self._busy_streak:
                    self.log.info("ledger: no longer busy after %d skipped check(s)", self._busy_streak)
                self._busy_streak = 0
                previous = None if self._ledger is None else self._ledger.value
                self._ledger = stamped
                if _ledger_state(previous) != _ledger_state(result):
                    level = logging.INFO if result.get("ready") else logging.WARNING
                    self.log.log(level, "ledger: %s", describe_ledger(result))
            self._log_verdict()

    def view(self):
        """A consistent :class:`HealthView` of now."""
        with self._lock:
            return self._view()

    def _view(self):
        return HealthView(config=self.config, signer=self._signer, ledger=self._ledger, attempt=self._attempt,
                          busy_streak=self._busy_streak, checks=dict(self._checks),
                          now=self.clock(), now_mono=self.monotonic())

    def _log_verdict(self):
        healthy, reasons = evaluate(self._view())
        if healthy == self._healthy:
            return
        # Not logged before the first complete picture (no noise at start-up).
        if self._healthy is None and not healthy and (self._signer is None or self._ledger is None):
            return
        self._healthy = healthy
        if healthy:
            self.log.info("health: healthy")
        else:
            self.log.warning("health: UNHEALTHY: %s", "; ".join(reasons))


# ---------------------------------------------------------------------------
# Renderings: /healthz JSON and /metrics text
# ---------------------------------------------------------------------------

def _seconds(value):
    return None if value is None else round(value, 3)


def healthz_body(view):
    """The /healthz JSON document (a dict) for a :class:`HealthView`."""
    cfg = view.config
    healthy, reasons = evaluate(view)
    if view.signer is None:
        signer = {"up": False, "public_key_matches": False, "public_key": None, "status": None,
                  "error_kind": "not_probed", "error": "the signer has not been probed yet",
                  "checked_at": None, "age_seconds": None, "duration_seconds": None, "fresh": False}
    else:
        obs = view.signer.value
        signer = {"up": obs.up, "public_key_matches": obs.public_key_matches, "public_key": obs.public_key,
                  "status": obs.status, "error_kind": obs.error_kind, "error": obs.error,
                  "checked_at": view.signer.at, "age_seconds": _seconds(view.signer_age),
                  "duration_seconds": _seconds(view.signer.duration), "fresh": view.signer_age <= cfg.signer_max_age}
    signer.update({"url": cfg.signer_key_url, "expected_public_key": cfg.public_key})

    if view.ledger is None:
        ledger = empty_ledger_result(cfg.ledger_uri, None, "no Ledger check has completed yet")
        ledger.update({"checked_at": None, "age_seconds": None, "duration_seconds": None, "fresh": False})
    else:
        ledger = dict(view.ledger.value)
        ledger.update({"checked_at": view.ledger.at, "age_seconds": _seconds(view.ledger_age),
                       "duration_seconds": _seconds(view.ledger.duration),
                       "fresh": view.ledger_age <= cfg.max_result_age})
    ledger["max_result_age"] = cfg.max_result_age
    ledger["busy"] = None
    if view.busy_streak:
        ledger["busy"] = {"skipped_checks": view.busy_streak, "error": view.attempt.value.get("error"),
                          "age_seconds": _seconds(max(0.0, view.now_mono - view.attempt.mono))}
    return {"healthy": healthy, "pkh": cfg.pkh, "signer": signer, "ledger": ledger, "reasons": reasons,
            "time": view.now}


# name -> (type, help)
METRICS = (
    ("tezos_signer_up", "gauge", "1 when the signer answered the last GET /keys/<pkh> probe over HTTP."),
    ("tezos_signer_public_key_matches", "gauge", "1 when the signer serves the configured public key for pkh."),
    ("tezos_ledger_connected", "gauge", "1 when the last Ledger check found the Ledger with a Tezos app open."),
    ("tezos_ledger_app_open", "gauge", "1 when the Tezos Baking app is the open Ledger application."),
    ("tezos_ledger_authorized", "gauge", "1 when the Ledger's authorized baking key is the configured one."),
    ("tezos_ledger_ready", "gauge", "1 when the last Ledger check passed (connected, Baking app, right key)."),
    ("tezos_ledger_high_watermark_level", "gauge", "Main chain high watermark level of the Ledger (absent when unknown)."),
    ("tezos_ledger_high_watermark_round", "gauge", "Main chain high watermark round of the Ledger (absent when unknown)."),
    ("tezos_ledger_last_check_timestamp_seconds", "gauge", "Unix time of the last completed (not busy) Ledger check."),
    ("tezos_ledger_last_check_age_seconds", "gauge", "Seconds since the last completed (not busy) Ledger check."),
    ("tezos_ledger_check_duration_seconds", "gauge", "Duration of the last Ledger check attempt."),
    ("tezos_ledger_checks_total", "counter", "Ledger check attempts by result (ok or the error kind)."),
    ("tezos_signer_health_ready", "gauge", "1 when /healthz answers 200 (signer and Ledger healthy)."),
)


def _format_value(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _escape_label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels):
    return "{%s}" % ",".join('%s="%s"' % (key, _escape_label(val)) for key, val in labels)


def metric_samples(view):
    """name -> list of (extra labels tuple, value) for a :class:`HealthView`."""
    signer = None if view.signer is None else view.signer.value
    result = None if view.ledger is None else view.ledger.value
    hwm = (((result or {}).get("high_watermark") or {}).get("main")) or {}
    samples = dict((name, []) for name, _type, _help in METRICS)

    def put(name, value, labels=()):
        if value is not None:
            samples[name].append((labels, value))

    put("tezos_signer_up", bool(signer and signer.up))
    put("tezos_signer_public_key_matches", bool(signer and signer.public_key_matches))
    put("tezos_ledger_connected", bool(result and result.get("connected")))
    put("tezos_ledger_app_open", bool(result and result.get("connected") and result.get("app") == octez_ledger.BAKING_APP))
    put("tezos_ledger_authorized", bool(result and result.get("authorized") and result.get("authorized_matches")))
    put("tezos_ledger_ready", bool(result and result.get("ready")))
    put("tezos_ledger_high_watermark_level", hwm.get("level"))
    put("tezos_ledger_high_watermark_round", hwm.get("round"))
    if view.ledger is not None:
        put("tezos_ledger_last_check_timestamp_seconds", float(view.ledger.at))
        put("tezos_ledger_last_check_age_seconds", view.ledger_age)
    if view.attempt is not None:
        put("tezos_ledger_check_duration_seconds", view.attempt.duration)
    for kind in sorted(view.checks):
        put("tezos_ledger_checks_total", view.checks[kind], (("result", kind),))
    put("tezos_signer_health_ready", evaluate(view)[0])
    return samples


def render_metrics(view):
    """Prometheus text exposition (format 0.0.4) for a :class:`HealthView`."""
    pkh = (("pkh", view.config.pkh),)
    samples = metric_samples(view)
    lines = []
    for name, mtype, help_text in METRICS:
        lines.append("# HELP %s %s" % (name, help_text.replace("\\", "\\\\").replace("\n", "\\n")))
        lines.append("# TYPE %s %s" % (name, mtype))
        for labels, value in samples[name]:
            lines.append("%s%s %s" % (name, _labels(pkh + tuple(labels)), _format_value(value)))
    return "\n".join(lines) + "\n"


def index_text(config):
    """Body of ``GET /``."""
    return (
        "tezos-bakery signer health for %s\n"
        "  /healthz  200 when the signer serves the key and the Ledger is ready, else 503 (JSON)\n"
        "  /metrics  Prometheus metrics\n" % config.pkh
    )


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class HealthRequestHandler(BaseHTTPRequestHandler):
    """Serves cached state only: no request ever runs a check."""

    server_version = "tezos-signer-health/1"
    sys_version = ""  # no Python version in the Server header
    timeout = 10  # a client that sends nothing does not hold a thread for long

    def do_GET(self):  # noqa: N802 (http.server naming)
        self._answer(include_body=True)

    def do_HEAD(self):  # noqa: N802
        self._answer(include_body=False)

    def _answer(self, include_body):
        path = urllib.parse.urlsplit(self.path).path
        state = self.server.state
        if path == "/healthz":
            body = healthz_body(state.view())
            self._send(200 if body["healthy"] else 503, "application/json",
                       json.dumps(body, sort_keys=True) + "\n", include_body)
        elif path == "/metrics":
            self._send(200, METRICS_CONTENT_TYPE, render_metrics(state.view()), include_body)
        elif path == "/":
            self._send(200, "text/plain; charset=utf-8", index_text(state.config), include_body)
        else:
            self._send(404, "text/plain; charset=utf-8", "not found\n", include_body)

    def _send(self, status, content_type, text, include_body):
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if include_body:
            self.wfile.write(data)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """No per-request log lines (journald gets state changes only)."""


class HealthServer(ThreadingHTTPServer):
    """ThreadingHTTPServer holding the shared :class:`HealthState`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, state):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        super().__init__(address, HealthRequestHandler)

    def handle_error(self, request, client_address):
        # A client that hung up early is not worth a traceback in journald.
        LOG.debug("error while answering %s", client_address, exc_info=True)


# ---------------------------------------------------------------------------
# Background work and the daemon
# ---------------------------------------------------------------------------

class PeriodicTask:
    """Runs ``func`` now, then ``interval`` seconds after each run ends, in a daemon thread."""

    def __init__(self, name, interval, func, stop_event):
        self.name = name
        self.interval = interval
        self.func = func
        self.stop_event = stop_event
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self):
        self.thread.start()

    def join(self, timeout=None):
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _run(self):
        while not self.stop_event.is_set():
            try:
                self.func()
            except Exception:  # pylint: disable=broad-except
                LOG.exception("%s failed", self.name)
            if self.stop_event.wait(self.interval):
                break


class Daemon:
    """Wires config, probe, checker, state, HTTP server and loops together."""

    def __init__(self, config, clock=time.time, monotonic=time.monotonic, check_fn=None, logger=LOG):
        self.config = config
        self.state = HealthState(config, clock=clock, monotonic=monotonic, logger=logger)
        self.signer_probe = SignerProbe(config, monotonic=monotonic)
        self.ledger_checker = LedgerChecker(config, check_fn=check_fn, monotonic=monotonic)
        self.stop_event = threading.Event()
        self.server = None
        self._server_thread = None
        self._tasks = []

    def probe_signer(self):
        self.state.record_signer(self.signer_probe.probe())

    def check_ledger(self):
        result, duration = self.ledger_checker.check()
        self.state.record_ledger(result, duration)

    def run_once(self):
        """One signer probe and one Ledger check, synchronously -> HealthView."""
        self.probe_signer()
        self.check_ledger()
        return self.state.view()

    @property
    def address(self):
        """(host, port) actually listened on (port 0 in the config picks one)."""
        return self.server.server_address[:2]

    def start(self):
        """Bind (OSError when it cannot) and start serving and checking."""
        self.server = HealthServer((self.config.listen_address, self.config.listen_port), self.state)
        self._server_thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                               name="http", daemon=True)
        self._server_thread.start()
        self._tasks = [
            PeriodicTask("signer-probe", self.config.signer_interval, self.probe_signer, self.stop_event),
            PeriodicTask("ledger-check", self.config.check_interval, self.check_ledger, self.stop_event),
        ]
        for task in self._tasks:
            task.start()

    def stop(self):
        """Stop serving; wait (bounded) for a running Ledger check so no octez-client is left behind."""
        self.stop_event.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        limits = {"signer-probe": self.config.signer_timeout + 1, "ledger-check": self.config.max_check_duration + 1}
        for task in self._tasks:
            if not task.join(limits.get(task.name)):
                LOG.warning("%s still running at exit", task.name)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="signer_health.py",
        description="Health endpoint (/healthz, /metrics) of a Tezos remote signer and its Ledger.")
    parser.add_argument("--config", required=True, metavar="PATH", help="JSON configuration file")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check-config", action="store_true", help="validate the configuration and exit (0 ok, 2 bad)")
    mode.add_argument("--once", action="store_true",
                      help="probe the signer, check the Ledger once, print the /healthz JSON; exit 0 if healthy else 1")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print("signer_health: invalid configuration %s: %s" % (args.config, exc), file=sys.stderr)
        return 2
    if args.check_config:
        print("signer_health: configuration %s is valid (pkh %s, ledger %s, signer %s)"
              % (args.config, config.pkh, config.ledger_uri, config.signer_url))
        return 0

    daemon = Daemon(config)
    if args.once:
        body = healthz_body(daemon.run_once())
        print(json.dumps(body, indent=2, sort_keys=True))
        return 0 if body["healthy"] else 1

    def on_signal(signum, _frame):
        LOG.info("received %s, stopping", signal.Signals(signum).name)
        daemon.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        daemon.start()
    except OSError as exc:
        LOG.error("cannot listen on %s:%s: %s", config.listen_address, config.listen_port, exc)
        return 1
    host, port = daemon.address
    LOG.info("listening on http://%s:%d/ for %s (signer %s, Ledger %s checked every %g s, timeout %g s)",
             "[%s]" % host if ":" in host else host, port, config.pkh, config.signer_url, config.ledger_uri,
             config.check_interval, config.check_timeout)
    while not daemon.stop_event.wait(1.0):
        pass
    daemon.stop()
    LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
