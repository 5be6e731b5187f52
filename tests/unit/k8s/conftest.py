# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make tests/k8s (the manifest checks and the NetworkPolicy evaluator) importable."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import sys

K8S_TESTS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "k8s"))
if K8S_TESTS not in sys.path:
    sys.path.insert(0, K8S_TESTS)
