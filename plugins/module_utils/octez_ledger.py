# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Talk to a Ledger Nano through ``octez-client``'s Ledger commands.

Pure standard library on purpose: this file is imported both by the
``tezos.bakery.ledger_*`` modules and by the standalone signer health daemon
on the Raspberry Pi signers (Debian bookworm, python3.11). Keep it free of
any ``ansible`` import and Python 3.9 compatible.

Only one process can hold the Ledger at a time. Every call therefore runs
``octez-client`` in its own session with a hard timeout (the whole process
group is killed when it expires, a hung check must never freeze its caller),
and callers may pass ``lock_path`` so two checks never talk to the device at
once.

The output formats parsed here are those printed by Octez
(src/lib_signer_backends/unix/ledger.ml, ledger.available.ml):

* ``list connected ledgers``::

    ## Ledger `major-squirrel-thick-hedgehog`
    Found a Tezos Baking 2.4.7 (git-description: "") application running on
    Ledger Nano S Plus at [1-1.2:1.0].

    To use keys at BIP32 path m/44'/1729'/0'/0' (default Tezos key path), use
    one of:
      octez-client import secret key ledger_user "ledger://major-squirrel-thick-hedgehog/ed25519/0h/0h"
      ...

  (nothing at all when no Tezos application answers).
* ``get ledger authorized path for``: ``Authorized baking path: 44h/1729h/0h/0h``,
  ``Authorized baking curve: ed25519``, ``Authorized baking URI: ledger://...``
  or ``No baking key authorized at all.``
* ``get ledger high watermark for``: ``The high water mark values for <uri>
  are <level> (round: <round>) for the main-chain (<chain id>|'Unspecified')
  and <level> (round: <round>) for the test-chain.`` (the round parts only
  with Tenderbake-aware Baking apps; Format may wrap the sentence anywhere).
* errors go to stderr as ``Error:`` followed by indented messages, exit 1.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import contextlib
import errno
import fcntl
import json
import os
import re
import signal
import subprocess
import time

BAKING_APP = "Tezos Baking"
WALLET_APP = "Tezos Wallet"

# BIP32 root of every Tezos key: m/44'/1729'
TEZOS_ROOT = ("44'", "1729'")

ERROR_KINDS = (
    "no_ledger",
    "app_not_open",
    "wrong_key",
    "not_authorized",
    "timeout",
    "busy",
    "command_failed",
    "parse_error",
)

# Curve names as octez-client prints them (Ledgerwallet_tezos.pp_curve),
# keyed by every spelling it accepts (Ledgerwallet_tezos.curve_of_string).
_CURVES = {
    "ed": "ed25519",
    "ed25519": "ed25519",
    "bip25519": "bip25519",
    "bip32-ed25519": "bip25519",
    "secp256k1": "secp256k1",
    "p256": "P-256",
    "p-256": "P-256",
    "secp256r1": "P-256",
}

_ANIMALS_RE = re.compile(r"^[a-z]+(?:-[a-z]+){3}$")
_PKH_RE = re.compile(r"^(?:tz[1-4]|KT1)[1-9A-HJ-NP-Za-km-z]{33}$")
_CHAIN_ID_RE = re.compile(r"^Net[1-9A-HJ-NP-Za-km-z]{12}$")


class LedgerError(Exception):
    """A failed Ledger operation.

    ``kind`` is one of :data:`ERROR_KINDS`, ``message`` a one-line human
    readable explanation. ``stdout``/``stderr``/``rc`` keep what the command
    printed when there was a command (e.g. ``get ledger authorized path``
    prints the authorized path on stdout before failing with ``wrong_key``).
    """

    def __init__(self, kind, message, stdout="", stderr="", rc=None):
        if kind not in ERROR_KINDS:
            raise ValueError("unknown LedgerError kind: %r" % (kind,))
        super(LedgerError, self).__init__("%s: %s" % (kind, message))
        self.kind = kind
        self.message = message
        self.stdout = stdout
        self.stderr = stderr
        self.rc = rc


# ---------------------------------------------------------------------------
# Running octez-client
# ---------------------------------------------------------------------------

def _squash(text):
    """Collapse all whitespace (Format wraps long sentences anywhere)."""
    return " ".join((text or "").split())


def error_message(text):
    """One-line message out of octez-client's ``Error:`` block.

    When the text has an ``Error:`` block, only that block is kept: on a
    signer without a node every command first prints a ``Warning:`` block
    ("Failed to acquire the protocol version from the node ...").
    """
    all_lines = (text or "").splitlines()
    for index, line in enumerate(all_lines):
        if line.strip() == "Error:":
            all_lines = all_lines[index + 1:]
            break
    lines = []
    for line in all_lines:
        stripped = line.strip()
        if not stripped or stripped == "Error:":
            continue
        lines.append(stripped)
    return " ".join(lines)


_ERROR_DESCRIPTIONS = {
    "no_ledger": "no Ledger connected (or it is locked, asleep, or held by another process)",
    "app_not_open": "the Tezos Baking app is not open on the Ledger",
    "wrong_key": "the Ledger authorizes another key",
    "not_authorized": "no baking key is authorized on the Ledger",
    "timeout": "octez-client did not answer in time and was killed",
    "busy": "the Ledger is busy (another process holds it or its lock)",
    "command_failed": "octez-client failed",
    "parse_error": "unexpected octez-client output",
}


def describe_error(kind, message=None):
    """Human one-liner for a :class:`LedgerError` kind, followed by the
    detailed ``message`` when there is one (``"<what>: <detail>"``)."""
    human = _ERROR_DESCRIPTIONS.get(kind, "Ledger operation failed")
    detail = _squash(message)
    if not detail or detail.lower() == human.lower():
        return human
    return "%s: %s" % (human, detail)


def classify_error(text):
    """Map the text printed by a failed octez-client Ledger command to a kind.

    Octez reports "no such device" and "device present, but the Baking app is
    not the open application" with the same sentence (``Found no ledger
    corresponding to <uri> with filter "App = Baking".``): it is classified
    ``no_ledger`` here, and :func:`check_ledger` tells the two apart with
    ``list connected ledgers``.
    """
    low = _squash(text).lower()
    if not low:
        return "command_failed"
    if "path and curve do not match" in low:
        return "wrong_key"
    app_markers = (
        "only works with the tezos baking app",
        "only valid with the tezos baking application",
        "only valid with tezbake",
        "incorrect class",
        "not a tezos application",
        # 0x5515: the device is locked (PIN screen), no app can answer.
        "unknown status code 0x5515",
    )
    if any(marker in low for marker in app_markers):
        return "app_not_open"
    busy_markers = (
        "transport level error",
        "apdu level error",
        "unexpected sequence number",
        "device or resource busy",
        "resource temporarily unavailable",
        "cannot open",
        "could not open",
        "unable to open",
        "failed to open",
    )
    if any(marker in low for marker in busy_markers):
        return "busy"
    no_device_markers = (
        "found no ledger corresponding",
        "no ledger found",
        "no device found",
        "no ledger connected",
    )
    if any(marker in low for marker in no_device_markers):
        return "no_ledger"
    if "security status unsatisfied" in low or "no baking key authorized" in low:
        return "not_authorized"
    return "command_failed"


@contextlib.contextmanager
def ledger_lock(lock_path, lock_timeout=5.0):
    """Hold an exclusive ``flock`` on ``lock_path`` (no-op when None).

    Polls a non-blocking lock until ``lock_timeout`` seconds have passed,
    then raises ``LedgerError(kind="busy")``. The lock belongs to the open
    file description: do not nest two ``ledger_lock`` on the same path in one
    process (the inner one would wait for the outer one).

    The file is opened read-only: ``flock`` needs no write access, so a lock
    file created by root (the modules) stays usable by the unprivileged
    health service and the other way round, whatever the creator's umask.
    """
    if not lock_path:
        yield
        return
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CREAT, 0o660)
    except OSError as exc:
        raise LedgerError("command_failed", "cannot open lock file %s: %s" % (lock_path, exc))
    try:
        deadline = time.monotonic() + max(0.0, float(lock_timeout))
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise LedgerError("command_failed", "cannot lock %s: %s" % (lock_path, exc))
                if time.monotonic() >= deadline:
                    raise LedgerError(
                        "busy",
                        "another process holds the Ledger lock %s (waited %.1fs)" % (lock_path, float(lock_timeout)),
                    )
                time.sleep(0.05)
        try:
            yield
        finally:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError:
                pass
    finally:
        os.close(fd)


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        proc.kill()
    except OSError:
        pass


def _run(cmd, timeout, env):
    try:
        # Not AnsibleModule.run_command: this file stays stdlib-only (the signer
        # health daemon imports it) and needs its own session for killpg.
        proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=env,
        )
    except OSError as exc:
        raise LedgerError("command_failed", "cannot run %s: %s" % (cmd[0], exc))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = b"", b""
        try:
            out, err = proc.communicate(timeout=2)
        except (subprocess.TimeoutExpired, OSError, ValueError):
            # A grandchild that left the group may still hold the pipes.
            for stream in (proc.stdout, proc.stderr):
                try:
                    stream.close()
                except (OSError, AttributeError):
                    pass
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        raise LedgerError(
            "timeout",
            "%s did not finish within %.1fs and was killed" % (" ".join(cmd), float(timeout)),
            stdout=(out or b"").decode("utf-8", "replace"),
            stderr=(err or b"").decode("utf-8", "replace"),
        )
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    return (
        proc.returncode,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
    )


def build_command(binary, args, base_dir=None):
    """``binary [-d base_dir] args...`` as a list."""
    cmd = [binary]
    if base_dir:
        cmd.extend(["-d", base_dir])
    cmd.extend(str(a) for a in args)
    return cmd


def run_octez_client(binary, args, base_dir=None, timeout=10.0, lock_path=None,
                     lock_timeout=5.0, env=None):
    """Run ``binary [-d base_dir] args...`` and return its stdout.

    * runs in a new session; on timeout the whole process group is killed
      and ``LedgerError(kind="timeout")`` raised;
    * with ``lock_path``, holds an exclusive flock on it for the duration
      (``LedgerError(kind="busy")`` when not obtained in ``lock_timeout``);
    * ``env`` entries are added to (not substituted for) the environment;
    * non-zero exit: ``LedgerError`` with the kind from :func:`classify_error`.
    """
    cmd = build_command(binary, args, base_dir)
    full_env = dict(os.environ)
    if env:
        full_env.update(dict((str(k), str(v)) for k, v in env.items()))
    with ledger_lock(lock_path, lock_timeout):
        rc, out, err = _run(cmd, float(timeout), full_env)
    if rc != 0:
        text = err if err.strip() else out
        kind = classify_error(err + "\n" + out)
        message = error_message(text) or ("%s exited with status %d" % (" ".join(cmd), rc))
        raise LedgerError(kind, message, stdout=out, stderr=err, rc=rc)
    return out


# ---------------------------------------------------------------------------
# Ledger URIs and BIP32 paths
# ---------------------------------------------------------------------------

def normalize_curve(curve):
    """Canonical curve name (``ed25519``, ``secp256k1``, ``P-256``, ``bip25519``)."""
    if curve is None:
        return None
    return _CURVES.get(str(curve).strip().lower())


def _node(element):
    """``0h`` / ``0'`` / ``7`` -> (number, hardened)."""
    element = element.strip()
    if not element:
        raise LedgerError("parse_error", "empty BIP32 path element")
    hardened = element[-1] in ("h", "'", "H")
    digits = element[:-1] if hardened else element
    if not digits.isdigit():
        raise LedgerError("parse_error", "BIP32 path element is not an integer: %r" % (element,))
    value = int(digits)
    if value >= 2 ** 31:
        raise LedgerError("parse_error", "BIP32 path element out of range: %r" % (element,))
    return value, hardened


def bip32_path(elements):
    """List of path elements -> ``m/44'/1729'/...`` (hardened as ``'``)."""
    out = ["m"]
    for element in elements:
        value, hardened = _node(element)
        out.append("%d%s" % (value, "'" if hardened else ""))
    return "/".join(out)


def normalize_bip32(path):
    """Any spelling of a full path (``44h/1729h/0h/0h``, ``m/44'/1729'/0'/0'``)
    -> ``m/44'/1729'/0'/0'``; None stays None."""
    if path is None:
        return None
    text = str(path).strip()
    if text.startswith("m/"):
        text = text[2:]
    elif text == "m":
        text = ""
    parts = [p for p in text.split("/") if p]
    return bip32_path(parts)


def ledger_uri_path(uri):
    """Parse ``ledger://<animals>/<curve>/<path>`` (as octez-client does).

    Returns ``{"name", "curve", "path", "uri"}``: ``path`` is the full BIP32
    path ``m/44'/1729'/0'/0'`` (``0h`` == ``0'``) or None for a bare
    ``ledger://<animals>``; when the first segment is not a curve the curve
    defaults to ed25519 like Octez does; ``uri`` is the URI as octez-client
    prints it (``ledger://name/ed25519/0h/0h``).
    """
    if not isinstance(uri, str) or not uri.startswith("ledger://"):
        raise LedgerError("parse_error", "not a ledger:// URI: %r" % (uri,))
    rest = uri[len("ledger://"):]
    rest = rest.split("?", 1)[0].split("#", 1)[0]
    host, _sep, path = rest.partition("/")
    if not (_ANIMALS_RE.match(host) or _PKH_RE.match(host)):
        raise LedgerError("parse_error", "cannot parse host of URI: %s" % (uri,))
    segments = [s for s in path.split("/") if s]
    if not segments:
        return {"name": host, "curve": None, "path": None, "uri": "ledger://%s" % host}
    curve = normalize_curve(segments[0])
    if curve is None:
        curve = "ed25519"
    else:
        segments = segments[1:]
    nodes = [_node(s) for s in segments]
    if curve == "ed25519" and not all(h for _v, h in nodes):
        raise LedgerError("parse_error", "non-hardened paths are not allowed for ed25519 (%s)" % (uri,))
    full = list(TEZOS_ROOT) + ["%d%s" % (v, "'" if h else "") for v, h in nodes]
    short = "/".join("%d%s" % (v, "h" if h else "") for v, h in nodes)
    printed = "ledger://%s/%s" % (host, curve) + ("/" + short if short else "/")
    return {"name": host, "curve": curve, "path": bip32_path(full), "uri": printed}


def same_key_path(uri, authorized):
    """True when ``authorized`` (``parse_authorized_path`` result, or any dict
    with ``curve`` and ``path``) designates the same curve and BIP32 path as
    the ledger ``uri``."""
    if not authorized:
        return False
    if authorized.get("authorized") is False:
        return False
    try:
        wanted = ledger_uri_path(uri)
    except LedgerError:
        return False
    if wanted["path"] is None:
        return False
    curve = normalize_curve(authorized.get("curve"))
    try:
        path = normalize_bip32(authorized.get("path"))
    except LedgerError:
        return False
    return curve == wanted["curve"] and path == wanted["path"]


def resolve_alias(alias, base_dir=None):
    """Ledger URI of an octez-client alias, read from ``<base_dir>/secret_keys``
    (then ``public_keys``); None when unknown. URIs are returned unchanged."""
    if alias is None:
        return None
    if str(alias).startswith("ledger://"):
        return alias
    base = base_dir or os.path.join(os.path.expanduser("~"), ".tezos-client")
    for name in ("secret_keys", "public_keys"):
        try:
            with open(os.path.join(base, name)) as handle:
                entries = json.load(handle)
        except (OSError, ValueError):
            continue
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("name") != alias:
                continue
            value = entry.get("value")
            if isinstance(value, dict):
                value = value.get("locator")
            if isinstance(value, str) and value.startswith("ledger://"):
                return value
    return None


# ---------------------------------------------------------------------------
# Output parsers
# ---------------------------------------------------------------------------

_FOUND_RE = re.compile(
    r'Found a (?P<app>.+?) (?P<version>\d+\.\d+\.\d+) '
    r'\(git-description: "(?P<git>(?:[^"\\]|\\.)*)"\) application running on '
    r'(?:(?P<proxy>proxy server)|(?P<device>.+?) at \[(?P<hid>[^\]]*)\])\.'
)
_LEDGER_HEADER_RE = re.compile(r"^## Ledger `(?P<name>[^`]+)`\s*$", re.MULTILINE)
_URI_RE = re.compile(r'"(ledger://[^"\s]+)"')


def parse_connected_ledgers(text):
    """``list connected ledgers`` output -> list of dicts.

    Each dict: ``name`` (animals), ``app`` (``Tezos Baking``/``Tezos
    Wallet``), ``version`` (``2.4.7``), ``device`` (``Ledger Nano S Plus``,
    or ``proxy server``), ``hid_path``, ``git_description`` and ``uris`` (the
    ``ledger://`` URIs of the import examples). Empty list when nothing is
    connected (octez-client then prints nothing).
    """
    text = text or ""
    headers = list(_LEDGER_HEADER_RE.finditer(text))
    ledgers = []
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        body = text[header.end():end]
        intro = body.split("To use keys at", 1)[0]
        match = _FOUND_RE.search(_squash(intro))
        if not match:
            raise LedgerError(
                "parse_error",
                "cannot parse the description of Ledger %s: %r" % (header.group("name"), _squash(intro)),
            )
        ledgers.append({
            "name": header.group("name"),
            "app": match.group("app"),
            "version": match.group("version"),
            "device": match.group("proxy") or match.group("device"),
            "hid_path": match.group("hid"),
            "git_description": match.group("git"),
            "uris": _URI_RE.findall(body),
        })
    return ledgers


def parse_authorized_path(text):
    """``get ledger authorized path for`` output -> dict.

    ``{"authorized": bool, "path": "m/44'/1729'/0'/0'"|None, "curve":
    "ed25519"|None, "uri": str|None, "raw_path": "44h/1729h/0h/0h"|None,
    "legacy": bool}``. ``uri`` is only printed by octez-client when the URI
    asked about matches the authorized key.
    """
    squashed_lines = [line.strip() for line in (text or "").splitlines()]
    result = {"authorized": False, "path": None, "curve": None, "uri": None,
              "raw_path": None, "legacy": False}
    seen = False
    for line in squashed_lines:
        if line == "No baking key authorized at all.":
            return {"authorized": False, "path": None, "curve": None, "uri": None,
                    "raw_path": None, "legacy": False}
        match = re.match(r"^Authorized baking path(?P<legacy> \(Legacy < 2\.x\.y\))?:\s*(?P<path>\S*)$", line)
        if match:
            seen = True
            result["authorized"] = True
            result["raw_path"] = match.group("path")
            result["path"] = normalize_bip32(match.group("path"))
            result["legacy"] = bool(match.group("legacy"))
            continue
        match = re.match(r"^Authorized baking curve:\s*(?P<curve>\S+)$", line)
        if match:
            seen = True
            result["curve"] = normalize_curve(match.group("curve")) or match.group("curve")
            continue
        match = re.match(r"^Authorized baking URI:\s*(?P<uri>\S+)$", line)
        if match:
            seen = True
            result["uri"] = match.group("uri")
    if not seen:
        raise LedgerError("parse_error", "unexpected authorized path output: %r" % (_squash(text),))
    return result


_ALL_HWM_RE = re.compile(
    r"are (?P<main>-?\d+)(?: \(round: (?P<main_round>-?\d+)\))? for the main-chain "
    r"\((?P<chain>[^)]*)\) and (?P<test>-?\d+)(?: \(round: (?P<test_round>-?\d+)\))? "
    r"for the test-chain\."
)
_LEGACY_HWM_RE = re.compile(
    r"The high water mark for (?P<uri>\S+) is (?P<level>-?\d+)(?: \(round: (?P<round>-?\d+)\))?\."
)
_SET_HWM_RE = re.compile(
    r"has now high water mark: (?P<level>-?\d+)(?: \(round: (?P<round>-?\d+)\))?"
)


def _opt_int(value):
    return None if value is None else int(value)


def parse_high_watermark(text):
    """``get ledger high watermark for`` output -> dict.

    ``{"main": {"level": int, "round": int|None}, "test": {...}|None,
    "chain_id": "NetXdQprcVkpaWU"|None}``; ``chain_id`` is None when the
    Ledger prints ``'Unspecified'``; ``test`` is None for the legacy (1.x)
    single-value output. Also accepts the ``set ledger high watermark``
    confirmation (``... has now high water mark: N (round: R)``).
    """
    flat = _squash(text)
    match = _ALL_HWM_RE.search(flat)
    if match:
        chain = match.group("chain").strip()
        if chain.strip("'").lower() == "unspecified":
            chain = None
        return {
            "main": {"level": int(match.group("main")), "round": _opt_int(match.group("main_round"))},
            "test": {"level": int(match.group("test")), "round": _opt_int(match.group("test_round"))},
            "chain_id": chain,
        }
    for regex in (_LEGACY_HWM_RE, _SET_HWM_RE):
        match = regex.search(flat)
        if match:
            return {
                "main": {"level": int(match.group("level")), "round": _opt_int(match.group("round"))},
                "test": None,
                "chain_id": None,
            }
    raise LedgerError("parse_error", "unexpected high watermark output: %r" % (flat,))


# ---------------------------------------------------------------------------
# Whole-device check (modules and health daemon)
# ---------------------------------------------------------------------------

def _select_ledger(ledgers, uri):
    """The listed Ledger the URI designates (None when it is not there)."""
    name = None
    if isinstance(uri, str) and uri.startswith("ledger://"):
        try:
            name = ledger_uri_path(uri)["name"]
        except LedgerError:
            name = None
    if name and _ANIMALS_RE.match(name):
        for ledger in ledgers:
            if ledger["name"] == name:
                return ledger
        return None
    for ledger in ledgers:
        if ledger.get("app") == BAKING_APP:
            return ledger
    return ledgers[0] if ledgers else None


def check_ledger(binary, uri, base_dir=None, timeout=10.0, lock_path=None,
                 lock_timeout=5.0, env=None):
    """Full, read-only health check of the Ledger behind ``uri``.

    Runs ``list connected ledgers``, ``get ledger authorized path for <uri>``
    and ``get ledger high watermark for <uri>`` under one lock. Never raises
    for Ledger state problems: they are reported in the returned dict::

        {"connected", "name", "app", "app_version", "device", "ledgers",
         "authorized", "authorized_matches", "authorized_path",
         "authorized_curve", "authorized_uri", "high_watermark",
         "ready", "error_kind", "error"}

    ``ready`` is true only when the Ledger is connected, runs the Tezos
    Baking app, its authorized key is the one of ``uri`` and every command
    succeeded.
    """
    result = {
        "uri": uri,
        "connected": False,
        "name": None,
        "app": None,
        "app_version": None,
        "device": None,
        "ledgers": [],
        "authorized": False,
        "authorized_matches": False,
        "authorized_path": None,
        "authorized_curve": None,
        "authorized_uri": None,
        "high_watermark": None,
        "ready": False,
        "error_kind": None,
        "error": None,
    }

    def fail(kind, message):
        result["error_kind"] = kind
        result["error"] = message
        result["ready"] = False
        return result

    def run(args):
        return run_octez_client(binary, args, base_dir=base_dir, timeout=timeout, env=env)

    try:
        with ledger_lock(lock_path, lock_timeout):
            try:
                ledgers = parse_connected_ledgers(run(["list", "connected", "ledgers"]))
            except LedgerError as exc:
                return fail(exc.kind, exc.message)
            result["ledgers"] = ledgers
            ledger = _select_ledger(ledgers, uri)
            if ledger is None:
                if ledgers:
                    return fail("no_ledger", "no connected Ledger matches %s (connected: %s)"
                                % (uri, ", ".join(item["name"] for item in ledgers)))
                return fail("no_ledger", "no Ledger with an open Tezos application is connected")
            result.update({
                "connected": True,
                "name": ledger["name"],
                "app": ledger["app"],
                "app_version": ledger["version"],
                "device": ledger["device"],
            })
            if ledger["app"] != BAKING_APP:
                return fail("app_not_open", "the Ledger runs %s %s, not %s"
                            % (ledger["app"], ledger["version"], BAKING_APP))

            try:
                authorized = parse_authorized_path(run(["get", "ledger", "authorized", "path", "for", uri]))
                auth_error = None
            except LedgerError as exc:
                if exc.kind != "wrong_key":
                    return fail(exc.kind, exc.message)
                authorized = parse_authorized_path(exc.stdout)
                auth_error = exc
            result["authorized"] = authorized["authorized"]
            result["authorized_path"] = authorized["path"]
            result["authorized_curve"] = authorized["curve"]
            result["authorized_uri"] = authorized["uri"]
            if authorized["uri"] is not None:
                result["authorized_matches"] = True
            elif str(uri).startswith("ledger://"):
                result["authorized_matches"] = same_key_path(uri, authorized)

            try:
                result["high_watermark"] = parse_high_watermark(
                    run(["get", "ledger", "high", "watermark", "for", uri]))
            except LedgerError as exc:
                return fail(exc.kind, exc.message)

            if not authorized["authorized"]:
                return fail("not_authorized", "no baking key is authorized on Ledger %s" % ledger["name"])
            if auth_error is not None or not result["authorized_matches"]:
                return fail("wrong_key", "the Ledger authorizes %s %s, not %s"
                            % (authorized["curve"], authorized["path"], uri))
    except LedgerError as exc:
        # The lock itself (busy) or an unexpected parse failure.
        return fail(exc.kind, exc.message)
    result["ready"] = True
    return result


# ---------------------------------------------------------------------------
# setup ledger to bake for
# ---------------------------------------------------------------------------

def baking_setup_args(alias_or_uri, main_chain_id=None, main_hwm=None, test_hwm=None):
    """Arguments of ``setup ledger to bake for <key> [--main-chain-id ID]
    [--main-hwm N] [--test-hwm N]`` (without the binary).

    Without ``main_chain_id`` octez-client asks the node for it; without
    ``main_hwm`` it keeps the Ledger's current value.
    """
    args = ["setup", "ledger", "to", "bake", "for", str(alias_or_uri)]
    if main_chain_id is not None:
        args.extend(["--main-chain-id", str(main_chain_id)])
    if main_hwm is not None:
        args.extend(["--main-hwm", str(int(main_hwm))])
    if test_hwm is not None:
        args.extend(["--test-hwm", str(int(test_hwm))])
    return args


def plan_baking_setup(current_authorized, current_hwm, uri, requested_main_hwm, force,
                      requested_main_chain_id=None):
    """Decide whether ``setup ledger to bake for`` must run.

    * nothing to do when the Ledger already authorizes the curve/path of
      ``uri``, its main high watermark is >= ``requested_main_hwm`` and (when
      given as a base58 chain id) its main chain id is
      ``requested_main_chain_id``; a forced run never lowers a watermark the
      Ledger already went past for that key;
    * a setup that would lower the main high watermark is refused unless
      ``force`` (re-signing at a level already baked is how double baking
      happens);
    * returns ``{"changed": bool, "reason": str, "error": str|None}``.
    """
    authorized = current_authorized or {}
    matches = same_key_path(uri, authorized)
    main = (current_hwm or {}).get("main") or {}
    level = main.get("level")
    chain = (current_hwm or {}).get("chain_id")
    wanted = None if requested_main_hwm is None else int(requested_main_hwm)
    wanted_chain = requested_main_chain_id
    if wanted_chain is not None and not _CHAIN_ID_RE.match(str(wanted_chain)):
        wanted_chain = None  # an int32 spelling: cannot be compared, ignore

    hwm_ok = wanted is None or (level is not None and level >= wanted)
    chain_ok = wanted_chain is None or chain == wanted_chain
    if matches and hwm_ok and chain_ok:
        reason = "the Ledger already authorizes %s %s" % (authorized.get("curve"), authorized.get("path"))
        if level is not None:
            reason += " with main high watermark %d" % level
            if wanted is not None:
                reason += " (>= %d)" % wanted
        return {"changed": False, "reason": reason, "error": None}

    if wanted is not None:
        if level is None and not force:
            return {
                "changed": False,
                "reason": "current high watermark unknown",
                "error": "cannot read the Ledger's current main high watermark; "
                         "refusing to set it to %d without force" % wanted,
            }
        if level is not None and wanted < level and not force:
            return {
                "changed": False,
                "reason": "would lower the main high watermark",
                "error": "refusing to lower the Ledger's main high watermark from %d to %d "
                         "(set force to allow it)" % (level, wanted),
            }

    reasons = []
    if not authorized.get("authorized"):
        reasons.append("no baking key is authorized")
    elif not matches:
        reasons.append("the Ledger authorizes %s %s instead" % (authorized.get("curve"), authorized.get("path")))
    if not chain_ok:
        reasons.append("main chain id %s -> %s" % (chain or "'Unspecified'", wanted_chain))
    if wanted is not None and level != wanted:
        if level is not None and wanted < level:
            reasons.append("forced: main high watermark lowered %d -> %d" % (level, wanted))
        else:
            reasons.append("main high watermark %s -> %d" % ("unknown" if level is None else level, wanted))
    return {"changed": True, "reason": "; ".join(reasons) or "setup required", "error": None}


def octez_client_argument_spec():
    """Argument spec shared by the modules (see doc fragment octez_client)."""
    return dict(
        octez_client_path=dict(type="path", default="/usr/local/bin/octez-client"),
        base_dir=dict(type="path"),
        timeout=dict(type="float", default=10.0),
        lock_path=dict(type="path"),
    )
