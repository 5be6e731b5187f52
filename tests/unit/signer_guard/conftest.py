# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the daemon shipped by the signer_guard role importable as `signer_guard`."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pathlib
import sys

DAEMON_DIR = pathlib.Path(__file__).resolve().parents[3] / "roles/signer_guard/files/usr/local/lib/tezos-bakery"
if str(DAEMON_DIR) not in sys.path:
    sys.path.insert(0, str(DAEMON_DIR))
