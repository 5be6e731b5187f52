"""After site.yml with bakery_cloud_state: absent, nothing of the bakery is
left in the fake GCP, and the deletes came in an order GCP accepts."""
from gcp_fake import records

PROJECT = "tz-bakery-test"
COMPUTE = "/compute/v1/projects/%s" % PROJECT
CONTAINER = "/v1/projects/%s/locations/europe-west1" % PROJECT

TEARDOWN_DELETES = [
    CONTAINER + "/clusters/tezos-bakery/nodePools/bakery-pool",
    CONTAINER + "/clusters/tezos-bakery",
    COMPUTE + "/regions/europe-west1/addresses/tezos-bakery-public-nodes",
    COMPUTE + "/global/firewalls/tezos-bakery-allow-internal",
    COMPUTE + "/global/firewalls/tezos-bakery-allow-p2p",
    COMPUTE + "/regions/europe-west1/routers/tezos-bakery-router",
    COMPUTE + "/regions/europe-west1/subnetworks/tezos-bakery-nodes",
    COMPUTE + "/global/networks/tezos-bakery",
]


def test_nothing_is_left():
    state = records.state()
    assert state["clusters"] == {}
    leftovers = {collection: sorted(items) for collection, items in state["compute"].items() if items}
    assert leftovers == {}


def test_deletes_in_dependency_order():
    deletes = [path for method, path in records.api_writes(records.requests()) if method == "DELETE"]
    # The module's own default-pool delete happens at creation.
    deletes = [path for path in deletes if not path.endswith("/nodePools/default-pool")]
    assert deletes == TEARDOWN_DELETES


def test_no_call_was_refused():
    refused = [e for e in records.requests() if e["status"] >= 400 and not (e["status"] == 404 and e["method"] == "GET")]
    assert refused == []


def test_kubeconfig_and_manifest_removed():
    assert not (records.fake_dir() / "kubeconfig.yaml").exists()
    assert not (records.fake_dir() / "storageclass-regional-pd.yaml").exists()


def test_the_access_token_was_used_and_never_logged():
    entries = records.requests()
    assert not [e for e in entries if e["host"] == "oauth2.googleapis.com"], "token path: no token exchange expected"
    assert "molecule-static-test-token" not in (records.fake_dir() / "requests.jsonl").read_text()
