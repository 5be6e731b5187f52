# -*- coding: utf-8 -*-

# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Options shared by the modules that run octez-client's Ledger commands
# (argument spec: octez_client_argument_spec() in module_utils/octez_ledger.py).

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  octez_client_path:
    description:
      - Path of the C(octez-client) binary on the target.
    type: path
    default: /usr/local/bin/octez-client
  base_dir:
    description:
      - octez-client base directory (passed as C(-d)), where the wallet files C(secret_keys) and C(public_keys) live.
      - Aliases are resolved from these files.
      - When not set, octez-client uses its own default (C(~/.tezos-client) of the remote user).
    type: path
  timeout:
    description:
      - Hard timeout in seconds for each read-only octez-client command.
      - The command runs in its own process group; when the timeout expires the whole group is killed and the
        module reports a C(timeout) error instead of hanging (a Ledger that does not answer must never freeze a play).
    type: float
    default: 10.0
  lock_path:
    description:
      - Path of a lock file held (C(flock), exclusive) while the module talks to the Ledger.
      - Only one process can use the Ledger at a time. Use the same path as the signer and its health check so that
        they never talk to the device at the same time. The file is created when missing.
      - When not set, no lock is taken.
    type: path
"""
