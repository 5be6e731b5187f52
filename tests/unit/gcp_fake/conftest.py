# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The GCP fake (tests/gcp_fake), in-process, reached like the roles reach
it: through its CONNECT proxy, trusting its test CA."""

import os
import shutil
import sys

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_SRC = os.path.join(HERE, "..", "..", "gcp_fake")
if FAKE_SRC not in sys.path:
    sys.path.insert(0, FAKE_SRC)

from gcp_fake.server import FakeGcp, make_ca, make_service_account_key  # noqa: E402  pylint: disable=wrong-import-position
from gcp_fake.testing import COMPUTE, PROJECT, TOKEN, wait  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """A test CA and a service-account key made once (RSA key generation
    dominates the fake's start-up)."""
    directory = tmp_path_factory.mktemp("gcp-fake-keys")
    make_ca(directory)
    make_service_account_key(directory / "sa.json", PROJECT)
    return directory


@pytest.fixture
def fake(tmp_path, keys):
    """A fresh fake, with a service-account key it trusts at tmp_path/sa.json."""
    (tmp_path / "fake").mkdir()
    for name in ("ca.pem", "ca.key"):
        shutil.copy(keys / name, tmp_path / "fake" / name)
    shutil.copy(keys / "sa.json", tmp_path / "sa.json")
    server = FakeGcp(tmp_path / "fake", PROJECT, access_tokens=[TOKEN],
                     service_account_files=[tmp_path / "sa.json"], op_polls=1).start()
    yield server
    server.stop()


@pytest.fixture
def api(fake):
    """A requests session through the fake's proxy, with the static token."""
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"https": fake.proxy_url}
    session.verify = str(fake.ca_path)
    session.headers["Authorization"] = "Bearer " + TOKEN
    return session


@pytest.fixture
def network(api):
    """A custom-mode network with one subnet (pods and services ranges) in europe-west1."""
    op = api.post(COMPUTE + "/global/networks", json={"name": "net", "autoCreateSubnetworks": False}).json()
    wait(api, op, COMPUTE + "/global")
    op = api.post(COMPUTE + "/regions/europe-west1/subnetworks", json={
        "name": "nodes", "network": "global/networks/net", "ipCidrRange": "10.10.0.0/20",
        "secondaryIpRanges": [{"rangeName": "pods", "ipCidrRange": "10.16.0.0/14"},
                              {"rangeName": "services", "ipCidrRange": "10.20.0.0/20"}]}).json()
    wait(api, op, COMPUTE + "/regions/europe-west1")
    return api
