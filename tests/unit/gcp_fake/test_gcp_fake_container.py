# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Container v1 of the fake: clusters, node pools, updates."""

import base64

from gcp_fake.testing import COMPUTE, CONTAINER, PROJECT, wait

CLUSTER = {
    "name": "c", "network": "net", "subnetwork": "nodes", "initialNodeCount": 1,
    "nodeConfig": {"machineType": "e2-standard-4"},
    "ipAllocationPolicy": {"useIpAliases": True, "clusterSecondaryRangeName": "pods",
                           "servicesSecondaryRangeName": "services"},
    "privateClusterConfig": {"enablePrivateNodes": True, "masterIpv4CidrBlock": "172.16.0.32/28"},
}


def create(api, **changes):
    spec = dict(CLUSTER, **changes)
    return api.post(CONTAINER + "/clusters", json={"cluster": spec})


def test_cluster_with_default_pool_running_after_its_operation(network):
    op = create(network).json()
    assert op["operationType"] == "CREATE_CLUSTER" and op["status"] == "RUNNING"
    assert network.get(CONTAINER + "/clusters/c").json()["status"] == "PROVISIONING"
    wait(network, op, CONTAINER)
    cluster = network.get(op["targetLink"]).json()
    assert cluster["status"] == "RUNNING"
    assert [p["name"] for p in cluster["nodePools"]] == ["default-pool"]
    assert len(cluster["locations"]) == 3
    assert base64.b64decode(cluster["masterAuth"]["clusterCaCertificate"]).startswith(b"-----BEGIN CERTIFICATE-----")
    assert cluster["privateClusterConfig"]["privateEndpoint"] == "172.16.0.34"


def test_create_request_is_schema_checked(network):
    answer = network.post(CONTAINER + "/clusters", json={"cluster": dict(CLUSTER, initialNodeCount="many", colour="x")})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert "Unknown name \"colour\" at 'cluster'" in error["message"]
    assert "Invalid value at 'cluster.initial_node_count' (TYPE_INT32), \"many\"" in error["message"]
    bad_enum = network.post(CONTAINER + "/clusters", json={"cluster": dict(CLUSTER, releaseChannel={"channel": "FAST"})})
    assert "cluster.release_channel.channel" in bad_enum.json()["error"]["message"]


def test_the_module_field_name_workload_meta_config_is_rejected(network):
    op = create(network).json()
    wait(network, op, CONTAINER)
    answer = network.post(CONTAINER + "/clusters/c/nodePools", json={"nodePool": {
        "name": "p", "initialNodeCount": 1, "config": {"workloadMetaConfig": {"mode": "GKE_METADATA"}}}})
    assert answer.status_code == 400
    assert 'Unknown name "workloadMetaConfig"' in answer.json()["error"]["message"]


def test_semantic_checks(network):
    assert "Secondary range \"nope\" does not exist" in create(network, ipAllocationPolicy=dict(
        CLUSTER["ipAllocationPolicy"], clusterSecondaryRangeName="nope")).json()["error"]["message"]
    assert "overlaps" in create(network, privateClusterConfig={
        "enablePrivateNodes": True, "masterIpv4CidrBlock": "10.10.0.16/28"}).json()["error"]["message"]
    assert "Machine type" in create(network, nodeConfig={"machineType": "e2-standard-3"}).json()["error"]["message"]
    assert create(network, subnetwork="missing").status_code == 400
    assert network.post(CONTAINER.replace("europe-west1", "mars-north1") + "/clusters", json={"cluster": CLUSTER}).status_code == 404


def test_conflict_and_not_found(network):
    wait(network, create(network).json(), CONTAINER)
    again = create(network)
    assert again.status_code == 409 and again.json()["error"]["status"] == "ALREADY_EXISTS"
    missing = network.get(CONTAINER + "/clusters/nope")
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"


def test_one_update_at_a_time_and_workload_identity(network):
    wait(network, create(network).json(), CONTAINER)
    two = network.put(CONTAINER + "/clusters/c", json={"update": {
        "desiredWorkloadIdentityConfig": {"workloadPool": PROJECT + ".svc.id.goog"},
        "desiredAddonsConfig": {"gcePersistentDiskCsiDriverConfig": {"enabled": True}}}})
    assert two.status_code == 400
    one = network.put(CONTAINER + "/clusters/c", json={"update": {
        "desiredWorkloadIdentityConfig": {"workloadPool": PROJECT + ".svc.id.goog"}}}).json()
    busy = network.put(CONTAINER + "/clusters/c", json={"update": {"desiredLoggingService": "none"}})
    assert busy.status_code == 400 and busy.json()["error"]["status"] == "FAILED_PRECONDITION"
    wait(network, one, CONTAINER)
    op = network.post(CONTAINER + "/clusters/c/nodePools", json={"nodePool": {"name": "p", "initialNodeCount": 1}}).json()
    wait(network, op, CONTAINER)
    pool = network.get(CONTAINER + "/clusters/c/nodePools/p").json()
    assert pool["config"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


def test_a_subnet_used_by_a_cluster_cannot_be_deleted(network):
    wait(network, create(network).json(), CONTAINER)
    answer = network.delete(COMPUTE + "/regions/europe-west1/subnetworks/nodes")
    assert answer.status_code == 400
    assert answer.json()["error"]["errors"][0]["reason"] == "resourceInUseByAnotherResource"
    wait(network, network.delete(CONTAINER + "/clusters/c").json(), CONTAINER)
    assert network.delete(COMPUTE + "/regions/europe-west1/subnetworks/nodes").status_code == 200
