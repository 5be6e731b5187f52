# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tezos encodings and ed25519 for the tests (test side only, never shipped).

Used by the unit tests and the testinfra checks to talk to the test doubles
of ``octez-signer`` / ``octez-client`` (tests/doubles/) with real
cryptography: base58check with the Tezos prefixes, the simulated Ledger's key
derivation, ed25519 over blake2b-256 (what Tezos signs) and the binary
payloads a baker sends to its signer.

The doubles carry their own, deliberately independent, copy of this logic:
the tests check them with this separate code.

Binary layouts (Octez sources, src/bin_signer/handler.ml,
src/proto_alpha/lib_protocol/fitness_repr.ml, block_header_repr.ml,
operation_repr.ml):

* block (magic 0x11): chain id (4) + shell header: level int32, proto u8,
  predecessor (32), timestamp int64, validation passes u8, operations hash
  (32), fitness, context (32); then the protocol data. The fitness is a
  length-prefixed list of length-prefixed byte strings: version ``\\x02``,
  level int32, locked round (empty or int32), ``-predecessor_round - 1``
  int32, round int32. The round is therefore the last 4 bytes of the fitness.
* preattestation (0x12) / attestation (0x13): chain id (4) + branch (32) +
  tag (20 / 21) + slot uint16 + level int32 + round int32 + block payload
  hash (32).

Needs ``cryptography`` (Debian bookworm's 38 is enough). Python 3.9+.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import hashlib
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# ---------------------------------------------------------------------------
# base58check with the Tezos prefixes
# ---------------------------------------------------------------------------

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

# name -> (prefix bytes, payload length)
PREFIXES = {
    "edpk": (bytes([13, 15, 37, 217]), 32),
    "edsk": (bytes([13, 15, 58, 7]), 32),
    "edsk64": (bytes([43, 246, 78, 7]), 64),
    "tz1": (bytes([6, 161, 159]), 20),
    "edsig": (bytes([9, 245, 205, 134, 18]), 64),
    "sig": (bytes([4, 130, 43]), 64),
    "Net": (bytes([87, 82, 0]), 4),
    "B": (bytes([1, 52]), 32),
    "vh": (bytes([1, 106, 242]), 32),
}

MAGIC_BLOCK = 0x11
MAGIC_PREATTESTATION = 0x12
MAGIC_ATTESTATION = 0x13
MAGIC_GENERIC = 0x03
TAG_PREATTESTATION = 20
TAG_ATTESTATION = 21

# Offset of the fitness in a 0x11 payload: magic, chain id, level, proto,
# predecessor, timestamp, validation passes, operations hash.
BLOCK_FITNESS_OFFSET = 1 + 4 + 4 + 1 + 32 + 8 + 1 + 32
# Offset of the level in a 0x12/0x13 payload: magic, chain id, branch, tag, slot.
CONSENSUS_LEVEL_OFFSET = 1 + 4 + 32 + 1 + 2

DOUBLE_LEDGER_DOMAIN = b"octez-double-ledger:"


def b58encode(data):
    """Plain base58 (Bitcoin alphabet), leading zero bytes as ``1``."""
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rest = divmod(number, 58)
        out.append(B58_ALPHABET[rest])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def b58decode(text):
    """Inverse of :func:`b58encode`; ValueError on a foreign character."""
    number = 0
    for char in text:
        index = B58_ALPHABET.find(char)
        if index < 0:
            raise ValueError("invalid base58 character %r" % (char,))
        number = number * 58 + index
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def _checksum(data):
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()[:4]


def b58check_encode(kind, payload):
    """``payload`` as a Tezos base58check string of ``kind`` (key of PREFIXES)."""
    prefix, size = PREFIXES[kind]
    if len(payload) != size:
        raise ValueError("%s payload must be %d bytes, got %d" % (kind, size, len(payload)))
    raw = prefix + payload
    return b58encode(raw + _checksum(raw))


def b58check_decode(kind, text):
    """Payload of a Tezos base58check string; ValueError when the checksum,
    the prefix or the length is wrong."""
    prefix, size = PREFIXES[kind]
    raw = b58decode(text)
    body, check = raw[:-4], raw[-4:]
    if len(raw) < 5 or _checksum(body) != check:
        raise ValueError("bad base58check checksum: %r" % (text,))
    if not body.startswith(prefix) or len(body) != len(prefix) + size:
        raise ValueError("%r is not a %s" % (text, kind))
    return body[len(prefix):]


# ---------------------------------------------------------------------------
# Keys and signatures
# ---------------------------------------------------------------------------

def blake2b(data, size=32):
    """blake2b with a ``size``-byte digest (Tezos hashes are 20 or 32 bytes)."""
    return hashlib.blake2b(data, digest_size=size).digest()


def public_key_bytes(seed):
    """Raw 32-byte ed25519 public key of a 32-byte seed."""
    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def edpk_of_public_key(public_key):
    """``edpk...`` of a raw public key."""
    return b58check_encode("edpk", public_key)


def tz1_of_public_key(public_key):
    """``tz1...``: blake2b-160 of the raw public key."""
    return b58check_encode("tz1", blake2b(public_key, 20))


def tz1_of_edpk(edpk):
    """``tz1...`` of an ``edpk...``."""
    return tz1_of_public_key(b58check_decode("edpk", edpk))


def edsk_of_seed(seed):
    """``edsk...`` (54 characters, the seed form octez prints)."""
    return b58check_encode("edsk", seed)


def seed_of_edsk(edsk):
    """Seed of an ``edsk...`` in either the 32-byte or the 64-byte form."""
    try:
        return b58check_decode("edsk", edsk)
    except ValueError:
        return b58check_decode("edsk64", edsk)[:32]


def key_of_seed(seed):
    """``(edsk, edpk, tz1)`` of a 32-byte seed."""
    public_key = public_key_bytes(seed)
    return edsk_of_seed(seed), edpk_of_public_key(public_key), tz1_of_public_key(public_key)


def double_ledger_seed(uri):
    """Seed the simulated Ledger of the doubles uses for ``uri`` (the exact string)."""
    return hashlib.sha256(DOUBLE_LEDGER_DOMAIN + uri.encode("utf-8")).digest()


def double_ledger_key(uri):
    """``(seed, edpk, tz1)`` the doubles give for the Ledger URI ``uri``."""
    seed = double_ledger_seed(uri)
    _edsk, edpk, pkh = key_of_seed(seed)
    return seed, edpk, pkh


def _seed(secret):
    return seed_of_edsk(secret) if isinstance(secret, str) else bytes(secret)


def sign(secret, payload):
    """``edsig...``: ed25519 over blake2b-256(payload). ``secret`` is a seed or an edsk."""
    key = Ed25519PrivateKey.from_private_bytes(_seed(secret))
    return b58check_encode("edsig", key.sign(blake2b(payload)))


def signature_bytes(signature):
    """Raw 64 bytes of an ``edsig...`` or generic ``sig...``."""
    for kind in ("edsig", "sig"):
        try:
            return b58check_decode(kind, signature)
        except ValueError:
            continue
    raise ValueError("not an ed25519 or generic signature: %r" % (signature,))


def verify(edpk, payload, signature):
    """True when ``signature`` (edsig/sig) is ``edpk``'s over blake2b-256(payload)."""
    try:
        key = Ed25519PublicKey.from_public_bytes(b58check_decode("edpk", edpk))
        key.verify(signature_bytes(signature), blake2b(payload))
    except (InvalidSignature, ValueError):
        return False
    return True


def pkh_bytes(pkh):
    """Binary public key hash (Signature.Public_key_hash.encoding): tag 0 + 20 bytes."""
    return b"\x00" + b58check_decode("tz1", pkh)


def authentication_payload(pkh, data):
    """What ``octez-signer -A`` wants signed by an authorized key for a sign
    request (Signer_messages.Sign.Request.to_sign): ``0x04``, request tag
    ``0x01``, binary pkh, data."""
    return b"\x04\x01" + pkh_bytes(pkh) + bytes(data)


def authentication_signature(secret, pkh, data):
    """``authentication=`` query value for a sign request."""
    return sign(secret, authentication_payload(pkh, data))


# ---------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------

def chain_id_bytes(chain_id):
    """4 raw bytes of a ``Net...`` chain id."""
    return b58check_decode("Net", chain_id)


def _int32(value):
    return struct.pack(">i", value)


def _sized(data):
    """Data_encoding dynamic size: uint30 big-endian length, then the data."""
    return struct.pack(">I", len(data)) + data


def _filler(label, size=32):
    """Deterministic stand-in for hashes the signer does not look at."""
    return hashlib.sha256(label.encode("utf-8")).digest()[:size]


def fitness(level, round_, predecessor_round=0, locked_round=None):
    """Tenderbake fitness as in a block header (length-prefixed list)."""
    elements = [
        b"\x02",
        _int32(level),
        b"" if locked_round is None else _int32(locked_round),
        _int32(-predecessor_round - 1),
        _int32(round_),
    ]
    return _sized(b"".join(_sized(element) for element in elements))


def block_payload(chain_id, level, round_, predecessor_round=0, locked_round=None, timestamp=1700000000):
    """0x11 block signing payload at ``level``/``round_``."""
    shell = b"".join([
        _int32(level),
        b"\x01",                                    # proto level
        _filler("predecessor-%d" % level),
        struct.pack(">q", timestamp),
        b"\x04",                                    # validation passes
        _filler("operations-%d" % level),
        fitness(level, round_, predecessor_round, locked_round),
        _filler("context-%d" % level),
    ])
    protocol_data = b"".join([
        _filler("payload-%d-%d" % (level, round_)),  # payload hash
        _int32(round_),                             # payload round
        _filler("pow", 8),                          # proof of work nonce
        b"\x00",                                    # no seed nonce hash
        b"\x02",                                    # per block votes: pass
    ])
    return bytes([MAGIC_BLOCK]) + chain_id_bytes(chain_id) + shell + protocol_data


def consensus_payload(magic, tag, chain_id, level, round_, slot=0):
    """Preattestation / attestation payload (magic 0x12 / 0x13)."""
    return b"".join([
        bytes([magic]),
        chain_id_bytes(chain_id),
        _filler("branch-%d" % level),
        bytes([tag]),
        struct.pack(">H", slot),
        _int32(level),
        _int32(round_),
        _filler("payload-%d-%d" % (level, round_)),
    ])


def preattestation_payload(chain_id, level, round_, slot=0):
    """0x12 preattestation signing payload."""
    return consensus_payload(MAGIC_PREATTESTATION, TAG_PREATTESTATION, chain_id, level, round_, slot)


def attestation_payload(chain_id, level, round_, slot=0):
    """0x13 attestation signing payload."""
    return consensus_payload(MAGIC_ATTESTATION, TAG_ATTESTATION, chain_id, level, round_, slot)


def _zarith(value):
    """Data_encoding ``n`` (unsigned LEB128-like)."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def transfer_like_payload(amount=1000000):
    """0x03 generic operation: a transaction from one tz1 to another."""
    source = b"\x00" + _filler("source", 20)
    destination = b"\x00\x00" + _filler("destination", 20)
    contents = b"".join([
        b"\x6c",                                    # transaction
        source,
        _zarith(1500), _zarith(7), _zarith(1000), _zarith(0),
        _zarith(amount),
        destination,
        b"\x00",                                    # no parameters
    ])
    return bytes([MAGIC_GENERIC]) + _filler("branch-transfer") + contents


def parse_level_round(payload):
    """``(magic, chain_id, level, round)`` of a consensus payload, like
    ``octez-signer -W`` reads it; ValueError for anything else."""
    payload = bytes(payload)
    if len(payload) < 9:
        raise ValueError("payload too short")
    magic = payload[0]
    chain = b58check_encode("Net", payload[1:5])
    if magic == MAGIC_BLOCK:
        level = struct.unpack_from(">i", payload, 5)[0]
        (length,) = struct.unpack_from(">I", payload, BLOCK_FITNESS_OFFSET)
        end = BLOCK_FITNESS_OFFSET + 4 + length
        if length < 4 or end > len(payload):
            raise ValueError("truncated block fitness")
        round_ = struct.unpack_from(">i", payload, end - 4)[0]
        return magic, chain, level, round_
    if magic in (MAGIC_PREATTESTATION, MAGIC_ATTESTATION):
        if len(payload) < CONSENSUS_LEVEL_OFFSET + 8:
            raise ValueError("truncated consensus operation")
        level, round_ = struct.unpack_from(">ii", payload, CONSENSUS_LEVEL_OFFSET)
        return magic, chain, level, round_
    raise ValueError("magic byte 0x%02X is not a consensus operation" % magic)
