# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the fake refuses like GCP does: request bodies checked down to the
objects defined in place in the discovery documents, compute writes GCP
refuses (with its texts), and the run records read loudly."""

import pytest

from gcp_fake import records
from gcp_fake.schema import Discovery
from gcp_fake.testing import COMPUTE, PROJECT, wait

STORAGE = "https://storage.googleapis.com/storage/v1"
WWW = "https://www.googleapis.com/compute/v1/projects/%s" % PROJECT
SUBNET = COMPUTE + "/regions/europe-west1/subnetworks/nodes"

# Inline object schemas (defined in place, with their own "properties") of
# the documents google-api-python-client==2.202.0 ships (requirements/test.txt).
INLINE_SCHEMAS = {"compute.v1": 463, "storage.v1": 40}


# ------------------------------------------------------------- helpers
def inline_schemas(doc):
    """(schema name, body reaching the inline object, its path in Google's
    messages, the inline spec) for every inline object schema of ``doc``."""
    found = []

    def walk(spec, ref, wrap, path):
        for name, child in spec.get("properties", {}).items():
            visit(child, ref, lambda inner, name=name: wrap({name: inner}), _join(path, _snake(name)))

    def visit(spec, ref, wrap, path):
        if spec.get("type") == "object" and "properties" in spec:
            found.append((ref, wrap, path, spec))
            walk(spec, ref, wrap, path)
        elif spec.get("type") == "array":
            visit(spec["items"], ref, lambda inner: wrap([inner]), path + "[0]")
        elif isinstance(spec.get("additionalProperties"), dict):
            visit(spec["additionalProperties"], ref, lambda inner: wrap({"k": inner}), path + "[k]")

    for ref, schema in doc.schemas.items():
        walk(schema, ref, lambda inner: inner, "")
    return found


def _snake(name):
    return "".join("_" + c.lower() if c.isupper() else c for c in name[:1].lower() + name[1:])


def _join(path, name):
    return "%s.%s" % (path, name) if path else name


def refused(answer, status, message, reason):
    """``answer`` is GCP's error: HTTP ``status``, compute's error body."""
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == status
    assert message in error["message"], error["message"]
    assert error["errors"][0]["reason"] == reason
    assert error["errors"][0]["message"] == error["message"]
    return error["message"]


def done(api, answer, scope):
    assert answer.status_code == 200, answer.text
    return wait(api, answer.json(), COMPUTE + scope)


def firewall(**fields):
    rule = {"name": "fw", "network": "global/networks/net", "allowed": [{"IPProtocol": "tcp", "ports": ["9732"]}]}
    rule.update(fields)
    return rule


# ------------------------------------------- schema: inline objects (1)
@pytest.mark.parametrize("api", sorted(INLINE_SCHEMAS))
def test_inline_schemas_are_counted(api):
    count = len(inline_schemas(Discovery(api)))
    print("%s: %d inline object schemas" % (api, count))
    assert count == INLINE_SCHEMAS[api], "the discovery documents changed (google-api-python-client upgrade?)"


@pytest.mark.parametrize("api", sorted(INLINE_SCHEMAS))
def test_every_inline_schema_refuses_an_unknown_key(api):
    doc = Discovery(api)
    missed = []
    for ref, wrap, path, _spec in inline_schemas(doc):
        expected = 'Unknown name "zz_unknown" at \'%s\': Cannot find field.' % path
        if expected not in [v["description"][len("Invalid JSON payload received. "):]
                            for v in doc.validate(ref, wrap({"zz_unknown": 1}))]:
            missed.append("%s.%s" % (ref, path))
    assert missed == []


@pytest.mark.parametrize("api", sorted(INLINE_SCHEMAS))
def test_every_inline_schema_type_checks_its_fields(api):
    doc = Discovery(api)
    missed = []
    for ref, wrap, path, spec in inline_schemas(doc):
        typed = [name for name, field in spec["properties"].items() if field.get("type") in ("string", "integer", "boolean")]
        if not typed:
            continue
        field = _join(path, _snake(typed[0]))
        if [v["field"] for v in doc.validate(ref, wrap({typed[0]: [1]}))] != [field]:
            missed.append("%s.%s" % (ref, field))
    assert missed == []


def test_firewall_allowed_entries_are_checked(network):
    answer = network.post(COMPUTE + "/global/firewalls", json=firewall(allowed=[{"IPProtocol": "tcp", "port": ["22"]}]))
    refused(answer, 400, 'Unknown name "port" at \'firewall_resource.allowed[0]\': Cannot find field.', "invalid")
    answer = network.post(COMPUTE + "/global/firewalls", json=firewall(denied=[{"IPProtocol": "tcp", "ports": "22"}], allowed=None))
    refused(answer, 400, "Invalid value at 'firewall_resource.denied[0].ports'", "invalid")


def test_bucket_inline_objects_are_checked(api):
    def create(**fields):
        return api.post(STORAGE + "/b", params={"project": PROJECT}, json=dict(name="tz-site", **fields))
    refused(create(website={"mainPage": "index.html"}), 400, 'Unknown name "mainPage" at \'website\'', "invalid")
    refused(create(iamConfiguration={"uniformBucketLevelAccess": {"enabled": "yes"}}), 400,
            "Invalid value at 'iam_configuration.uniform_bucket_level_access.enabled' (TYPE_BOOL), \"yes\"", "invalid")
    refused(create(iamConfiguration={"uniformBucketLevelAcess": {"enabled": True}}), 400,
            'Unknown name "uniformBucketLevelAcess" at \'iam_configuration\'', "invalid")
    refused(create(versioning={"enable": True}), 400, 'Unknown name "enable" at \'versioning\'', "invalid")
    assert create(website={"mainPageSuffix": "index.html", "notFoundPage": "404.html"}, versioning={"enabled": True},
                  iamConfiguration={"uniformBucketLevelAccess": {"enabled": False},
                                    "publicAccessPrevention": "inherited"}).status_code == 200


# ------------------------------------------------ compute refusals (2)
def test_firewall_priority_is_0_to_65535(network):
    for priority in (-1, 65536):
        answer = network.post(COMPUTE + "/global/firewalls", json=firewall(priority=priority))
        refused(answer, 400, "Invalid value for field 'resource.priority': '%d'." % priority, "invalid")
    done(network, network.post(COMPUTE + "/global/firewalls", json=firewall(name="first", priority=0)), "/global")
    done(network, network.post(COMPUTE + "/global/firewalls", json=firewall(name="last", priority=65535)), "/global")
    answer = network.patch(COMPUTE + "/global/firewalls/first", json={"name": "first", "priority": 70000})
    refused(answer, 400, "'resource.priority': '70000'", "invalid")


def test_a_firewall_allows_or_denies_not_both(network):
    answer = network.post(COMPUTE + "/global/firewalls", json=firewall(denied=[{"IPProtocol": "udp"}]))
    refused(answer, 400, "not both", "invalid")
    done(network, network.post(COMPUTE + "/global/firewalls", json=firewall()), "/global")
    # A merge patch that would leave both.
    answer = network.patch(COMPUTE + "/global/firewalls/fw", json={"name": "fw", "denied": [{"IPProtocol": "udp"}]})
    refused(answer, 400, "not both", "invalid")
    # Switching from allow to deny (allowed set to null) is fine.
    done(network, network.patch(COMPUTE + "/global/firewalls/fw", json={
        "name": "fw", "allowed": None, "denied": [{"IPProtocol": "udp"}]}), "/global")


def test_firewall_protocols_are_gcps(network):
    answer = network.post(COMPUTE + "/global/firewalls", json=firewall(allowed=[{"IPProtocol": "tcp"}, {"IPProtocol": "ipv6-icmp"}]))
    # GCP's text, verbatim.
    refused(answer, 400, "Invalid value for field 'resource.allowed[1].IPProtocol': 'ipv6-icmp'. Must be one of "
                         "[\"ah\", \"all\", \"esp\", \"icmp\", \"ipip\", \"sctp\", \"tcp\", \"udp\"] or an IP protocol "
                         "number between 0 and 255.", "invalid")
    refused(network.post(COMPUTE + "/global/firewalls", json=firewall(allowed=[{"IPProtocol": "256"}])),
            400, "'resource.allowed[0].IPProtocol': '256'", "invalid")
    refused(network.post(COMPUTE + "/global/firewalls", json=firewall(allowed=[{"ports": ["22"]}])),
            400, "Required field 'resource.allowed[0].IPProtocol' not specified", "required")
    done(network, network.post(COMPUTE + "/global/firewalls", json=firewall(
        allowed=[{"IPProtocol": "all"}, {"IPProtocol": "58"}, {"IPProtocol": "sctp"}])), "/global")


def test_network_mtu_is_1300_to_8896(api):
    for mtu in (1299, 8897):
        answer = api.post(COMPUTE + "/global/networks", json={"name": "net", "autoCreateSubnetworks": False, "mtu": mtu})
        refused(answer, 400, "Invalid value for field 'resource.mtu': '%d'." % mtu, "invalid")
    done(api, api.post(COMPUTE + "/global/networks", json={"name": "small", "autoCreateSubnetworks": False, "mtu": 1300}), "/global")
    done(api, api.post(COMPUTE + "/global/networks", json={"name": "jumbo", "autoCreateSubnetworks": False, "mtu": 8896}), "/global")
    refused(api.patch(COMPUTE + "/global/networks/jumbo", json={"mtu": 9000}), 400, "'resource.mtu': '9000'", "invalid")


def test_prohibited_subnet_ranges_are_refused(network):
    def subnet(**fields):
        body = {"name": "other", "network": "global/networks/net", "ipCidrRange": "192.168.0.0/24"}
        body.update(fields)
        return network.post(COMPUTE + "/regions/europe-west1/subnetworks", json=body)
    prohibited = ("0.0.0.0/24", "127.0.0.0/24", "169.254.0.0/24", "224.0.0.0/24", "239.255.255.0/24",
                  "255.255.255.248/29", "199.36.153.4/30", "199.36.153.8/29")
    for cidr in prohibited:
        refused(subnet(ipCidrRange=cidr), 400, "Invalid value for field 'resource.ipCidrRange': '%s'." % cidr, "invalid")
        refused(subnet(secondaryIpRanges=[{"rangeName": "extra", "ipCidrRange": cidr}]), 400,
                "Invalid value for field 'resource.secondaryIpRanges[0].ipCidrRange': '%s'." % cidr, "invalid")
    # Class E is a valid range (Google's "Valid IPv4 ranges"), and so is
    # 100.64.0.0/10.
    done(network, subnet(ipCidrRange="240.0.0.0/24", secondaryIpRanges=[{"rangeName": "cgnat", "ipCidrRange": "100.64.0.0/20"}]),
         "/regions/europe-west1")


def test_a_secondary_range_needs_a_name(network):
    answer = network.post(COMPUTE + "/regions/europe-west1/subnetworks", json={
        "name": "other", "network": "global/networks/net", "ipCidrRange": "192.168.0.0/24",
        "secondaryIpRanges": [{"rangeName": "ok", "ipCidrRange": "192.168.8.0/24"}, {"ipCidrRange": "192.168.9.0/24"}]})
    # GCP's text, verbatim.
    refused(answer, 400, "Required field 'resource.secondaryIpRanges[1].rangeName' not specified", "required")


def test_subnet_patch_needs_the_current_fingerprint(network):
    change = {"secondaryIpRanges": [{"rangeName": "pods", "ipCidrRange": "10.16.0.0/14"}]}
    refused(network.patch(SUBNET, json=change), 400, "Required field 'resource.fingerprint' not specified", "required")
    stale = network.get(SUBNET).json()["fingerprint"]
    done(network, network.patch(SUBNET, json=dict(change, fingerprint=stale)), "/regions/europe-west1")
    assert network.get(SUBNET).json()["fingerprint"] != stale
    refused(network.patch(SUBNET, json=dict(change, fingerprint=stale)), 412, "Invalid fingerprint.", "conditionNotMet")


def test_subnet_patch_ranges_are_checked(network):
    fingerprint = network.get(SUBNET).json()["fingerprint"]
    answer = network.patch(SUBNET, json={"fingerprint": fingerprint, "secondaryIpRanges": [{"ipCidrRange": "10.24.0.0/16"}]})
    refused(answer, 400, "Required field 'resource.secondaryIpRanges[0].rangeName' not specified", "required")
    answer = network.patch(SUBNET, json={"fingerprint": fingerprint, "secondaryIpRanges": [
        {"rangeName": "meta", "ipCidrRange": "169.254.0.0/16"}]})
    refused(answer, 400, "'resource.secondaryIpRanges[0].ipCidrRange': '169.254.0.0/16'", "invalid")


def test_fields_set_at_creation_cannot_change(network):
    def patch(path, **fields):
        return network.patch(COMPUTE + path, json=fields)
    refused(patch("/global/networks/net", autoCreateSubnetworks=True), 400, "'resource.autoCreateSubnetworks': 'true'", "invalid")
    refused(patch("/global/networks/net", name="other"), 400, "'resource.name': 'other'", "invalid")
    fingerprint = network.get(SUBNET).json()["fingerprint"]
    for field, value in (("network", "global/networks/other"), ("region", "regions/europe-west4"), ("name", "renamed"),
                         ("ipCidrRange", "10.10.0.0/19")):
        refused(patch("/regions/europe-west1/subnetworks/nodes", fingerprint=fingerprint, **{field: value}),
                400, "'resource.%s': '%s'" % (field, value), "invalid")
    done(network, network.post(COMPUTE + "/global/networks", json={"name": "other", "autoCreateSubnetworks": False}), "/global")
    done(network, network.post(COMPUTE + "/global/firewalls", json=firewall()), "/global")
    refused(patch("/global/firewalls/fw", name="fw", network="global/networks/other"), 400,
            "'resource.network': 'global/networks/other'", "invalid")


def test_a_firewall_patch_shaped_like_the_module_is_accepted(network):
    """google.cloud.gcp_compute_firewall PATCHes the whole rule, network as
    the network's selfLink (the roles' update path)."""
    done(network, network.post(COMPUTE + "/global/firewalls", json=firewall()), "/global")
    rule = dict(firewall(), kind="compute#firewall", network=WWW + "/global/networks/net", direction="INGRESS",
                priority=900, sourceRanges=["10.0.0.0/8"], targetTags=["p2p"])
    done(network, network.patch(COMPUTE + "/global/firewalls/fw", json=rule), "/global")
    stored = network.get(COMPUTE + "/global/firewalls/fw").json()
    assert (stored["priority"], stored["network"]) == (900, WWW + "/global/networks/net")


def test_missing_required_fields_get_gcps_text(network):
    def required(answer, field):
        refused(answer, 400, "Required field '%s' not specified" % field, "required")
    required(network.post(COMPUTE + "/global/networks", json={"autoCreateSubnetworks": False}), "resource.name")
    for field in ("network", "ipCidrRange", "name"):
        body = {"name": "other", "network": "global/networks/net", "ipCidrRange": "192.168.0.0/24"}
        del body[field]
        required(network.post(COMPUTE + "/regions/europe-west1/subnetworks", json=body), "resource." + field)
    required(network.post(COMPUTE + "/regions/europe-west1/routers", json={"name": "r"}), "resource.network")
    done(network, network.post(COMPUTE + "/global/firewalls", json=firewall()), "/global")
    # compute.v1.json: Firewall.name is required by compute.firewalls.patch.
    required(network.patch(COMPUTE + "/global/firewalls/fw", json={"priority": 10}), "resource.name")


# ---------------------------------------------------- run records (3)
@pytest.mark.parametrize("reader, name", [(records.requests, "requests.jsonl"), (records.runs, "runs.log"),
                                          (records.state, "state.json")])
def test_a_missing_record_fails_loudly(tmp_path, reader, name):
    with pytest.raises(records.MissingRecord, match="%s is missing" % name) as raised:
        reader(tmp_path)
    assert isinstance(raised.value, FileNotFoundError)
    assert "did the GCP fake run" in str(raised.value)


def test_an_empty_log_is_no_request_and_a_real_log_is_read(tmp_path, fake, api):
    (tmp_path / "requests.jsonl").write_text("")
    assert records.requests(tmp_path) == []
    api.get(COMPUTE + "/regions/europe-west1")
    assert [(e["method"], e["status"]) for e in records.requests(fake.directory)] == [("GET", 200)]
    assert records.state(fake.directory)["project"] == PROJECT
