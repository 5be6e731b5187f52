#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
module: ledger_info

short_description: Read the state of a Ledger used for Tezos baking

version_added: 0.1.0

author:
  - Tezos bakery maintainers (!UNKNOWN)

description:
  - Checks, read-only, the Ledger behind a C(ledger://) URI (or an octez-client alias) with octez-client's Ledger
    commands C(list connected ledgers), C(get ledger authorized path for) and C(get ledger high watermark for).
  - Reports whether a Ledger is connected, which Tezos application is open and its version, which baking key the
    Tezos Baking app authorizes, whether it is the expected key, and the high watermarks.
  - Every octez-client command runs under a hard O(timeout) and, with O(lock_path), under an exclusive lock shared
    with the signer, so the check can neither hang nor collide with signing.
  - Never changes anything (C(changed) is always V(false)).
  - By default Ledger state problems (no Ledger, wrong application, another key authorized, timeout, busy device)
    are B(reported), not failed on, in RV(ready), RV(error_kind) and RV(error). Set O(fail_on_not_ready=true) to fail
    the task instead.
  - The module always fails when O(uri) is an alias that cannot be resolved or when O(octez_client_path) is not an
    executable file (configuration errors, not Ledger state).

options:
  uri:
    description:
      - The key to check, either a Ledger URI (V(ledger://<animals>/<curve>/<path>), for example
        V(ledger://major-squirrel-thick-hedgehog/ed25519/0h/0h)), or the alias of such a key in the octez-client
        wallet of O(base_dir) (C(secret_keys), then C(public_keys)).
      - A bare V(ledger://<animals>) only designates the device; RV(authorized_matches) is then always V(false).
    type: str
    required: true
  lock_timeout:
    description:
      - Seconds to wait for the lock of O(lock_path) before reporting the Ledger as C(busy).
    type: float
    default: 5.0
  fail_on_not_ready:
    description:
      - Fail the task when the Ledger is not ready to bake for O(uri) (RV(ready) is V(false)), with a message that
        says why, for example C(no Ledger connected), C(the Tezos Baking app is not open on the Ledger) or
        C(the Ledger authorizes another key).
      - When V(false), such problems are only reported in the result.
    type: bool
    default: false

extends_documentation_fragment:
  - tezos.bakery.octez_client
  - tezos.bakery.ledger_attributes
  - ansible.builtin.action_common_attributes

notes:
  - RV(ready) is V(true) only when a Ledger is connected, runs the Tezos Baking app, authorizes exactly the key of
    O(uri) and every command succeeded.
  - octez-client cannot tell "no Ledger" from "a Ledger held by another process"; the signer should hold the same
    O(lock_path) while it uses the device.

seealso:
  - module: tezos.bakery.ledger_baking_setup
"""

EXAMPLES = r"""
- name: Check the signer's Ledger (report only)
  tezos.bakery.ledger_info:
    uri: ledger://major-squirrel-thick-hedgehog/ed25519/0h/0h
    base_dir: /var/lib/tezos-signer/client
    lock_path: /run/tezos-signer/ledger.lock
  register: ledger

- name: Show why the Ledger is not ready
  ansible.builtin.debug:
    msg: "{{ ledger.error_kind }}: {{ ledger.error }}"
  when: not ledger.ready

- name: Fail unless the Ledger is ready to bake for the baker alias
  tezos.bakery.ledger_info:
    uri: baker
    base_dir: /var/lib/tezos-signer/client
    lock_path: /run/tezos-signer/ledger.lock
    timeout: 15
    fail_on_not_ready: true
"""

RETURN = r"""
uri:
  description: The Ledger URI that was checked (O(uri), or the URI its alias resolves to).
  returned: always
  type: str
  sample: ledger://major-squirrel-thick-hedgehog/ed25519/0h/0h
connected:
  description: Whether the Ledger of RV(uri) is connected with a Tezos application (Baking or Wallet) open.
  returned: always
  type: bool
  sample: true
name:
  description: The Ledger's identifier (its "animals" name), when connected.
  returned: always
  type: str
  sample: major-squirrel-thick-hedgehog
app:
  description: The Tezos application open on the Ledger (V(Tezos Baking) or V(Tezos Wallet)), when connected.
  returned: always
  type: str
  sample: Tezos Baking
app_version:
  description: Version of the open application, when connected.
  returned: always
  type: str
  sample: 2.4.7
device:
  description: Device model as reported by octez-client (manufacturer and product), or V(proxy server).
  returned: always
  type: str
  sample: Ledger Nano S Plus
ledgers:
  description: Every Ledger with a Tezos application that octez-client listed.
  returned: always
  type: list
  elements: dict
  sample:
    - name: major-squirrel-thick-hedgehog
      app: Tezos Baking
      version: 2.4.7
      device: Ledger Nano S Plus
      hid_path: "1-1.2:1.0"
      git_description: v2.4.7
      uris:
        - ledger://major-squirrel-thick-hedgehog/ed25519/0h/0h
authorized:
  description: Whether the Tezos Baking app authorizes a baking key at all.
  returned: always
  type: bool
  sample: true
authorized_matches:
  description: Whether the authorized baking key is the key (curve and BIP32 path) of RV(uri).
  returned: always
  type: bool
  sample: true
authorized_path:
  description: Full BIP32 path of the authorized baking key, when one is authorized.
  returned: always
  type: str
  sample: m/44'/1729'/0'/0'
authorized_curve:
  description: Curve of the authorized baking key (V(ed25519), V(secp256k1), V(P-256) or V(bip25519)).
  returned: always
  type: str
  sample: ed25519
authorized_uri:
  description: The authorized baking URI as printed by octez-client; only set when it is the key of RV(uri).
  returned: always
  type: str
  sample: ledger://major-squirrel-thick-hedgehog/ed25519/0h/0h
high_watermark:
  description:
    - High watermarks of the Tezos Baking app, when they could be read.
    - C(round) is null with Baking apps that predate Tenderbake; C(test) is null with 1.x apps; C(chain_id) is null
      when the Ledger accepts any chain ('Unspecified').
  returned: always
  type: dict
  sample:
    main:
      level: 5023417
      round: 0
    test:
      level: 0
      round: 0
    chain_id: NetXdQprcVkpaWU
ready:
  description: Whether the Ledger is ready to bake for RV(uri) (connected, Tezos Baking app open, the key of RV(uri) authorized).
  returned: always
  type: bool
  sample: true
error_kind:
  description:
    - Why the Ledger is not ready, null when it is.
    - One of V(no_ledger), V(app_not_open), V(wrong_key), V(not_authorized), V(timeout), V(busy), V(command_failed),
      V(parse_error).
  returned: always
  type: str
  sample: app_not_open
error:
  description: Explanation of RV(error_kind), null when ready.
  returned: always
  type: str
  sample: the Ledger runs Tezos Wallet 3.0.6, not Tezos Baking
"""

from ansible_collections.tezos.bakery.plugins.module_utils.octez_ledger import (
    check_ledger,
    describe_error,
    octez_client_argument_spec,
)
from ansible_collections.tezos.bakery.plugins.module_utils.octez_module import (
    ModuleFailure,
    ledger_uri,
    octez_client_binary,
    run_ledger_module,
)

RESULT_KEYS = (
    "uri", "connected", "name", "app", "app_version", "device", "ledgers",
    "authorized", "authorized_matches", "authorized_path", "authorized_curve", "authorized_uri",
    "high_watermark", "ready", "error_kind", "error",
)


def argument_spec():
    spec = octez_client_argument_spec()
    spec.update(
        uri=dict(type="str", required=True),
        lock_timeout=dict(type="float", default=5.0),
        fail_on_not_ready=dict(type="bool", default=False),
    )
    return spec


def execute_module(module):
    try:
        binary = octez_client_binary(module.params)
        uri = ledger_uri(module.params["uri"], module.params["base_dir"])
    except ModuleFailure as exc:
        module.fail_json(msg=exc.msg, changed=False)
    facts = check_ledger(
        binary,
        uri,
        base_dir=module.params["base_dir"],
        timeout=module.params["timeout"],
        lock_path=module.params["lock_path"],
        lock_timeout=module.params["lock_timeout"],
    )
    result = dict((key, facts.get(key)) for key in RESULT_KEYS)
    result["changed"] = False
    if module.params["fail_on_not_ready"] and not result["ready"]:
        module.fail_json(msg=describe_error(result["error_kind"], result["error"]), **result)
    module.exit_json(**result)


def main():
    run_ledger_module(argument_spec(), execute_module)


if __name__ == "__main__":
    main()
