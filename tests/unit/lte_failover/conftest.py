# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the daemon shipped by the lte_failover role importable as `lte_failover`."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pathlib
import sys

DAEMON_DIR = pathlib.Path(__file__).resolve().parents[3] / "roles/lte_failover/files/usr/local/lib/tezos-bakery"
if str(DAEMON_DIR) not in sys.path:
    sys.path.insert(0, str(DAEMON_DIR))
