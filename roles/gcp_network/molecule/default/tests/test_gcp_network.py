"""The network as the fake GCP saw it (access-token path)."""
import json

import pytest

from gcp_fake import records

PROJECT = "tz-bakery-test"
COMPUTE = "/compute/v1/projects/%s" % PROJECT
WWW = "https://www.googleapis.com/compute/v1/projects/%s" % PROJECT


@pytest.fixture(scope="module")
def per_run():
    run_list = records.runs()
    assert len(run_list) == 2
    records.report_timings(run_list, "gcp_network/default (network only, access token)")
    return records.split_by_runs(records.requests(), run_list)


def test_calls(per_run):
    assert records.api_writes(per_run[0]) == [
        ("POST", COMPUTE + "/global/networks"),
        ("POST", COMPUTE + "/regions/europe-west4/subnetworks"),
        ("POST", COMPUTE + "/regions/europe-west4/routers"),
        ("PATCH", COMPUTE + "/regions/europe-west4/routers/tezos-bakery-router"),
        ("POST", COMPUTE + "/global/firewalls"),
        ("POST", COMPUTE + "/global/firewalls"),
        ("POST", COMPUTE + "/regions/europe-west4/addresses"),
    ]
    assert records.api_writes(per_run[1]) == []
    assert all(e["host"] != "oauth2.googleapis.com" for e in per_run[0] + per_run[1])


def test_nat_without_logging():
    router = records.state()["compute"]["regions/europe-west4/routers"]["tezos-bakery-router"]
    (nat,) = router["nats"]
    assert nat["logConfig"] == {"enable": False}
    assert nat["minPortsPerVm"] == 1024


def test_published_facts():
    facts = json.loads((records.fake_dir() / "facts.json").read_text())
    address = records.state()["compute"]["regions/europe-west4/addresses"]["tezos-bakery-public-nodes"]
    assert facts == {"public_address": address["address"],
                     "subnet": WWW + "/regions/europe-west4/subnetworks/tezos-bakery-nodes"}


def test_region_read_in_preflight(per_run):
    first = per_run[0][0]
    assert (first["method"], first["path"]) == ("GET", COMPUTE + "/regions/europe-west4")
