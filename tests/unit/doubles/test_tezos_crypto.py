# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/lib/tezos_crypto.py against known answers and the Octez layouts."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import hashlib
import struct

import pytest
import tezos_crypto as tc

# Octez sandbox account bootstrap1 (src/bin_client/test/..., docs "sandboxed mode").
BOOTSTRAP1_EDSK = "edsk3gUfUPyBSfrS9CCgmCiQsTCHGkviBDusMxDJstFtojtc1zcpsh"
BOOTSTRAP1_EDPK = "edpkuBknW28nW72KG6RoHtYW7p12T6GKc7nAbwYX5m8Wd9sDVC9yav"
BOOTSTRAP1_TZ1 = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx"

# RFC 8032, section 7.1, TEST 1.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")

MAINNET = "NetXdQprcVkpaWU"
MOLECULE_URI = "ledger://molecule-double-ledger-nano/ed25519/0h/0h"


def test_base58_round_trip_keeps_leading_zeros():
    for data in (b"", b"\0", b"\0\0\x01", b"hello world", bytes(range(40))):
        assert tc.b58decode(tc.b58encode(data)) == data
    assert tc.b58encode(b"\0\0\x01") == "112"


def test_base58_rejects_foreign_characters():
    with pytest.raises(ValueError):
        tc.b58decode("0OIl")


def test_bootstrap1_known_answer():
    seed = tc.seed_of_edsk(BOOTSTRAP1_EDSK)
    assert tc.key_of_seed(seed) == (BOOTSTRAP1_EDSK, BOOTSTRAP1_EDPK, BOOTSTRAP1_TZ1)
    assert tc.tz1_of_edpk(BOOTSTRAP1_EDPK) == BOOTSTRAP1_TZ1


def test_rfc8032_vector_public_key_and_encodings():
    assert tc.public_key_bytes(RFC8032_SEED) == RFC8032_PUBLIC
    _edsk, edpk, pkh = tc.key_of_seed(RFC8032_SEED)
    assert edpk.startswith("edpk") and len(edpk) == 54
    assert pkh.startswith("tz1") and len(pkh) == 36
    assert tc.b58check_decode("edpk", edpk) == RFC8032_PUBLIC
    assert tc.b58check_decode("tz1", pkh) == hashlib.blake2b(RFC8032_PUBLIC, digest_size=20).digest()
    assert tc.seed_of_edsk(tc.edsk_of_seed(RFC8032_SEED)) == RFC8032_SEED


def test_chain_id_and_block_hash_prefixes():
    assert tc.chain_id_bytes(MAINNET) == bytes.fromhex("7a06a770")
    assert tc.b58check_encode("Net", bytes.fromhex("7a06a770")) == MAINNET
    block_hash = tc.b58check_encode("B", bytes(32))
    assert block_hash.startswith("B") and len(block_hash) == 51
    assert tc.b58check_decode("B", block_hash) == bytes(32)


def test_decode_checks_checksum_prefix_and_length():
    with pytest.raises(ValueError):
        tc.b58check_decode("tz1", BOOTSTRAP1_TZ1[:-1] + ("a" if BOOTSTRAP1_TZ1[-1] != "a" else "b"))
    with pytest.raises(ValueError):
        tc.b58check_decode("edpk", BOOTSTRAP1_TZ1)
    with pytest.raises(ValueError):
        tc.b58check_encode("tz1", bytes(19))


def test_double_ledger_key_is_sha256_of_the_uri():
    seed, edpk, pkh = tc.double_ledger_key(MOLECULE_URI)
    assert seed == hashlib.sha256(b"octez-double-ledger:" + MOLECULE_URI.encode()).digest()
    # The values pinned in tests/molecule/group_vars/all/signers.yml.
    assert edpk == "edpkvQsoPw1UGkz5vTHjHm2mEQYKHPnsvGcqE9G8sfkxkREHiGGx17"
    assert pkh == "tz1eLV23PrBB5T28FNinUtrHDPgxBiNtmkKB"
    assert tc.double_ledger_key(MOLECULE_URI.replace("0h/0h", "0h/1h"))[2] != pkh


def test_sign_and_verify():
    payload = tc.block_payload(MAINNET, 10, 0)
    signature = tc.sign(BOOTSTRAP1_EDSK, payload)
    assert signature.startswith("edsig") and len(signature) == 99
    assert tc.verify(BOOTSTRAP1_EDPK, payload, signature)
    assert not tc.verify(BOOTSTRAP1_EDPK, payload + b"\0", signature)
    assert not tc.verify(tc.double_ledger_key(MOLECULE_URI)[1], payload, signature)
    assert not tc.verify(BOOTSTRAP1_EDPK, payload, "edsig-not-base58")


def test_generic_sig_prefix_is_accepted():
    payload = b"\x03abc"
    raw = tc.signature_bytes(tc.sign(RFC8032_SEED, payload))
    generic = tc.b58check_encode("sig", raw)
    assert generic.startswith("sig")
    assert tc.verify(tc.key_of_seed(RFC8032_SEED)[1], payload, generic)


def _fitness_elements(payload):
    offset = tc.BLOCK_FITNESS_OFFSET
    (total,) = struct.unpack_from(">I", payload, offset)
    cursor, end, elements = offset + 4, offset + 4 + total, []
    while cursor < end:
        (size,) = struct.unpack_from(">I", payload, cursor)
        elements.append(payload[cursor + 4:cursor + 4 + size])
        cursor += 4 + size
    assert cursor == end
    return elements


def test_block_payload_layout():
    payload = tc.block_payload(MAINNET, 123456, 3, predecessor_round=2)
    assert payload[0] == 0x11
    assert payload[1:5] == tc.chain_id_bytes(MAINNET)
    assert struct.unpack_from(">i", payload, 5)[0] == 123456
    version, level, locked, pred_round, round_ = _fitness_elements(payload)
    assert version == b"\x02"
    assert struct.unpack(">i", level)[0] == 123456
    assert locked == b""
    assert struct.unpack(">i", pred_round)[0] == -3
    assert struct.unpack(">i", round_)[0] == 3
    assert tc.parse_level_round(payload) == (0x11, MAINNET, 123456, 3)


def test_block_payload_with_locked_round():
    payload = tc.block_payload(MAINNET, 7, 2, locked_round=1)
    assert struct.unpack(">i", _fitness_elements(payload)[2])[0] == 1
    assert tc.parse_level_round(payload) == (0x11, MAINNET, 7, 2)


@pytest.mark.parametrize("builder, magic, tag", [
    (tc.preattestation_payload, 0x12, 20),
    (tc.attestation_payload, 0x13, 21),
])
def test_consensus_payload_layout(builder, magic, tag):
    payload = builder(MAINNET, 5000000, 4, slot=17)
    assert len(payload) == 1 + 4 + 32 + 1 + 2 + 4 + 4 + 32
    assert payload[0] == magic
    assert payload[37] == tag
    assert struct.unpack_from(">H", payload, 38)[0] == 17
    assert struct.unpack_from(">ii", payload, 40) == (5000000, 4)
    assert tc.parse_level_round(payload) == (magic, MAINNET, 5000000, 4)


def test_transfer_payload_is_generic_and_not_consensus():
    payload = tc.transfer_like_payload()
    assert payload[0] == 0x03
    with pytest.raises(ValueError):
        tc.parse_level_round(payload)


def test_authentication_payload():
    data = tc.attestation_payload(MAINNET, 1, 0)
    expected = b"\x04\x01\x00" + tc.b58check_decode("tz1", BOOTSTRAP1_TZ1) + data
    assert tc.authentication_payload(BOOTSTRAP1_TZ1, data) == expected
    signature = tc.authentication_signature(BOOTSTRAP1_EDSK, BOOTSTRAP1_TZ1, data)
    assert tc.verify(BOOTSTRAP1_EDPK, expected, signature)
