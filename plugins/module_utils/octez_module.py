# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Ansible side shared by the ``tezos.bakery.ledger_*`` modules.

Kept apart from octez_ledger.py on purpose: that file is also imported by the
standalone signer health daemon and must stay free of any ``ansible`` import,
this one is only for modules.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tezos.bakery.plugins.module_utils.octez_ledger import resolve_alias


class ModuleFailure(Exception):
    """A failure the module reports with ``fail_json(msg=...)``.

    ``kind`` is the octez_ledger error kind behind it (``LedgerError.kind``),
    None for a plain parameter problem.
    """

    def __init__(self, msg, kind=None):
        super(ModuleFailure, self).__init__(msg)
        self.msg = msg
        self.kind = kind


def octez_client_binary(params):
    """The ``octez_client_path`` parameter; ModuleFailure when it is not an executable file."""
    binary = params["octez_client_path"]
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise ModuleFailure("octez-client not found or not executable: %s" % binary)
    return binary


def ledger_uri(alias_or_uri, base_dir=None):
    """The ledger:// URI of ``alias_or_uri``: itself, or the URI an alias has in the wallet of ``base_dir``.

    ModuleFailure when the alias is not a Ledger key of that wallet.
    """
    if alias_or_uri.startswith("ledger://"):
        return alias_or_uri
    uri = resolve_alias(alias_or_uri, base_dir)
    if uri is None:
        raise ModuleFailure("cannot resolve %r to a ledger:// URI: no such Ledger alias in the octez-client wallet %s"
                            % (alias_or_uri, base_dir or "~/.tezos-client"))
    return uri


def run_ledger_module(argument_spec, execute_module):
    """The main() of a ledger module: parse the parameters (check mode is supported) and run ``execute_module(module)``."""
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    execute_module(module)
