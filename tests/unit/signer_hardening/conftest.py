from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the scripts shipped by the signer_hardening role importable."""

import pathlib
import sys

SCRIPT_DIR = pathlib.Path(__file__).resolve().parents[3] / "roles/signer_hardening/files/usr/local/lib/tezos-bakery"
if str(SCRIPT_DIR) not in sys.path:
    sys.path.insert(0, str(SCRIPT_DIR))
