# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the unit tests of plugins/ share (importable thanks to conftest.py).

FakeClient is a fake octez-client: a python script in tmp_path that replays
the recorded outputs of tests/unit/fixtures/octez_client according to a JSON
state file. run_main() runs a module's main() with patched module args and
returns what it exits (or fails) with.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import contextlib
import json
import os
import sys
from unittest import mock

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    @contextlib.contextmanager
    def patch_module_args(args=None):
        serialized = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))
        with mock.patch.object(basic, "_ANSIBLE_ARGS", serialized):
            yield


FIXTURES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "fixtures", "octez_client"))
NAME = "major-squirrel-thick-hedgehog"
URI = "ledger://%s/ed25519/0h/0h" % NAME

# A Ledger with the Baking app open, authorizing URI on mainnet at 5023417.
READY = {
    "list": {"stdout": "@list_connected_ledgers_baking.txt"},
    "authorized": {"stdout": "@authorized_path_match.txt"},
    "hwm": {"stdout": "@high_watermark.txt"},
}
# What check_ledger (and so ledger_info) reports for it, "ledgers" aside.
READY_FACTS = {
    "uri": URI, "ready": True, "error_kind": None, "error": None,
    "connected": True, "name": NAME, "app": "Tezos Baking", "app_version": "2.4.7", "device": "Ledger Nano S Plus",
    "authorized": True, "authorized_matches": True, "authorized_path": "m/44'/1729'/0'/0'", "authorized_curve": "ed25519",
    "authorized_uri": URI,
    "high_watermark": {"main": {"level": 5023417, "round": 0}, "test": {"level": 0, "round": 0}, "chain_id": "NetXdQprcVkpaWU"},
}

# The fake octez-client: answers each Ledger command with the response the
# state file gives for it ({"stdout": "@fixture.txt" or text, "stderr": ...,
# "rc": int, "sleep": seconds}); records every call in the state file. A
# successful ``setup ledger to bake for`` switches to the ``after_setup``
# responses, like the device does.
FAKE_CLIENT = r'''#!%(python)s
import json, os, sys, time
STATE = %(state)r
FIXTURES = %(fixtures)r
args = sys.argv[1:]
if args[:1] == ["-d"]:
    args = args[2:]
words = " ".join(args)
key = "other"
for prefix, name in (("list connected ledgers", "list"), ("get ledger authorized path for", "authorized"),
                     ("get ledger high watermark for", "hwm"), ("setup ledger to bake for", "setup")):
    if words.startswith(prefix):
        key = name
with open(STATE) as handle:
    state = json.load(handle)
state["calls"].append(sys.argv[1:])
response = state["responses"].get(key, {"stderr": "Error:\n  Unrecognized command.\n", "rc": 1})
if key == "setup" and not response.get("rc"):
    state["responses"].update(state.get("after_setup", {}))
with open(STATE, "w") as handle:
    json.dump(state, handle)


def text(value):
    if value and value.startswith("@"):
        with open(os.path.join(FIXTURES, value[1:])) as handle:
            return handle.read()
    return value or ""


time.sleep(response.get("sleep", 0))
sys.stdout.write(text(response.get("stdout")))
sys.stderr.write(text(response.get("stderr")))
sys.exit(response.get("rc", 0))
'''


def read_fixture(name):
    """A recorded octez-client output of tests/unit/fixtures/octez_client."""
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def write_script(path, text):
    """Write an executable script at ``path`` (a pathlib.Path); return its path as a string."""
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


class FakeClient(object):
    """The fake octez-client at ``path`` (tmp_path/octez-client), answering ``responses``."""

    def __init__(self, tmp_path, responses, after_setup=None):
        self.state_path = tmp_path / "state.json"
        self.path = write_script(tmp_path / "octez-client", FAKE_CLIENT % {
            "python": sys.executable, "state": str(self.state_path), "fixtures": FIXTURES})
        self.set(responses, after_setup)

    def set(self, responses, after_setup=None):
        """Answer ``responses`` (then ``after_setup`` once a setup succeeded); forget the calls so far."""
        state = {"responses": dict(responses), "after_setup": after_setup or {}, "calls": []}
        self.state_path.write_text(json.dumps(state))

    def update(self, **responses):
        """Change some of the responses, keeping the others and the calls."""
        state = json.loads(self.state_path.read_text())
        state["responses"].update(responses)
        self.state_path.write_text(json.dumps(state))

    @property
    def calls(self):
        """The arguments of every call, in order."""
        return json.loads(self.state_path.read_text())["calls"]

    @property
    def setup_calls(self):
        return [call for call in self.calls if "setup" in call]


class AnsibleExitJson(Exception):
    pass


class AnsibleFailJson(Exception):
    pass


def _exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    raise AnsibleExitJson(kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs["failed"] = True
    kwargs["msg"] = msg
    raise AnsibleFailJson(kwargs)


def run_main(main, args, expect=AnsibleExitJson):
    """Run a module's ``main`` with the module args ``args``; return its result.

    ``expect`` is AnsibleExitJson for exit_json, AnsibleFailJson when the module must fail.
    """
    with patch_module_args(args), mock.patch.multiple(basic.AnsibleModule, exit_json=_exit_json, fail_json=_fail_json):
        with pytest.raises(expect) as info:
            main()
    return info.value.args[0]
