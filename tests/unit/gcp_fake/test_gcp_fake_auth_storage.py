# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fake's OAuth token endpoint, its proxy, and storage v1."""

import json

import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import service_account

from gcp_fake.testing import COMPUTE, PROJECT
from gcp_fake.server import make_service_account_key

STORAGE = "https://storage.googleapis.com/storage/v1"


def _session(fake, credentials):
    session = AuthorizedSession(credentials)
    session.trust_env = False
    session.proxies = {"https": fake.proxy_url}
    session.verify = str(fake.ca_path)
    return session


def _credentials(path, scopes):
    return service_account.Credentials.from_service_account_file(str(path), scopes=scopes)


def test_service_account_jwt_is_exchanged_for_a_token(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", fake.proxy_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_path))
    session = _session(fake, _credentials(tmp_path / "sa.json", ["https://www.googleapis.com/auth/compute"]))
    assert session.get(COMPUTE + "/regions/europe-west1").status_code == 200
    log = (fake.directory / "requests.jsonl").read_text()
    assert '"host": "oauth2.googleapis.com"' in log
    assert "assertion" not in log


def test_a_key_the_fake_does_not_know_is_refused(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", fake.proxy_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_path))
    make_service_account_key(tmp_path / "other.json", PROJECT, name="intruder")
    with pytest.raises(RefreshError):
        _credentials(tmp_path / "other.json", ["https://www.googleapis.com/auth/cloud-platform"]).refresh(Request())


def test_a_forged_signature_is_refused(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", fake.proxy_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_path))
    info = json.loads((tmp_path / "sa.json").read_text())
    other = make_service_account_key(tmp_path / "other.json", PROJECT)
    info["private_key"] = other["private_key"]
    (tmp_path / "forged.json").write_text(json.dumps(info))
    with pytest.raises(RefreshError, match="Invalid JWT Signature"):
        _credentials(tmp_path / "forged.json", ["https://www.googleapis.com/auth/cloud-platform"]).refresh(Request())


def test_missing_or_unknown_token_is_401_and_scope_is_checked(fake, api, tmp_path, monkeypatch):
    del api.headers["Authorization"]
    answer = api.get(COMPUTE + "/regions/europe-west1")
    assert answer.status_code == 401
    api.headers["Authorization"] = "Bearer ya29.made-up"
    assert api.get(COMPUTE + "/regions/europe-west1").status_code == 401
    monkeypatch.setenv("HTTPS_PROXY", fake.proxy_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_path))
    session = _session(fake, _credentials(tmp_path / "sa.json", ["https://www.googleapis.com/auth/compute"]))
    denied = session.get("https://container.googleapis.com/v1/projects/%s/locations/europe-west1/clusters" % PROJECT)
    assert denied.status_code == 403


def test_the_proxy_only_tunnels_to_googleapis(fake):
    with pytest.raises(requests.exceptions.ProxyError):
        requests.get("https://example.com/", proxies={"https": fake.proxy_url}, timeout=5)


def test_buckets_and_objects(api):
    created = api.post(STORAGE + "/b", params={"project": PROJECT}, json={"name": "tz-payouts", "location": "eu"})
    assert created.status_code == 200
    assert created.json()["selfLink"] == "https://www.googleapis.com/storage/v1/b/tz-payouts"
    assert created.json()["location"] == "EU"
    assert api.post(STORAGE + "/b", params={"project": PROJECT}, json={"name": "tz-payouts"}).status_code == 409
    assert api.post(STORAGE + "/b", params={"project": PROJECT}, json={"name": "x", "colour": 1}).status_code == 400
    upload = api.post("https://storage.googleapis.com/upload/storage/v1/b/tz-payouts/o",
                      params={"uploadType": "media", "name": "index.html"}, data=b"<html></html>",
                      headers={"Content-Type": "text/html"})
    assert upload.status_code == 200 and upload.json()["size"] == "13"
    assert api.get(STORAGE + "/b/tz-payouts/o/index.html", params={"alt": "media"}).content == b"<html></html>"
    refused = api.delete(STORAGE + "/b/tz-payouts")
    assert refused.status_code == 409 and "not empty" in refused.json()["error"]["message"]
    assert api.delete(STORAGE + "/b/tz-payouts/o/index.html").status_code == 204
    assert api.delete(STORAGE + "/b/tz-payouts").status_code == 204
    assert api.get(STORAGE + "/b/tz-payouts").status_code == 404
