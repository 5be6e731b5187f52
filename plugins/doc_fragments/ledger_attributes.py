# -*- coding: utf-8 -*-

# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Attributes shared by the modules that talk to a Ledger through octez-client
# (their descriptions come from ansible.builtin.action_common_attributes; a
# module may give its own check_mode details).

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    details: In check mode only octez-client's read-only Ledger commands run.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""
