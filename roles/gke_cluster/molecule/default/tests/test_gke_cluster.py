"""The cloud foundation as the fake GCP saw it: what exists after the first
converge, which calls each run made (the second run: reads only), the
kubeconfig and the StorageClass the Kubernetes roles get."""
import base64
import json

import kubernetes_validate
import pytest
import yaml

from gcp_fake import records

PROJECT = "tz-bakery-test"
COMPUTE = "/compute/v1/projects/%s" % PROJECT
CONTAINER = "/v1/projects/%s/locations/europe-west1" % PROJECT
WWW = "https://www.googleapis.com/compute/v1/projects/%s" % PROJECT

# Every write of a first run, in order (the module's default-pool delete
# included: that is how google.cloud.gcp_container_cluster creates).
FIRST_RUN_WRITES = [
    ("POST", COMPUTE + "/global/networks"),
    ("POST", COMPUTE + "/regions/europe-west1/subnetworks"),
    ("POST", COMPUTE + "/regions/europe-west1/routers"),
    ("PATCH", COMPUTE + "/regions/europe-west1/routers/tezos-bakery-router"),
    ("POST", COMPUTE + "/global/firewalls"),
    ("POST", COMPUTE + "/global/firewalls"),
    ("POST", COMPUTE + "/regions/europe-west1/addresses"),
    ("POST", CONTAINER + "/clusters"),
    ("DELETE", CONTAINER + "/clusters/tezos-bakery/nodePools/default-pool"),
    ("PUT", CONTAINER + "/clusters/tezos-bakery"),
    ("POST", CONTAINER + "/clusters/tezos-bakery/nodePools"),
]


@pytest.fixture(scope="module")
def state():
    return records.state()


@pytest.fixture(scope="module")
def runs():
    run_list = records.runs()
    assert len(run_list) == 2, "expected converge + idempotence runs, got %s" % run_list
    return run_list


@pytest.fixture(scope="module")
def per_run(runs):
    return records.split_by_runs(records.requests(), runs)


def test_timings(runs):
    lines = records.report_timings(runs, "gke_cluster/default (network + cluster, service-account key)")
    assert len(lines) == 2


def test_first_run_writes_exactly_the_expected_calls(per_run):
    assert records.api_writes(per_run[0]) == FIRST_RUN_WRITES


def test_second_run_only_reads(per_run):
    assert records.api_writes(per_run[1]) == []
    assert per_run[1], "the second run made no request at all"


def test_every_request_was_accepted_or_an_expected_404(per_run):
    for entry in per_run[0] + per_run[1]:
        if entry["status"] == 404:
            # Only the modules' existence checks (GET before create).
            assert entry["method"] == "GET", entry
        else:
            assert entry["status"] == 200, entry


def test_network(state):
    network = state["compute"]["global/networks"]["tezos-bakery"]
    assert network["autoCreateSubnetworks"] is False
    assert network["selfLink"] == WWW + "/global/networks/tezos-bakery"
    subnet = state["compute"]["regions/europe-west1/subnetworks"]["tezos-bakery-nodes"]
    assert subnet["ipCidrRange"] == "10.10.0.0/20"
    assert subnet["privateIpGoogleAccess"] is True
    assert {r["rangeName"]: r["ipCidrRange"] for r in subnet["secondaryIpRanges"]} == {
        "pods": "10.16.0.0/14", "services": "10.20.0.0/20"}


def test_cloud_nat(state):
    router = state["compute"]["regions/europe-west1/routers"]["tezos-bakery-router"]
    assert router["bgp"]["asn"] == 64514
    (nat,) = router["nats"]
    assert nat["name"] == "tezos-bakery-nat"
    assert nat["natIpAllocateOption"] == "AUTO_ONLY"
    assert nat["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    assert nat["subnetworks"][0]["name"] == WWW + "/regions/europe-west1/subnetworks/tezos-bakery-nodes"
    assert nat["logConfig"] == {"enable": True, "filter": "ERRORS_ONLY"}


def test_only_the_p2p_port_is_open_to_the_world(state):
    rules = state["compute"]["global/firewalls"]
    assert set(rules) == {"tezos-bakery-allow-internal", "tezos-bakery-allow-p2p"}
    open_rules = [r for r in rules.values() if "0.0.0.0/0" in r.get("sourceRanges", [])]
    assert [r["name"] for r in open_rules] == ["tezos-bakery-allow-p2p"]
    p2p = rules["tezos-bakery-allow-p2p"]
    assert p2p["allowed"] == [{"IPProtocol": "tcp", "ports": ["9732"]}]
    assert p2p["targetTags"] == ["tezos-bakery-p2p"]
    assert all(r["network"] == WWW + "/global/networks/tezos-bakery" for r in rules.values())


def test_static_address(state):
    address = state["compute"]["regions/europe-west1/addresses"]["tezos-bakery-public-nodes"]
    assert address["addressType"] == "EXTERNAL"
    assert address["status"] == "RESERVED"


def test_private_regional_cluster(state):
    cluster = state["clusters"]["europe-west1/tezos-bakery"]
    assert cluster["status"] == "RUNNING"
    assert cluster["location"] == "europe-west1"
    assert len(cluster["locations"]) == 3
    private = cluster["privateClusterConfig"]
    assert private["enablePrivateNodes"] is True
    assert private["masterIpv4CidrBlock"] == "172.16.0.32/28"
    assert cluster["workloadIdentityConfig"] == {"workloadPool": PROJECT + ".svc.id.goog"}
    assert cluster["networkPolicy"] == {"enabled": True, "provider": "CALICO"}
    assert cluster["addonsConfig"]["networkPolicyConfig"] == {"disabled": False}
    assert cluster["addonsConfig"]["gcePersistentDiskCsiDriverConfig"] == {"enabled": True}
    assert cluster["masterAuthorizedNetworksConfig"]["cidrBlocks"] == [
        {"displayName": "controller", "cidrBlock": "203.0.113.0/24"}]
    assert cluster["ipAllocationPolicy"]["clusterSecondaryRangeName"] == "pods"
    assert cluster["ipAllocationPolicy"]["servicesSecondaryRangeName"] == "services"


def test_node_pool_replaces_the_default_pool(state):
    cluster = state["clusters"]["europe-west1/tezos-bakery"]
    (pool,) = cluster["nodePools"]
    assert pool["name"] == "bakery-pool"
    assert pool["config"]["machineType"] == "e2-standard-4"
    assert pool["config"]["diskSizeGb"] == 100
    assert pool["config"]["tags"] == ["tezos-bakery-p2p"]
    assert pool["config"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert pool["config"]["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert pool["autoscaling"]["enabled"] is True
    assert (pool["autoscaling"]["minNodeCount"], pool["autoscaling"]["maxNodeCount"]) == (1, 2)


def test_kubeconfig_from_endpoint_and_ca(state):
    cluster = state["clusters"]["europe-west1/tezos-bakery"]
    handoff = json.loads((records.fake_dir() / "handoff.json").read_text())
    path = records.fake_dir() / "kubeconfig.yaml"
    assert handoff["gke_cluster_kubeconfig_path"] == str(path)
    assert handoff["bakery_kubeconfig"] == str(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    config = yaml.safe_load(path.read_text())
    (entry,) = config["clusters"]
    assert entry["cluster"]["server"] == "https://" + cluster["endpoint"]
    assert entry["cluster"]["certificate-authority-data"] == cluster["masterAuth"]["clusterCaCertificate"]
    assert base64.b64decode(entry["cluster"]["certificate-authority-data"]).startswith(b"-----BEGIN CERTIFICATE-----")
    assert config["current-context"] == "gke_%s_europe-west1_tezos-bakery" % PROJECT
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert handoff["gcp_network_public_address"] == state["compute"]["regions/europe-west1/addresses"][
        "tezos-bakery-public-nodes"]["address"]


def test_regional_pd_storage_class():
    manifest = yaml.safe_load((records.fake_dir() / "manifests" / "storageclass-regional-pd.yaml").read_text())
    kubernetes_validate.validate(manifest, "1.33", strict=True)
    assert manifest["provisioner"] == "pd.csi.storage.gke.io"
    assert manifest["parameters"] == {"type": "pd-balanced", "replication-type": "regional-pd"}
    assert manifest["volumeBindingMode"] == "WaitForFirstConsumer"
    zones = manifest["allowedTopologies"][0]["matchLabelExpressions"][0]["values"]
    assert zones == ["europe-west1-b", "europe-west1-c"]


def test_no_credential_in_the_request_log():
    text = (records.fake_dir() / "requests.jsonl").read_text()
    assert "ya29." not in text
    assert "PRIVATE KEY" not in text
