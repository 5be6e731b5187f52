"""Every bad setting failed in argument validation or preflight, with a
message that names the problem, and wrote nothing to GCP."""
import json

import pytest

from gcp_fake import records

# case -> words the failure message must contain.
EXPECTED = {
    "no-credentials": ["No usable GCP credentials", "No API call was made"],
    "bad-state": ["gcp_network_state", "present", "absent"],
    "region-format": ["gcp_network_region must look like europe-west1", "europe_west1"],
    "region-unknown": ["404", "europe-west99", "Nothing was changed"],
    "ranges-overlap": ["overlaps", "10.10.8.0/21", "10.10.0.0/20", "Nothing was changed"],
    "range-public": ["8.8.8.0/24", "not a private range"],
    "machine-type-format": ["gke_cluster_machine_type", "e2-standard"],
    "machine-type-unknown": ["e2-standard-3", "is not offered", "Nothing was changed"],
    "region-unknown-cluster": ["europe-west99", "does not exist", "Nothing was changed"],
    "master-overlaps-subnet": ["10.10.0.16/28", "overlaps", "Nothing was changed"],
    "autoscaling-bounds": ["min_nodes", "max_nodes"],
    "disk-type": ["gke_cluster_disk_type", "pd-fast"],
}


@pytest.fixture(scope="module")
def outcomes():
    return {case["name"]: case for case in json.loads((records.fake_dir() / "cases.json").read_text())}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_failed_with_a_clear_message(outcomes, name):
    case = outcomes[name]
    assert case["failed"], "%s did not fail" % name
    for words in EXPECTED[name]:
        assert words in case["msg"], "%s: %r not in %r" % (name, words, case["msg"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wrote_nothing(outcomes, name):
    case = outcomes[name]
    during = [e for e in records.requests() if case["start"] <= e["time"] <= case["end"]]
    assert records.api_writes(during) == []


def test_missing_credentials_fail_before_any_call(outcomes):
    case = outcomes["no-credentials"]
    assert [e for e in records.requests() if case["start"] <= e["time"] <= case["end"]] == []


def test_only_the_valid_network_was_ever_written():
    writes = records.api_writes(records.requests())
    assert {path.split("/")[-1] for _method, path in writes} <= {
        "networks", "subnetworks", "routers", "tezos-bakery-router", "firewalls", "addresses"}
    assert not [path for _method, path in writes if "container" in path or "/clusters" in path]
