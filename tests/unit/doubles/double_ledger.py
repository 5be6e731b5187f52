# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the tests of the doubles in tests/doubles share (importable thanks to
conftest.py): where the doubles are, and the simulated Ledger they serve."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os

import tezos_crypto as tc

DOUBLES_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "doubles"))
URI = "ledger://molecule-double-ledger-nano/ed25519/0h/0h"
CHAIN = "NetXdQprcVkpaWU"
# The key the doubles derive for URI.
SEED, PUBLIC_KEY, PKH = tc.double_ledger_key(URI)


def double_path(name):
    """The path of the double ``name`` (``octez-client``, ``octez-signer``)."""
    return os.path.join(DOUBLES_DIR, name)
