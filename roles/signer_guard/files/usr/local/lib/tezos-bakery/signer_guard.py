# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared high-watermark guard in front of the signers' load balancer.

Started by systemd as::

    /usr/bin/python3 /usr/local/lib/tezos-bakery/signer_guard.py --config /etc/tezos-bakery/signer-guard.json

Why: each Pi's ``octez-signer -W`` and each Ledger keep their OWN high
watermark. After a failover pi2 has never seen what pi1 signed, so both
would sign a different block (or attestation) at the same level and round:
a double bake / double attestation, which is slashed. This guard sits
between the baker and haproxy, sees every request whichever Pi answers it,
and keeps one watermark for all of them.

Standard library only. It speaks the octez-signer HTTP API:

* ``POST /keys/<pkh>`` (JSON hex string): for a block (magic 0x11),
  preattestation (0x12) or attestation (0x13) it reads the chain id, level
  and round (the offsets octez-signer uses), and per chain, key and kind:

  - (level, round) above the stored mark: the mark is RESERVED on disk
    (hash of the payload, no signature yet; temporary file, fsync, rename,
    fsync of the folder) before the request goes upstream; the signature is
    stored the same way before it is returned;
  - the same (level, round) and the same bytes: the stored signature is
    answered without asking a signer, or the request is sent again when the
    first attempt got no signature (identical bytes cannot double sign);
  - the same (level, round) with other bytes, or a lower one: refused with
    HTTP 409 and an Octez-style error list; no signer is asked.

  A reservation that got no signature still blocks other bytes at that
  level and round: the signer may have signed before the answer was lost.
  Other magic bytes are refused unless listed in ``allowed_magic_bytes``
  (then passed through unguarded).
* ``GET /keys/<pkh>`` and ``GET /authorized_keys``: passed through.
* ``GET /healthz``: 200 while the watermark file is readable (the guard is
  up; whether a signer is healthy is haproxy's business).

Requests are handled one at a time (a signer serves one Ledger anyway), and
an exclusive lock on the state folder keeps a second guard process out.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import argparse
import fcntl
import hashlib
import http.client
import json
import logging
import os
import re
import signal
import struct
import sys
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = logging.getLogger("tezos_signer_guard")

#: Magic byte -> watermark kind (octez-signer's file names without the suffix).
KINDS = {0x11: "block", 0x12: "preattestation", 0x13: "attestation"}
#: Offset of the fitness in a 0x11 payload: magic, chain id, level, proto,
#: predecessor, timestamp, validation passes, operations hash.
BLOCK_FITNESS_OFFSET = 1 + 4 + 4 + 1 + 32 + 8 + 1 + 32
#: Offset of the level in a 0x12/0x13 payload: magic, chain id, branch, tag, slot.
CONSENSUS_LEVEL_OFFSET = 1 + 4 + 32 + 1 + 2
#: Name of the watermark file in the state folder.
STATE_FILE = "high_watermarks.json"
#: Biggest request body read (a block header is a few hundred bytes).
MAX_BODY = 64 * 1024
#: Headers of the upstream answer passed back to the baker.
PASSED_HEADERS = ("Content-Type", "X-Tezos-Signer")
#: A Tezos public key hash (never a path).
PKH_RE = re.compile(r"^(tz[1-4]|KT1)[1-9A-HJ-NP-Za-km-z]{33}$")

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_CHAIN_ID_PREFIX = b"\x57\x52\x00"


class GuardError(Exception):
    """A request the guard refuses (HTTP status, message)."""

    def __init__(self, status, message):
        super(GuardError, self).__init__(message)
        self.status = status


# ---------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------

def chain_id_b58(raw):
    """``Net...`` of the 4 raw chain id bytes."""
    data = _CHAIN_ID_PREFIX + bytes(raw)
    data += hashlib.sha256(hashlib.sha256(data).digest()).digest()[:4]
    number, digits = int.from_bytes(data, "big"), ""
    while number:
        number, rest = divmod(number, 58)
        digits = _B58[rest] + digits
    return digits


def parse_consensus(data):
    """``(kind, chain id, level, round)`` of a block or (pre)attestation
    signing payload, ``None`` for any other magic byte; GuardError(400)
    when the payload is too short to hold them."""
    if not data or data[0] not in KINDS:
        return None
    kind = KINDS[data[0]]
    try:
        if data[0] == 0x11:
            level = struct.unpack_from(">i", data, 5)[0]
            (length,) = struct.unpack_from(">i", data, BLOCK_FITNESS_OFFSET)
            if length < 4:
                raise struct.error("fitness of %d bytes" % length)
            # The round is the last element of the fitness: its last 4 bytes.
            round_ = struct.unpack_from(">i", data, BLOCK_FITNESS_OFFSET + length)[0]
        else:
            level, round_ = struct.unpack_from(">ii", data, CONSENSUS_LEVEL_OFFSET)
    except struct.error as exc:
        raise GuardError(400, "cannot read the level and round of this %s payload: %s" % (kind, exc))
    return kind, chain_id_b58(data[1:5]), level, round_


def payload_hash(data):
    """Hex blake2b-256 of the payload (what the marks compare)."""
    return hashlib.blake2b(bytes(data), digest_size=32).hexdigest()


# ---------------------------------------------------------------------------
# Watermarks
# ---------------------------------------------------------------------------

def decide(mark, level, round_, data_hash):
    """What to do with a request at (level, round) given the stored mark:
    ``("sign", None)``, ``("replay", signature)`` or ``("refuse", reason)``."""
    if not mark:
        return "sign", None
    prev = (mark["level"], mark["round"])
    if (level, round_) > prev:
        return "sign", None
    if (level, round_) < prev:
        return "refuse", "level %d round %d is below the high watermark (level %d round %d)" % (
            level, round_, prev[0], prev[1])
    if mark.get("hash") != data_hash:
        return "refuse", "level %d round %d was already signed (or sent to a signer) with other data" % (level, round_)
    if mark.get("signature"):
        return "replay", mark["signature"]
    return "sign", None


class Watermarks:
    """``{kind: {chain: {pkh: mark}}}`` persisted in one JSON file, replaced
    atomically and durably on every change."""

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, STATE_FILE)
        self.marks = self.load()

    def load(self):
        """The stored marks; an unreadable file stops the guard (never
        start from nothing: that would forget what was signed)."""
        try:
            with open(self.path) as handle:
                marks = json.load(handle)
        except FileNotFoundError:
            return {}
        if not isinstance(marks, dict):
            raise ValueError("%s does not hold a JSON object" % self.path)
        return marks

    def get(self, kind, chain, pkh):
        """The mark of a key, or None."""
        return self.marks.get(kind, {}).get(chain, {}).get(pkh)

    def put(self, kind, chain, pkh, mark):
        """Store a mark and write the file before returning."""
        self.marks.setdefault(kind, {}).setdefault(chain, {})[pkh] = mark
        self.write()

    def write(self):
        """Temporary file, fsync, rename, fsync of the folder."""
        fd, tmp = tempfile.mkstemp(prefix=".%s." % STATE_FILE, dir=self.state_dir)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(self.marks, handle, indent=1, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        dir_fd = os.open(self.state_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# ---------------------------------------------------------------------------
# The guard
# ---------------------------------------------------------------------------

class Upstream:
    """The load balancer in front of the signers."""

    def __init__(self, url, timeout):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("upstream_url must be http://HOST:PORT, got %r" % url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout

    def request(self, method, path, body=None):
        """``(status, headers dict, body bytes)``; GuardError(502) when unreachable."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, self.prefix + path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read(MAX_BODY + 1)
            # Header names are case-insensitive (haproxy sends them lower-case).
            headers = dict((name, answer.getheader(name)) for name in PASSED_HEADERS if answer.getheader(name) is not None)
            return answer.status, headers, data
        except (OSError, http.client.HTTPException) as exc:
            raise GuardError(502, "no answer from the signers' load balancer: %s" % exc)
        finally:
            conn.close()


class Guard:
    """Sign requests through the upstream under the shared watermark."""

    def __init__(self, watermarks, upstream, allowed_magic_bytes):
        self.watermarks = watermarks
        self.upstream = upstream
        self.allowed = set(allowed_magic_bytes)
        self.lock = threading.Lock()

    def sign(self, pkh, query, data):
        """``(status, headers, body bytes)`` of a signing request."""
        if not PKH_RE.match(pkh):
            raise GuardError(404, "not a public key hash: %s" % pkh)
        path = "/keys/%s%s" % (pkh, "?" + query if query else "")
        body = json.dumps(bytes(data).hex()).encode("ascii")
        parsed = parse_consensus(data)
        if parsed is None:
            if not data or data[0] not in self.allowed:
                raise GuardError(403, "magic byte 0x%02X is not allowed by the guard" % (data[0] if data else 0))
            LOG.info("passing through a 0x%02X request for %s (not watermarked)", data[0], pkh)
            return self.upstream.request("POST", path, body)
        kind, chain, level, round_ = parsed
        data_hash = payload_hash(data)
        with self.lock:
            mark = self.watermarks.get(kind, chain, pkh)
            action, detail = decide(mark, level, round_, data_hash)
            if action == "refuse":
                LOG.warning("REFUSED %s for %s on %s: %s", kind, pkh, chain, detail)
                raise GuardError(409, "%s %s" % (kind, detail))
            if action == "replay":
                LOG.info("%s level %d round %d for %s: same bytes again, stored signature answered", kind, level, round_, pkh)
                return 200, {"Content-Type": "application/json", "X-Tezos-Signer": "signer-guard"}, \
                    json.dumps({"signature": detail}).encode("utf-8")
            # Reserve first: from now on other bytes at this level and round
            # are refused, even if the answer below is lost.
            self.watermarks.put(kind, chain, pkh, {"level": level, "round": round_, "hash": data_hash, "signature": None})
            status, headers, answer = self.upstream.request("POST", path, body)
            signature = None
            if status == 200:
                try:
                    signature = json.loads(answer.decode("utf-8"))["signature"]
                except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                    raise GuardError(502, "the signer answered 200 without a signature")
                self.watermarks.put(kind, chain, pkh,
                                    {"level": level, "round": round_, "hash": data_hash, "signature": signature})
            LOG.info("%s level %d round %d for %s: %s by %s", kind, level, round_, pkh,
                     "signed" if signature else "signer answered %d" % status, headers.get("X-Tezos-Signer", "?"))
            return status, headers, answer


def error_body(message):
    """Octez-style error list."""
    return json.dumps([{"kind": "temporary", "id": "failure", "msg": message}]).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    """The octez-signer API, guarded."""

    server_version = "tezos-signer-guard"
    protocol_version = "HTTP/1.1"
    guard = None  # set by make_server()

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        LOG.debug("%s %s", self.address_string(), format % args)

    def reply(self, status, headers, body):
        self.send_response(status)
        for name in PASSED_HEADERS:
            if name in headers:
                self.send_header(name, headers[name])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def fail(self, exc):
        self.reply(exc.status, {"Content-Type": "application/json"}, error_body(str(exc)))

    def do_GET(self):  # noqa: N802 (http.server API)
        parts = urllib.parse.urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        try:
            if segments == ["healthz"]:
                self.guard.watermarks.load()
                return self.reply(200, {"Content-Type": "application/json"}, b'{"healthy": true}')
            if (len(segments) == 2 and segments[0] == "keys" and PKH_RE.match(segments[1])) \
                    or segments == ["authorized_keys"]:
                return self.reply(*self.guard.upstream.request("GET", self.path))
        except GuardError as exc:
            return self.fail(exc)
        except (OSError, ValueError) as exc:
            return self.fail(GuardError(503, "watermark file unreadable: %s" % exc))
        return self.fail(GuardError(404, "not found"))

    def do_POST(self):  # noqa: N802 (http.server API)
        parts = urllib.parse.urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise GuardError(413, "request body too large")
            body = self.rfile.read(length) if length > 0 else b""
            if len(segments) != 2 or segments[0] != "keys":
                raise GuardError(404, "not found")
            try:
                data = bytes.fromhex(json.loads(body.decode("utf-8")))
            except (ValueError, TypeError, UnicodeDecodeError):
                raise GuardError(400, "expected a JSON hex string")
            self.reply(*self.guard.sign(segments[1], parts.query, data))
        except GuardError as exc:
            self.fail(exc)


class Server(ThreadingHTTPServer):
    """Threaded HTTP server."""

    daemon_threads = True
    allow_reuse_address = True


# ---------------------------------------------------------------------------
# Configuration and main
# ---------------------------------------------------------------------------

CONFIG_KEYS = {
    "listen_address": str, "port": int, "upstream_url": str, "upstream_timeout": (int, float),
    "state_dir": str, "allowed_magic_bytes": list,
}


def load_config(path):
    """The JSON configuration, checked; ValueError when wrong."""
    with open(path) as handle:
        config = json.load(handle)
    if not isinstance(config, dict):
        raise ValueError("the configuration must be a JSON object")
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    missing = sorted(set(CONFIG_KEYS) - set(config))
    if unknown or missing:
        raise ValueError("configuration keys: unknown %s, missing %s" % (unknown, missing))
    for key, kind in CONFIG_KEYS.items():
        if not isinstance(config[key], kind) or isinstance(config[key], bool):
            raise ValueError("%s has the wrong type" % key)
    if not 0 < config["port"] < 65536 or config["upstream_timeout"] <= 0:
        raise ValueError("port must be 1-65535 and upstream_timeout positive")
    if not os.path.isabs(config["state_dir"]):
        raise ValueError("state_dir must be an absolute path")
    for byte in config["allowed_magic_bytes"]:
        if not isinstance(byte, int) or isinstance(byte, bool) or not 0 <= byte <= 255:
            raise ValueError("allowed_magic_bytes must be integers 0-255")
    Upstream(config["upstream_url"], config["upstream_timeout"])
    return config


def make_server(config):
    """The HTTP server of a configuration (state loaded, folder locked)."""
    os.makedirs(config["state_dir"], mode=0o700, exist_ok=True)
    lock_fd = os.open(os.path.join(config["state_dir"], "lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise ValueError("another guard holds %s" % config["state_dir"])
    guard = Guard(Watermarks(config["state_dir"]), Upstream(config["upstream_url"], config["upstream_timeout"]),
                  config["allowed_magic_bytes"])
    handler = type("BoundHandler", (Handler,), {"guard": guard})
    server = Server((config["listen_address"], config["port"]), handler)
    server.lock_fd = lock_fd
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--check-config", action="store_true", help="check the configuration and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        config = load_config(args.config)
        if args.check_config:
            return 0
        server = make_server(config)
    except (OSError, ValueError) as exc:
        LOG.error("%s", exc)
        return 2

    def stop(signum, frame):  # pylint: disable=unused-argument
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    LOG.info("guarding %s on %s:%d, watermarks in %s", config["upstream_url"], config["listen_address"],
             config["port"], config["state_dir"])
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
