#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
module: ledger_baking_setup

short_description: Authorize a Ledger's Tezos Baking app to bake for a key

version_added: 0.1.0

author:
  - Tezos bakery maintainers (!UNKNOWN)

description:
  - Runs C(octez-client setup ledger to bake for <key> [--main-chain-id ID] [--main-hwm N]) when, and only when, the
    Tezos Baking app of the Ledger does not already authorize O(key) with the requested chain id and a main high
    watermark at least O(main_hwm).
  - Reads the current state first (C(list connected ledgers), C(get ledger authorized path for),
    C(get ledger high watermark for)), each command under the hard O(timeout). The whole read, setup and verify
    sequence holds the lock of O(lock_path).
  - Refuses to B(lower) the Ledger's main high watermark unless O(force=true); signing again at a level already
    signed is how double baking happens. Even with O(force=true) nothing is lowered when the Ledger already
    authorizes O(key) with a higher watermark (the task is then unchanged).
  - After the setup, reads the Ledger again and fails unless it now authorizes O(key) (and has the requested
    watermark and chain id).
  - The Ledger asks its user to confirm the setup on the device; see O(setup_timeout).

options:
  key:
    description:
      - The baking key, either an alias of the octez-client wallet in O(base_dir), or a full Ledger URI
        V(ledger://<animals>/<curve>/<path>), for example V(ledger://major-squirrel-thick-hedgehog/ed25519/0h/0h).
      - An alias is resolved from the wallet files (C(secret_keys), then C(public_keys)) to compare curves and paths;
        octez-client is given O(key) as is.
    type: str
    required: true
  main_chain_id:
    description:
      - Main chain id the Ledger may bake on, as a Base58 chain id (V(NetXdQprcVkpaWU) is mainnet) or a 32-bit integer.
      - When not set, octez-client asks the node configured in O(base_dir) for it; a signer without a node must set it.
      - Only a Base58 chain id is compared with the Ledger's current one.
    type: str
  main_hwm:
    description:
      - Main chain high watermark (block level) to set, between 0 and 2147483647.
      - When not set, the setup keeps the Ledger's current main high watermark.
      - Set it to the current head level when (re-)authorizing a key so the Ledger refuses anything older.
    type: int
  force:
    description:
      - Allow a setup that lowers the Ledger's main high watermark (for example when the previously authorized key
        had baked on another chain, or the Ledger's value cannot be read).
    type: bool
    default: false
  setup_timeout:
    description:
      - Hard timeout in seconds for the C(setup ledger to bake for) command itself.
      - It is longer than O(timeout) because the setup waits for the user to review and confirm it on the device;
        when it expires the command is killed and the task fails with a C(timeout) error.
    type: float
    default: 60.0
  lock_timeout:
    description:
      - Seconds to wait for the lock of O(lock_path) (a signer may be signing) before failing as C(busy).
    type: float
    default: 30.0

extends_documentation_fragment:
  - tezos.bakery.octez_client
  - tezos.bakery.ledger_attributes
  - ansible.builtin.action_common_attributes

attributes:
  check_mode:
    details: Reads the Ledger (read-only commands) and reports the change and the command that would run, without running it.

notes:
  - Stop the signer (or make it honour O(lock_path)) while setting up. Only one process can use the Ledger at a time,
    and octez-client reports a Ledger that another process holds as not connected.
  - The task fails with a clear message when no Ledger is connected, the Tezos Baking app is not open, the device is
    busy, a command times out, or the setup is rejected on the device.

seealso:
  - module: tezos.bakery.ledger_info
"""

EXAMPLES = r"""
- name: Authorize the Ledger to bake for the baker key on mainnet from the current head
  tezos.bakery.ledger_baking_setup:
    key: baker
    base_dir: /var/lib/tezos-signer/client
    main_chain_id: NetXdQprcVkpaWU
    main_hwm: "{{ head_level | int }}"
    lock_path: /run/tezos-signer/ledger.lock
  register: setup

- name: Report what would change (drift check)
  tezos.bakery.ledger_baking_setup:
    key: ledger://major-squirrel-thick-hedgehog/ed25519/0h/0h
    main_chain_id: NetXdQprcVkpaWU
    main_hwm: 5100000
  check_mode: true

- name: Move a Ledger to a test network (lowers the watermark)
  tezos.bakery.ledger_baking_setup:
    key: ledger://major-squirrel-thick-hedgehog/ed25519/0h/1h
    main_chain_id: NetXnHfVqm9iesp
    main_hwm: 0
    force: true
    setup_timeout: 120
"""

RETURN = r"""
key:
  description: The key as given in O(key).
  returned: always
  type: str
  sample: baker
uri:
  description: The Ledger URI of O(key) (resolved from the wallet for an alias).
  returned: always
  type: str
  sample: ledger://major-squirrel-thick-hedgehog/ed25519/0h/0h
reason:
  description: Why the setup was (or would be) run, or why nothing had to change.
  returned: always
  type: str
  sample: no baking key is authorized; main chain id 'Unspecified' -> NetXdQprcVkpaWU; main high watermark 0 -> 5100000
command:
  description: The command that was run (or, in check mode, would run); empty when nothing had to change.
  returned: always
  type: list
  elements: str
  sample:
    - /usr/local/bin/octez-client
    - -d
    - /var/lib/tezos-signer/client
    - setup
    - ledger
    - to
    - bake
    - for
    - baker
    - --main-chain-id
    - NetXdQprcVkpaWU
    - --main-hwm
    - "5100000"
ledger:
  description: The Ledger that was set up, as listed by octez-client.
  returned: when a Ledger was found
  type: dict
  sample:
    name: major-squirrel-thick-hedgehog
    app: Tezos Baking
    app_version: 2.4.7
    device: Ledger Nano S Plus
authorized:
  description:
    - The baking key the Ledger authorizes, C(before) and C(after) the module ran.
    - Each has C(authorized) (any key at all), C(path), C(curve) and C(matches) (it is the key of RV(uri)).
    - C(after) is the same as C(before) when nothing changed, and null in check mode when a change is pending.
  returned: always
  type: dict
  sample:
    before:
      authorized: false
      path: null
      curve: null
      matches: false
    after:
      authorized: true
      path: m/44'/1729'/0'/0'
      curve: ed25519
      matches: true
high_watermark:
  description:
    - The Ledger's high watermarks C(before) and C(after) the module ran (C(main) and C(test) levels and rounds,
      and C(chain_id), null for 'Unspecified').
    - C(after) is the same as C(before) when nothing changed, and null in check mode when a change is pending.
  returned: always
  type: dict
  sample:
    before:
      main:
        level: 0
        round: 0
      test:
        level: 0
        round: 0
      chain_id: null
    after:
      main:
        level: 5100000
        round: 0
      test:
        level: 0
        round: 0
      chain_id: NetXdQprcVkpaWU
public_key_hash:
  description: The address the Ledger now bakes for, as printed by the setup.
  returned: when the setup ran
  type: str
  sample: tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx
public_key:
  description: The full public key of that address, as printed by the setup.
  returned: when the setup ran
  type: str
  sample: edpkuBknW28nW72KG6RoHtYW7p12T6GKc7nAbwYX5m8Wd9sDVC9yav
stdout:
  description: Output of the setup command.
  returned: when the setup ran
  type: str
  sample: |-
    Setting up the ledger:
    * Main chain ID: 'Unspecified' -> NetXdQprcVkpaWU
    * Main chain High Watermark: 0 (round: 0) -> 5100000 (round: 0)
    * Test chain High Watermark: 0 (round: 0) -> 0 (round: 0)
    Authorized baking for address: tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx
    Corresponding full public key: edpkuBknW28nW72KG6RoHtYW7p12T6GKc7nAbwYX5m8Wd9sDVC9yav
error_kind:
  description:
    - On failure, the kind of Ledger problem (V(no_ledger), V(app_not_open), V(wrong_key), V(not_authorized),
      V(timeout), V(busy), V(command_failed), V(parse_error)); null otherwise.
  returned: always
  type: str
  sample: app_not_open
"""

import re

from ansible_collections.tezos.bakery.plugins.module_utils.octez_ledger import (
    LedgerError,
    baking_setup_args,
    build_command,
    check_ledger,
    describe_error,
    ledger_lock,
    ledger_uri_path,
    octez_client_argument_spec,
    plan_baking_setup,
    run_octez_client,
)
from ansible_collections.tezos.bakery.plugins.module_utils.octez_module import (
    ModuleFailure,
    ledger_uri,
    octez_client_binary,
    run_ledger_module,
)

INT32_MAX = 2 ** 31 - 1
CHAIN_ID_RE = re.compile(r"^(?:Net[1-9A-HJ-NP-Za-km-z]{12}|-?\d+)$")
SETUP_ADDRESS_RE = re.compile(r"Authorized baking for address:\s*(\S+)")
SETUP_PUBLIC_KEY_RE = re.compile(r"Corresponding full public key:\s*(\S+)")
# Ledger states that a setup is meant to fix; any other problem stops the module.
FIXABLE_KINDS = (None, "wrong_key", "not_authorized")


def argument_spec():
    spec = octez_client_argument_spec()
    spec.update(
        key=dict(type="str", required=True, no_log=False),
        main_chain_id=dict(type="str"),
        main_hwm=dict(type="int"),
        force=dict(type="bool", default=False),
        setup_timeout=dict(type="float", default=60.0),
        lock_timeout=dict(type="float", default=30.0),
    )
    return spec


def authorized_view(state):
    return {
        "authorized": bool(state["authorized"]),
        "path": state["authorized_path"],
        "curve": state["authorized_curve"],
        "matches": bool(state["authorized_matches"]),
    }


def read_state(module, binary, uri):
    """check_ledger without its own lock (the caller holds it)."""
    return check_ledger(
        binary,
        uri,
        base_dir=module.params["base_dir"],
        timeout=module.params["timeout"],
        lock_path=None,
    )


def validate(module):
    """Check the parameters; return the ledger:// URI of ``key``."""
    params = module.params
    octez_client_binary(params)
    hwm = params["main_hwm"]
    if hwm is not None and not 0 <= hwm <= INT32_MAX:
        raise ModuleFailure("main_hwm must be between 0 and %d, got %d" % (INT32_MAX, hwm))
    chain_id = params["main_chain_id"]
    if chain_id is not None and not CHAIN_ID_RE.match(chain_id):
        raise ModuleFailure("main_chain_id must be a Base58 chain id (NetXdQprcVkpaWU) or a 32-bit integer, got %r" % chain_id)
    key = params["key"]
    uri = ledger_uri(key, params["base_dir"])
    try:
        parsed = ledger_uri_path(uri)
    except LedgerError as exc:
        raise ModuleFailure("invalid Ledger URI for %s: %s" % (key, exc.message), exc.kind)
    if parsed["path"] is None:
        raise ModuleFailure("%s only names a Ledger: a baking key needs a curve and a path "
                            "(ledger://<animals>/<curve>/<path>)" % uri)
    return uri


def setup_and_verify(module, binary, uri, result):
    """Read, plan, set up and verify; fills ``result``. Runs under the lock."""
    params = module.params
    before = read_state(module, binary, uri)
    if before["connected"]:
        result["ledger"] = dict((k, before[k]) for k in ("name", "app", "app_version", "device"))
    if before["error_kind"] not in FIXABLE_KINDS:
        raise ModuleFailure(describe_error(before["error_kind"], before["error"]), before["error_kind"])
    result["authorized"]["before"] = authorized_view(before)
    result["high_watermark"]["before"] = before["high_watermark"]

    plan = plan_baking_setup(
        {"authorized": before["authorized"], "path": before["authorized_path"], "curve": before["authorized_curve"]},
        before["high_watermark"],
        uri,
        params["main_hwm"],
        params["force"],
        requested_main_chain_id=params["main_chain_id"],
    )
    result["reason"] = plan["reason"]
    if plan["error"]:
        raise ModuleFailure(plan["error"])
    if not plan["changed"]:
        result["authorized"]["after"] = result["authorized"]["before"]
        result["high_watermark"]["after"] = result["high_watermark"]["before"]
        return

    args = baking_setup_args(params["key"], main_chain_id=params["main_chain_id"], main_hwm=params["main_hwm"])
    result["command"] = build_command(binary, args, params["base_dir"])
    result["changed"] = True
    if module.check_mode:
        return

    try:
        out = run_octez_client(binary, args, base_dir=params["base_dir"], timeout=params["setup_timeout"])
    except LedgerError as exc:
        msg = "setup ledger to bake for %s failed: %s" % (params["key"], describe_error(exc.kind, exc.message))
        if exc.kind == "timeout":
            msg += " (the setup must be confirmed on the Ledger within setup_timeout=%s seconds)" % params["setup_timeout"]
        raise ModuleFailure(msg, exc.kind)
    result["stdout"] = out
    for regex, name in ((SETUP_ADDRESS_RE, "public_key_hash"), (SETUP_PUBLIC_KEY_RE, "public_key")):
        match = regex.search(out)
        result[name] = match.group(1) if match else None

    after = read_state(module, binary, uri)
    result["authorized"]["after"] = authorized_view(after)
    result["high_watermark"]["after"] = after["high_watermark"]
    if after["error_kind"] is not None or not after["authorized_matches"]:
        raise ModuleFailure("the setup ran but the Ledger does not authorize %s afterwards: %s"
                            % (uri, describe_error(after["error_kind"], after["error"])),
                            after["error_kind"] or "wrong_key")
    main = ((after["high_watermark"] or {}).get("main") or {}).get("level")
    if params["main_hwm"] is not None and (main is None or main < params["main_hwm"]):
        raise ModuleFailure("the setup ran but the Ledger's main high watermark is %s, not %d" % (main, params["main_hwm"]))
    chain_id = params["main_chain_id"]
    if chain_id and chain_id.startswith("Net") and (after["high_watermark"] or {}).get("chain_id") != chain_id:
        raise ModuleFailure("the setup ran but the Ledger's main chain id is %s, not %s"
                            % ((after["high_watermark"] or {}).get("chain_id") or "'Unspecified'", chain_id))


def execute_module(module):
    result = {
        "changed": False,
        "key": module.params["key"],
        "uri": None,
        "reason": None,
        "command": [],
        "authorized": {"before": None, "after": None},
        "high_watermark": {"before": None, "after": None},
        "error_kind": None,
    }
    try:
        binary = module.params["octez_client_path"]
        result["uri"] = validate(module)
        try:
            with ledger_lock(module.params["lock_path"], module.params["lock_timeout"]):
                setup_and_verify(module, binary, result["uri"], result)
        except LedgerError as exc:
            # The lock itself (busy) or an unexpected failure outside check_ledger.
            raise ModuleFailure(describe_error(exc.kind, exc.message), exc.kind)
    except ModuleFailure as exc:
        result["error_kind"] = exc.kind
        module.fail_json(msg=exc.msg, **result)
    module.exit_json(**result)


def main():
    run_ledger_module(argument_spec(), execute_module)


if __name__ == "__main__":
    main()
