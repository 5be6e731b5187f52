# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make octez_client_fake.py (next to this file) importable by the tests of
plugins/; fixtures they share."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture
def hold_lock():
    """``hold_lock(path)`` starts a process holding the flock of ``path`` (like the
    signer) and returns it once it holds the lock; kill it to release the lock.
    Whatever still runs is killed at teardown."""
    holders = []

    def hold(path):
        holder = subprocess.Popen(
            [sys.executable, "-c",
             "import fcntl, sys, time\n"
             "f = open(sys.argv[1], 'w')\n"
             "fcntl.flock(f, fcntl.LOCK_EX)\n"
             "print('locked', flush=True)\n"
             "time.sleep(30)\n",
             str(path)],
            stdout=subprocess.PIPE,
        )
        holders.append(holder)
        assert holder.stdout.readline().strip() == b"locked"
        return holder

    yield hold
    for holder in holders:
        holder.kill()
        holder.wait()
        holder.stdout.close()
