# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compute v1 of the fake: schema checks, operations, GCP's answers."""

from gcp_fake.testing import COMPUTE, PROJECT, wait

WWW = "https://www.googleapis.com/compute/v1/projects/%s" % PROJECT


def test_insert_answers_an_operation_then_the_resource_has_a_www_self_link(api):
    op = api.post(COMPUTE + "/global/networks", json={"name": "net", "autoCreateSubnetworks": False}).json()
    assert op["kind"] == "compute#operation"
    assert op["status"] == "RUNNING"
    assert op["targetLink"] == WWW + "/global/networks/net"
    done = wait(api, op, COMPUTE + "/global")
    assert done["status"] == "DONE" and done["progress"] == 100
    network = api.get(done["targetLink"]).json()
    assert network["selfLink"] == WWW + "/global/networks/net"
    assert network["routingConfig"] == {"routingMode": "REGIONAL"}


def test_unknown_field_wrong_type_and_bad_enum_are_400_with_google_shape(api):
    answer = api.post(COMPUTE + "/global/firewalls", json={
        "name": "fw", "colour": "blue", "priority": "high", "direction": "SIDEWAYS"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    messages = [v["description"] for v in error["details"][0]["fieldViolations"]]
    assert 'Invalid JSON payload received. Unknown name "colour" at \'firewall_resource\': Cannot find field.' in messages
    assert "Invalid value at 'firewall_resource.priority' (TYPE_INT32), \"high\"" in messages
    assert any(m.startswith("Invalid value at 'firewall_resource.direction'") for m in messages)
    assert error["errors"][0]["reason"] == "invalid"


def test_nested_objects_and_arrays_are_checked(api):
    answer = api.post(COMPUTE + "/regions/europe-west1/subnetworks", json={
        "name": "s", "network": "global/networks/x", "ipCidrRange": "10.0.0.0/24",
        "secondaryIpRanges": [{"rangeName": "pods", "cidr": "10.1.0.0/16"}]})
    assert answer.status_code == 400
    assert "at 'subnetwork_resource.secondary_ip_ranges[0]'" in answer.json()["error"]["message"]


def test_404_and_409_shapes(api):
    missing = api.get(COMPUTE + "/global/networks/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["errors"][0]["reason"] == "notFound"
    assert "projects/%s/global/networks/nope" % PROJECT in missing.json()["error"]["message"]
    api.post(COMPUTE + "/global/networks", json={"name": "net", "autoCreateSubnetworks": False})
    again = api.post(COMPUTE + "/global/networks", json={"name": "net", "autoCreateSubnetworks": False})
    assert again.status_code == 409
    assert again.json()["error"]["errors"][0]["reason"] == "alreadyExists"


def test_subnet_in_a_missing_network_is_refused(api):
    answer = api.post(COMPUTE + "/regions/europe-west1/subnetworks", json={
        "name": "s", "network": "global/networks/missing", "ipCidrRange": "10.0.0.0/24"})
    assert answer.status_code == 404
    assert "global/networks/missing" in answer.json()["error"]["message"]


def test_subnet_in_a_legacy_network_is_refused(api):
    api.post(COMPUTE + "/global/networks", json={"name": "legacy"})
    answer = api.post(COMPUTE + "/regions/europe-west1/subnetworks", json={
        "name": "s", "network": "global/networks/legacy", "ipCidrRange": "10.0.0.0/24"})
    assert answer.status_code == 400
    assert "legacy" in answer.json()["error"]["message"]


def test_overlapping_ranges_are_refused(network):
    answer = network.post(COMPUTE + "/regions/europe-west1/subnetworks", json={
        "name": "other", "network": "global/networks/net", "ipCidrRange": "10.18.0.0/24"})
    assert answer.status_code == 400
    assert "conflicts with existing subnetwork 'nodes'" in answer.json()["error"]["message"]


def test_unknown_region_is_404(api):
    assert api.get(COMPUTE + "/regions/europe-west99").status_code == 404
    zones = api.get(COMPUTE + "/regions/europe-west1").json()["zones"]
    assert [z.rsplit("/", 1)[1] for z in zones] == ["europe-west1-b", "europe-west1-c", "europe-west1-d"]


def test_machine_types(api):
    assert api.get(COMPUTE + "/zones/europe-west1-b/machineTypes/e2-standard-4").status_code == 200
    assert api.get(COMPUTE + "/zones/europe-west1-b/machineTypes/n2-custom-4-16384").status_code == 200
    assert api.get(COMPUTE + "/zones/europe-west1-b/machineTypes/e2-standard-3").status_code == 404


def test_a_network_in_use_cannot_be_deleted(network):
    answer = network.delete(COMPUTE + "/global/networks/net")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["errors"][0]["reason"] == "resourceInUseByAnotherResource"
    assert "regions/europe-west1/subnetworks/nodes" in error["message"]
    assert network.delete(COMPUTE + "/regions/europe-west1/subnetworks/nodes").status_code == 200
    assert network.delete(COMPUTE + "/global/networks/net").status_code == 200


def test_router_nat_patch_is_checked_and_normalised(network):
    network.post(COMPUTE + "/regions/europe-west1/routers", json={
        "name": "r", "network": WWW + "/global/networks/net", "bgp": {"asn": 64514}})
    bad = network.patch(COMPUTE + "/regions/europe-west1/routers/r", json={"nats": [{
        "name": "nat", "natIpAllocateOption": "AUTO_ONLY", "sourceSubnetworkIpRangesToNat": "LIST_OF_SUBNETWORKS",
        "subnetworks": [{"name": "regions/europe-west1/subnetworks/missing"}]}]})
    assert bad.status_code == 404
    good = network.patch(COMPUTE + "/regions/europe-west1/routers/r", json={"nats": [{
        "name": "nat", "natIpAllocateOption": "AUTO_ONLY", "sourceSubnetworkIpRangesToNat": "LIST_OF_SUBNETWORKS",
        "subnetworks": [{"name": "regions/europe-west1/subnetworks/nodes", "sourceIpRangesToNat": ["ALL_IP_RANGES"]}]}]})
    assert good.status_code == 200
    router = network.get(COMPUTE + "/regions/europe-west1/routers/r").json()
    assert router["nats"][0]["subnetworks"][0]["name"] == WWW + "/regions/europe-west1/subnetworks/nodes"
    assert router["bgp"] == {"asn": 64514, "advertiseMode": "DEFAULT", "keepaliveInterval": 20}
    # The subnet is now used by the NAT.
    assert network.delete(COMPUTE + "/regions/europe-west1/subnetworks/nodes").status_code == 400


def test_firewall_defaults_like_gcp(network):
    network.post(COMPUTE + "/global/firewalls", json={
        "name": "fw", "network": "global/networks/net", "allowed": [{"IPProtocol": "tcp", "ports": ["9732"]}]})
    rule = network.get(COMPUTE + "/global/firewalls/fw").json()
    assert rule["sourceRanges"] == ["0.0.0.0/0"]
    assert (rule["direction"], rule["priority"], rule["disabled"]) == ("INGRESS", 1000, False)
    assert network.post(COMPUTE + "/global/firewalls", json={"name": "empty", "network": "global/networks/net"}).status_code == 400


def test_request_log_and_state_file(fake, api):
    api.post(COMPUTE + "/global/networks", json={"name": "net", "autoCreateSubnetworks": False})
    entries = [line for line in (fake.directory / "requests.jsonl").read_text().splitlines() if line]
    assert '"method": "POST"' in entries[-1]
    assert "Bearer" not in (fake.directory / "requests.jsonl").read_text()
    assert '"net"' in (fake.directory / "state.json").read_text()
