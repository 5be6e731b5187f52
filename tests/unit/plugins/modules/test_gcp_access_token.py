# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the tezos.bakery.gcp_access_token module, against the
token endpoint of the GCP fake (tests/gcp_fake) through its proxy."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import sys

import pytest

from ansible_collections.tezos.bakery.plugins.modules import gcp_access_token
from octez_client_fake import AnsibleExitJson, AnsibleFailJson, run_main

FAKE_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "gcp_fake")
if FAKE_SRC not in sys.path:
    sys.path.insert(0, FAKE_SRC)

from gcp_fake.server import FakeGcp, make_service_account_key  # noqa: E402  pylint: disable=wrong-import-position

PROJECT = "tz-unit-test"


@pytest.fixture
def fake(tmp_path, monkeypatch):
    make_service_account_key(tmp_path / "sa.json", PROJECT)
    server = FakeGcp(tmp_path / "fake", PROJECT, service_account_files=[tmp_path / "sa.json"]).start()
    monkeypatch.setenv("HTTPS_PROXY", server.proxy_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca_path))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield server
    server.stop()


def test_token_from_a_service_account_key(fake, tmp_path):
    result = run_main(gcp_access_token.main, {"service_account_file": str(tmp_path / "sa.json")})
    assert result["changed"] is False
    assert result["access_token"].startswith("ya29.fake-")
    assert result["access_token"] in fake.cloud.tokens
    assert fake.cloud.tokens[result["access_token"]] == {"https://www.googleapis.com/auth/cloud-platform"}
    assert result["expiry"]


def test_unknown_key_is_refused_with_a_message(fake, tmp_path):
    make_service_account_key(tmp_path / "other.json", PROJECT, name="intruder")
    result = run_main(gcp_access_token.main, {"service_account_file": str(tmp_path / "other.json")}, AnsibleFailJson)
    assert "refused the service-account key" in result["msg"]
    assert len(fake.cloud.tokens) == 0


def test_missing_key_file(tmp_path):
    result = run_main(gcp_access_token.main, {"service_account_file": str(tmp_path / "nope.json")}, AnsibleFailJson)
    assert "Cannot read the service-account key" in result["msg"]


def test_scopes(fake, tmp_path):
    result = run_main(gcp_access_token.main, {"service_account_file": str(tmp_path / "sa.json"),
                                              "scopes": ["https://www.googleapis.com/auth/compute"]}, AnsibleExitJson)
    assert fake.cloud.tokens[result["access_token"]] == {"https://www.googleapis.com/auth/compute"}
