# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fake cloud: state and the REST handlers of compute v1, container v1,
storage v1 and the OAuth token endpoint.

``Cloud.handle(method, host, path, query, headers, body)`` returns
``(status, headers, body_bytes)``; the server (server.py) does the HTTP."""

import base64
import copy
import datetime
import hashlib
import ipaddress
import itertools
import json
import re
import secrets
import threading
import time
import urllib.parse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from .schema import Discovery, error_message

WWW = "https://www.googleapis.com"
COMPUTE = WWW + "/compute/v1/"
CONTAINER = "https://container.googleapis.com/v1/"
TOKEN_URIS = ("https://oauth2.googleapis.com/token", "https://www.googleapis.com/oauth2/v4/token")

# Regions and their zones (a subset of GCP's, enough for any bakery).
REGIONS = {
    "europe-west1": ["b", "c", "d"],
    "europe-west3": ["a", "b", "c"],
    "europe-west4": ["a", "b", "c"],
    "europe-north1": ["a", "b", "c"],
    "us-central1": ["a", "b", "c", "f"],
    "us-east1": ["b", "c", "d"],
    "us-west1": ["a", "b", "c"],
    "asia-northeast1": ["a", "b", "c"],
    "asia-southeast1": ["a", "b", "c"],
}
ZONES = {"%s-%s" % (region, zone): region for region, zones in REGIONS.items() for zone in zones}

# Predefined machine types: family -> (shapes, vCPU counts).
_MACHINE_FAMILIES = {
    "e2": (("standard", "highmem", "highcpu"), (2, 4, 8, 16, 32)),
    "n2": (("standard", "highmem", "highcpu"), (2, 4, 8, 16, 32, 48, 64, 80, 96, 128)),
    "n2d": (("standard", "highmem", "highcpu"), (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224)),
    "n1": (("standard", "highmem", "highcpu"), (1, 2, 4, 8, 16, 32, 64, 96)),
    "c3": (("standard", "highmem", "highcpu"), (4, 8, 22, 44, 88, 176)),
    "t2d": (("standard",), (1, 2, 4, 8, 16, 32, 48, 60)),
}
MACHINE_TYPES = {"e2-micro", "e2-small", "e2-medium", "f1-micro", "g1-small"} | {
    "%s-%s-%d" % (family, shape, cpus)
    for family, (shapes, counts) in _MACHINE_FAMILIES.items() for shape in shapes for cpus in counts
}
_CUSTOM_RE = re.compile(r"^(?:(?:n2|n2d|e2)-)?custom-([0-9]+)-([0-9]+)$")
NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
CLUSTER_NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
GKE_VERSION = "1.33.5-gke.1201000"
SCOPES = {
    "compute": {"https://www.googleapis.com/auth/compute", "https://www.googleapis.com/auth/cloud-platform"},
    "container": {"https://www.googleapis.com/auth/cloud-platform"},
    "storage": {"https://www.googleapis.com/auth/devstorage.full_control", "https://www.googleapis.com/auth/devstorage.read_write",
                "https://www.googleapis.com/auth/cloud-platform"},
}


def machine_type_exists(name):
    """Whether ``name`` is a machine type GCE offers (predefined or custom)."""
    if name in MACHINE_TYPES:
        return True
    match = _CUSTOM_RE.match(name)
    return bool(match) and int(match.group(2)) % 256 == 0 and int(match.group(1)) >= 1


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _rfc3339(when=None):
    return (when or _now()).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _compute_time():
    return _now().astimezone(datetime.timezone(datetime.timedelta(hours=-8))).isoformat(timespec="milliseconds")


class ApiError(Exception):
    """An error answer: ``status`` and the JSON ``body``."""

    def __init__(self, status, body):
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body


_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION"}
_REASON = {400: "invalid", 401: "required", 403: "forbidden", 404: "notFound", 409: "alreadyExists"}


def compute_error(status, message, reason=None):
    """An error the way compute v1 (and storage v1) answer."""
    return ApiError(status, {"error": {"code": status, "message": message, "errors": [
        {"message": message, "domain": "global", "reason": reason or _REASON.get(status, "invalid")}]}})


def google_error(status, message, grpc_status=None, details=None):
    """An error the way container v1 (the newer front ends) answer."""
    error = {"code": status, "message": message, "status": grpc_status or _STATUS.get(status, "UNKNOWN")}
    if details:
        error["details"] = details
    return ApiError(status, {"error": error})


def _bad_request(violations, compute_style):
    message = error_message(violations)
    details = [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations}]
    if compute_style:
        error = compute_error(400, message, "invalid")
        error.body["error"]["status"] = "INVALID_ARGUMENT"
        error.body["error"]["details"] = details
        return error
    return google_error(400, message, "INVALID_ARGUMENT", details)


def _net(cidr):
    try:
        return ipaddress.ip_network(cidr, strict=True)
    except (ValueError, TypeError):
        return None


def _last(link):
    return link.rstrip("/").rsplit("/", 1)[-1]


# ------------------------------------------------------ compute refusals
# What compute v1 refuses beyond its schema, each rule beside its source. The
# texts are GCP's own where one was found (cited); the others follow GCP's
# "Invalid value for field '<field>': '<value>'. <reason>" form.

def _invalid_field(field, value, reason):
    shown = json.dumps(value) if isinstance(value, bool) else value
    return compute_error(400, "Invalid value for field '%s': '%s'. %s" % (field, shown, reason))


def _require(field, value):
    """A required field left out (proto3: an empty value is an unset one).
    GCP's text and reason, e.g. "Required field
    'resource.secondaryIpRanges[0].rangeName' not specified", required
    (github.com/kubernetes-sigs/cluster-api-provider-gcp/issues/1058)."""
    if value is None or value in ("", [], {}):
        raise compute_error(400, "Required field '%s' not specified" % field, "required")


# Fields an insert must carry beyond those the discovery document marks
# (annotations.required, read by Cloud._compute_body: Network.name,
# Firewall.name, Router.name and .network, Address.name).
_ALSO_REQUIRED_ON_INSERT = {
    # compute.v1.json Subnetwork.name: "provided by the client when initially
    # creating the resource"; Subnetwork.network: "provided by the client when
    # initially creating the subnetwork"; Subnetwork.ipCidrRange: "Provide this
    # property when you create the subnetwork".
    "subnetworks": ("name", "network", "ipCidrRange"),
}

# Fields set at creation only (a PATCH or PUT may repeat them, not change them).
_IMMUTABLE = {
    # compute.v1.json Network.name: "Provided by the client when the resource
    # is created"; Network.autoCreateSubnetworks changes only through
    # networks.switchToCustomMode ("Switches the network mode from auto subnet
    # mode to custom subnet mode"); Network.IPv4Range: "Provided by the client
    # when the network is created".
    "networks": ("name", "autoCreateSubnetworks", "IPv4Range"),
    # compute.v1.json Subnetwork.network and Subnetwork.region: "This field can
    # be set only at resource creation time"; Subnetwork.ipCidrRange: "set at
    # resource creation time", then grown only through expandIpCidrRange.
    "subnetworks": ("name", "network", "region", "ipCidrRange"),
    # compute.v1.json Firewall.name: "provided by the client when the resource
    # is created"; a rule belongs to the VPC network it was created in ("When
    # you create a firewall rule, you must select a VPC network",
    # https://cloud.google.com/vpc/docs/firewalls).
    "firewalls": ("name", "network"),
    # compute.v1.json Router.region: "not settable as a field in the request
    # body"; Router.network: "URI of the network to which this router
    # belongs" (no method moves a router; routers.update must repeat it:
    # annotations.required ["compute.routers.insert", "compute.routers.update"]).
    "routers": ("name", "network", "region"),
    # compute.v1.json Address.name: "Provided by the client when the resource
    # is created" (and so for any other kind).
    "addresses": ("name",),
}
_LINK_FIELDS = ("network", "region", "subnetwork")


def _check_immutable(kind, resource, body):
    for field in _IMMUTABLE.get(kind, ("name",)):
        new, old = body.get(field), resource.get(field)
        if new is None or _same_value(field, new, old):
            continue
        reason = "The field cannot be changed after the resource is created (it is %s)." % json.dumps(old)
        raise _invalid_field("resource.%s" % field, new, reason)


def _same_value(field, new, old):
    if field in _LINK_FIELDS:
        return isinstance(new, str) and isinstance(old, str) and _last(new) == _last(old)
    return new == old


# compute.v1.json Network.mtu: "The minimum value for this field is 1300 and
# the maximum value is 8896" (also https://cloud.google.com/vpc/docs/mtu).
_MTU = (1300, 8896)


def _check_mtu(body):
    mtu = body.get("mtu")
    if mtu is not None and not _MTU[0] <= int(mtu) <= _MTU[1]:
        raise _invalid_field("resource.mtu", mtu, "MTU must be between %d and %d." % _MTU)


# compute.v1.json Firewall.priority: "This is an integer between `0` and
# `65535`, both inclusive. The default value is `1000`."
_PRIORITY = (0, 65535)
# compute.v1.json Firewall.allowed[].IPProtocol: "one of the following well
# known protocol strings (tcp, udp,icmp, esp, ah, ipip,sctp) or the IP protocol
# number"; GCP also takes "all". GCP's text for any other value, verbatim
# (github.com/terraform-google-modules/terraform-google-network/issues/535).
_PROTOCOLS = ("ah", "all", "esp", "icmp", "ipip", "sctp", "tcp", "udp")
_PROTOCOL_RULE = "Must be one of [%s] or an IP protocol number between 0 and 255." % ", ".join('"%s"' % p for p in _PROTOCOLS)


def _check_firewall(rule):
    """A whole firewall rule (an insert, or a rule as a patch leaves it)."""
    priority = rule.get("priority")
    if priority is not None and not _PRIORITY[0] <= int(priority) <= _PRIORITY[1]:
        raise _invalid_field("resource.priority", priority, "Priority must be between %d and %d." % _PRIORITY)
    # "Each firewall rule's action is either allow or deny"
    # (https://cloud.google.com/vpc/docs/firewalls, Specifications).
    if not rule.get("allowed") and not rule.get("denied"):
        raise _invalid_field("resource", "", "A firewall rule must have allowed or denied rules.")
    if rule.get("allowed") and rule.get("denied"):
        raise _invalid_field("resource", "", "A firewall rule can have allowed or denied rules, not both.")
    for action in ("allowed", "denied"):
        for index, entry in enumerate(rule.get(action) or []):
            _check_protocol("resource.%s[%d].IPProtocol" % (action, index), entry.get("IPProtocol"))


def _check_protocol(field, protocol):
    # Firewall.allowed[].IPProtocol: "The protocol type is required when
    # creating a firewall rule" (compute.v1.json).
    _require(field, protocol)
    if protocol in _PROTOCOLS or (protocol.isdigit() and int(protocol) <= 255):
        return
    raise _invalid_field(field, protocol, _PROTOCOL_RULE)


# "Prohibited IPv4 subnet ranges" of https://cloud.google.com/vpc/docs/subnets
# (Google's own public ranges, also prohibited there, are not modelled).
# 240.0.0.0/4 is not one: the same page lists it under "Valid IPv4 ranges"
# ("Reserved for future use (Class E)").
_PROHIBITED_RANGES = [(ipaddress.ip_network(cidr), what) for cidr, what in (
    ("199.36.153.4/30", "Private Google Access-specific virtual IP addresses"),
    ("199.36.153.8/30", "Private Google Access-specific virtual IP addresses"),
    ("0.0.0.0/8", "current (local) network, RFC 1122"),
    ("127.0.0.0/8", "local host, RFC 1122"),
    ("169.254.0.0/16", "link-local, RFC 3927"),
    ("224.0.0.0/4", "multicast (Class D), RFC 5771"),
    ("255.255.255.255/32", "limited broadcast destination address, RFC 8190 and RFC 919"),
)]


def _subnet_ranges(body):
    """(field, label, cidr) of each range of a subnet body: the primary range
    (label "primary"), then the secondary ones (label: their rangeName)."""
    ranges = [("resource.ipCidrRange", "primary", body.get("ipCidrRange"))]
    for index, item in enumerate(body.get("secondaryIpRanges") or []):
        field = "resource.secondaryIpRanges[%d]" % index
        # SubnetworkSecondaryRange.rangeName: "The name must be 1-63
        # characters long" (compute.v1.json); GCP's text: see _require.
        _require(field + ".rangeName", item.get("rangeName"))
        ranges.append((field + ".ipCidrRange", item["rangeName"], item.get("ipCidrRange")))
    return ranges


def _subnet_net(field, cidr):
    """The IPv4 network of one subnet range, or GCP's refusal of it."""
    net = _net(cidr)
    if net is None or net.version != 4 or net.prefixlen > 29 or net.prefixlen < 8:
        raise _invalid_field(field, cidr, "Invalid IPCidrRange: %s." % cidr)
    for prohibited, what in _PROHIBITED_RANGES:
        if net.overlaps(prohibited):
            raise _invalid_field(field, cidr, "Invalid IPCidrRange: %s overlaps the prohibited range %s (%s)." % (
                cidr, prohibited, what))
    return net


def _subnet_nets(body):
    """[(label, network)] of a subnet body's ranges, each valid and none
    overlapping another of the same subnet."""
    nets = []
    for field, label, cidr in _subnet_ranges(body):
        net = _subnet_net(field, cidr)
        for other_label, other in nets:
            if net.overlaps(other):
                raise compute_error(400, "Invalid IPCidrRange: %s conflicts with %s (%s) of this subnetwork." % (
                    cidr, other, other_label))
        nets.append((label, net))
    return nets


def _check_fingerprint(resource, body):
    """compute.v1.json Subnetwork.fingerprint: "An up-to-date fingerprint must
    be provided in order to update the Subnetwork, otherwise the request will
    fail with error 412 conditionNotMet". GCP's texts: a missing one is
    "Required field 'resource.fingerprint' not specified"
    (github.com/hashicorp/terraform-provider-google/issues/1469), a stale one
    "Invalid fingerprint." (one of the 412 texts terraform-provider-google
    retries on, FINGERPRINT_FAIL_ERRORS)."""
    _require("resource.fingerprint", body.get("fingerprint"))
    if body["fingerprint"] != resource["fingerprint"]:
        raise compute_error(412, "Invalid fingerprint.", "conditionNotMet")


def _fingerprint():
    return base64.b64encode(secrets.token_bytes(8)).decode()


class Cloud:
    """State of one fake GCP project, and its REST handlers."""

    def __init__(self, project, access_tokens=(), service_account_keys=(), op_polls=1, log=None):
        self.project = project
        self.project_number = "123456789012"
        self.op_polls = op_polls
        self.log = log or (lambda entry: None)
        self.lock = threading.RLock()
        self.compute_doc = Discovery("compute.v1")
        self.container_doc = Discovery("container.v1")
        self.storage_doc = Discovery("storage.v1")
        # token -> set of scopes
        self.tokens = {token: {"https://www.googleapis.com/auth/cloud-platform"} for token in access_tokens}
        # service account email -> public key
        self.accounts = {}
        for key in service_account_keys:
            self.add_service_account(key)
        self.ids = itertools.count(4000000000000000001)
        self.ips = itertools.count(10)
        # compute: collection -> name -> resource (collections are
        # "global/networks", "regions/<r>/subnetworks", ...)
        self.compute = {}
        self.clusters = {}      # "<location>/<name>" -> cluster
        self.operations = {}    # name -> operation record
        self.buckets = {}       # name -> bucket
        self.objects = {}       # bucket -> name -> (metadata, bytes)
        self.listeners = []     # called with no argument after each mutation

    # ----------------------------------------------------------- accounts
    def add_service_account(self, info):
        """Accept JWT assertions signed with this service-account key (the
        parsed JSON key file)."""
        private = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        self.accounts[info["client_email"]] = private.public_key()

    # ------------------------------------------------------------ dispatch
    def handle(self, method, host, path, query, headers, body):
        """One HTTP request -> (status, headers, body bytes)."""
        url = "https://%s%s" % (host, path)
        try:
            with self.lock:
                status, answer = self._route(method, host, path, query, headers, body, url)
        except ApiError as error:
            status, answer = error.status, error.body
        if isinstance(answer, bytes):
            return status, {"Content-Type": "application/octet-stream"}, answer
        return status, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(answer).encode()

    def _route(self, method, host, path, query, headers, body, url):
        if url.split("?")[0] in TOKEN_URIS and method == "POST":
            return self._token(body)
        if host in ("compute.googleapis.com", "www.googleapis.com") and path.startswith("/compute/v1/"):
            self._authorize(headers, "compute", compute_style=True)
            return self._compute(method, path[len("/compute/v1/"):], query, self._json(body, True))
        if host == "container.googleapis.com" and path.startswith("/v1/"):
            self._authorize(headers, "container", compute_style=False)
            return self._container(method, path[len("/v1/"):], self._json(body, False))
        if host in ("storage.googleapis.com", "www.googleapis.com") and (
                path.startswith("/storage/v1/") or path.startswith("/upload/storage/v1/")):
            self._authorize(headers, "storage", compute_style=True)
            return self._storage(method, path, query, headers, body)
        raise google_error(404, "The requested URL %s was not found on this server." % path, "NOT_FOUND")

    @staticmethod
    def _json(body, compute_style):
        if not body:
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise _bad_request([{"field": "", "description": "Invalid JSON payload received. Unexpected token."}],
                               compute_style) from None

    def _authorize(self, headers, api, compute_style):
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            message = ("Request is missing required authentication credential. Expected OAuth 2 access token, "
                       "login cookie or other valid authentication credential.")
            if compute_style:
                raise compute_error(401, message, "required")
            raise google_error(401, message)
        scopes = self.tokens.get(auth[len("Bearer "):])
        if scopes is None:
            message = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."
            if compute_style:
                raise compute_error(401, message, "authError")
            raise google_error(401, message)
        if not scopes & SCOPES[api]:
            raise google_error(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED")

    def _changed(self):
        for listener in self.listeners:
            listener()

    # ----------------------------------------------------------- OAuth
    def _token(self, body):
        form = urllib.parse.parse_qs((body or b"").decode())
        grant = form.get("grant_type", [""])[0]
        if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            raise ApiError(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: %s" % grant})
        assertion = form.get("assertion", [""])[0]
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64decode(head_b64))
            claims = json.loads(_b64decode(claims_b64))
            signature = _b64decode(sig_b64)
        except ValueError:
            raise ApiError(400, {"error": "invalid_grant", "error_description": "Invalid JWT."}) from None
        key = self.accounts.get(claims.get("iss"))
        if header.get("alg") != "RS256" or key is None:
            raise ApiError(400, {"error": "invalid_grant", "error_description": "Invalid grant: account not found"})
        try:
            key.verify(signature, ("%s.%s" % (head_b64, claims_b64)).encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise ApiError(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}) from None
        now = time.time()
        if claims.get("aud") not in TOKEN_URIS or not claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0):
            raise ApiError(400, {"error": "invalid_grant", "error_description":
                                 "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."})
        scopes = set(claims.get("scope", "").split())
        if not scopes:
            raise ApiError(400, {"error": "invalid_scope", "error_description": "Invalid OAuth scope or ID token audience provided."})
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        self.tokens[token] = scopes
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    # --------------------------------------------------------- operations
    def _operation(self, kind, op_type, target_link, scope_link, on_done=None, extra=None):
        name = "operation-%d-%s" % (int(time.time() * 1000), secrets.token_hex(4))
        record = {"kind": kind, "polls": self.op_polls, "on_done": on_done}
        if kind == "compute":
            op = {
                "kind": "compute#operation", "id": str(next(self.ids)), "name": name, "operationType": op_type,
                "targetLink": target_link, "targetId": str(next(self.ids)), "status": "RUNNING",
                "user": "bakery@%s.iam.gserviceaccount.com" % self.project, "progress": 0,
                "insertTime": _compute_time(), "startTime": _compute_time(),
                "selfLink": "%s%s/operations/%s" % (COMPUTE, scope_link, name),
            }
            if scope_link.startswith("projects/%s/regions/" % self.project):
                op["region"] = COMPUTE + scope_link
        else:
            location = scope_link.rsplit("/", 1)[-1]
            op = {
                "name": name, "zone": location, "operationType": op_type, "status": "RUNNING",
                "selfLink": "%sprojects/%s/locations/%s/operations/%s" % (CONTAINER, self.project_number, location, name),
                "targetLink": target_link, "startTime": _rfc3339(),
            }
        op.update(extra or {})
        record["op"] = op
        self.operations[name] = record
        if self.op_polls <= 0:
            self._finish(record)
        return copy.deepcopy(op)

    def _finish(self, record):
        op = record["op"]
        if op["status"] == "DONE":
            return
        op["status"] = "DONE"
        if record["kind"] == "compute":
            op["progress"] = 100
            op["endTime"] = _compute_time()
        else:
            op["endTime"] = _rfc3339()
        if record["on_done"]:
            record["on_done"]()
            self._changed()

    def _get_operation(self, name, compute_style, scope):
        record = self.operations.get(name)
        if record is None:
            if compute_style:
                raise compute_error(404, "The resource '%s/operations/%s' was not found" % (scope, name))
            raise google_error(404, "Not found: operation %s." % name)
        record["polls"] -= 1
        if record["polls"] <= 0:
            self._finish(record)
        return 200, copy.deepcopy(record["op"])

    # ------------------------------------------------------------ compute
    def _compute(self, method, rest, query, body):
        parts = rest.split("/")
        if len(parts) < 2 or parts[0] != "projects":
            raise compute_error(404, "The resource '%s' was not found" % rest)
        if parts[1] != self.project:
            raise compute_error(404, "The resource 'projects/%s' was not found" % parts[1])
        scope = "projects/%s" % self.project
        tail = parts[2:]
        if tail[:1] == ["regions"] and len(tail) >= 2:
            region = tail[1]
            if region not in REGIONS:
                raise compute_error(404, "The resource '%s/regions/%s' was not found" % (scope, region))
            if len(tail) == 2 and method == "GET":
                return 200, self._region(region)
            collection, rest_tail = "regions/%s/%s" % (region, tail[2]), tail[3:]
            scope_link = "%s/regions/%s" % (scope, region)
        elif tail[:1] == ["zones"] and len(tail) >= 2:
            zone = tail[1]
            if zone not in ZONES:
                raise compute_error(404, "The resource '%s/zones/%s' was not found" % (scope, zone))
            if len(tail) == 2 and method == "GET":
                return 200, self._zone(zone)
            if len(tail) == 4 and tail[2] == "machineTypes" and method == "GET":
                return 200, self._machine_type(zone, tail[3])
            raise compute_error(404, "The resource '%s' was not found" % rest)
        elif tail[:1] == ["global"] and len(tail) >= 2:
            collection, rest_tail = "global/%s" % tail[1], tail[2:]
            scope_link = "%s/global" % scope
        else:
            raise compute_error(404, "The resource '%s' was not found" % rest)
        kind = collection.rsplit("/", 1)[-1]
        if kind == "operations":
            if len(rest_tail) == 1 and method == "GET":
                return self._get_operation(rest_tail[0], True, scope_link)
            raise compute_error(404, "The resource '%s' was not found" % rest)
        handlers = {"networks": "Network", "subnetworks": "Subnetwork", "routers": "Router",
                    "firewalls": "Firewall", "addresses": "Address"}
        if kind not in handlers:
            raise compute_error(404, "The resource '%s' was not found" % rest)
        items = self.compute.setdefault(collection, {})

        def path_of(name):
            return "%s/%s/%s" % (scope, collection, name)
        if not rest_tail:
            if method == "GET":
                return 200, {"kind": "compute#%sList" % kind[:-1], "id": "%s/%s" % (scope, collection),
                             "items": [copy.deepcopy(item) for item in items.values()],
                             "selfLink": "%s%s/%s" % (COMPUTE, scope, collection)}
            if method == "POST":
                body = self._compute_body(kind, handlers[kind], body, "insert")
                name = body["name"]
                if not NAME_RE.match(name or ""):
                    raise compute_error(400, "Invalid value for field 'resource.name': '%s'. Must be a match of regex "
                                             "'(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'" % name)
                if name in items:
                    raise compute_error(409, "The resource '%s' already exists" % path_of(name))
                resource = getattr(self, "_new_" + kind)(collection, scope_link, body)
                resource.setdefault("kind", "compute#%s" % {"addresses": "address"}.get(kind, kind[:-1]))
                resource["id"] = str(next(self.ids))
                resource["creationTimestamp"] = _compute_time()
                resource["name"] = name
                resource["selfLink"] = "%s%s" % (COMPUTE, path_of(name))
                resource["selfLinkWithId"] = "%s%s/%s/%s" % (COMPUTE, scope, collection, resource["id"])
                items[name] = resource
                self._changed()
                return 200, self._operation("compute", "insert", resource["selfLink"], scope_link)
            raise compute_error(405, "Method not allowed")
        name = rest_tail[0]
        resource = items.get(name)
        if resource is None:
            raise compute_error(404, "The resource '%s' was not found" % path_of(name))
        if len(rest_tail) > 1:
            raise compute_error(404, "The resource '%s' was not found" % rest)
        if method == "GET":
            return 200, copy.deepcopy(resource)
        if method == "DELETE":
            user = self._compute_user(resource)
            if user:
                raise compute_error(400, "The %s resource '%s' is already being used by '%s'" % (
                    kind[:-1] if kind != "addresses" else "address", path_of(name), user), "resourceInUseByAnotherResource")
            del items[name]
            self._changed()
            return 200, self._operation("compute", "delete", resource["selfLink"], scope_link)
        if method in ("PATCH", "PUT"):
            body = self._compute_body(kind, handlers[kind], body, "patch" if method == "PATCH" else "update")
            _check_immutable(kind, resource, body)
            body = {key: value for key, value in body.items() if key not in _IMMUTABLE.get(kind, ())}
            getattr(self, "_patch_" + kind, self._patch_generic)(resource, body, method == "PUT")
            self._changed()
            return 200, self._operation("compute", "patch" if method == "PATCH" else "update", resource["selfLink"], scope_link)
        raise compute_error(405, "Method not allowed")

    def _compute_body(self, kind, ref, body, verb):
        """A copy of a compute write's body, once it passed the schema and
        carries the fields compute.<kind>.<verb> requires."""
        body = copy.deepcopy(body) if body is not None else {}
        violations = self.compute_doc.validate(ref, body, "%s_resource" % ref.lower())
        if violations:
            raise _bad_request(violations, True)
        required = self.compute_doc.required(ref, "compute.%s.%s" % (kind, verb))
        if verb == "insert":
            required += [field for field in _ALSO_REQUIRED_ON_INSERT.get(kind, ()) if field not in required]
        for field in required:
            _require("resource.%s" % field, body.get(field))
        return body

    def _region(self, region):
        return {"kind": "compute#region", "id": str(1000 + sorted(REGIONS).index(region)), "name": region,
                "status": "UP", "selfLink": "%sprojects/%s/regions/%s" % (COMPUTE, self.project, region),
                "zones": ["%sprojects/%s/zones/%s-%s" % (COMPUTE, self.project, region, zone) for zone in REGIONS[region]]}

    def _zone(self, zone):
        return {"kind": "compute#zone", "name": zone, "status": "UP",
                "region": "%sprojects/%s/regions/%s" % (COMPUTE, self.project, ZONES[zone]),
                "selfLink": "%sprojects/%s/zones/%s" % (COMPUTE, self.project, zone)}

    def _machine_type(self, zone, name):
        if not machine_type_exists(name):
            raise compute_error(404, "The resource 'projects/%s/zones/%s/machineTypes/%s' was not found" % (self.project, zone, name))
        cpus = re.findall(r"-([0-9]+)(?:-[0-9]+)?$", name)
        return {"kind": "compute#machineType", "name": name, "zone": zone, "guestCpus": int(cpus[0]) if cpus else 2,
                "selfLink": "%sprojects/%s/zones/%s/machineTypes/%s" % (COMPUTE, self.project, zone, name)}

    def _ref(self, link, collection_kind, field):
        """Resolve a reference (URL, partial URL or bare name) to a resource of
        ``collection_kind`` ("global/networks", "regions/r/subnetworks")."""
        if not link:
            raise compute_error(400, "Invalid value for field '%s': ''. The URL is malformed." % field)
        match = re.search(r"(?:^|/)(global/networks|regions/[^/]+/subnetworks)/([^/]+)$", link)
        if match is None:
            raise compute_error(400, "Invalid value for field '%s': '%s'. The URL is malformed." % (field, link))
        resource = self.compute.get(match.group(1), {}).get(match.group(2))
        if resource is None or not match.group(1).endswith(collection_kind.rsplit("/", 1)[-1]):
            raise compute_error(404, "The resource 'projects/%s/%s/%s' was not found" % (self.project, match.group(1), match.group(2)))
        return resource

    def _compute_user(self, resource):
        """The first resource using ``resource`` (the network of subnets,
        routers, firewalls; the subnet of clusters), or None."""
        link = resource["selfLink"]
        if resource["kind"] == "compute#network":
            for collection in sorted(self.compute):
                for item in self.compute[collection].values():
                    if item.get("network") == link:
                        return item["selfLink"].split("/compute/v1/", 1)[1]
            for cluster in self.clusters.values():
                if cluster["network"] == resource["name"]:
                    return "projects/%s/locations/%s/clusters/%s" % (self.project, cluster["location"], cluster["name"])
        if resource["kind"] == "compute#subnetwork":
            for cluster in self.clusters.values():
                if cluster["networkConfig"]["subnetwork"].endswith("/subnetworks/" + resource["name"]):
                    return "projects/%s/zones/%s/instanceGroups/gke-%s-default" % (
                        self.project, cluster["locations"][0], cluster["name"])
            for router in self.compute.get("regions/%s/routers" % _last(resource["region"]), {}).values():
                for nat in router.get("nats", []):
                    if any(sub.get("name") == link for sub in nat.get("subnetworks", [])):
                        return router["selfLink"].split("/compute/v1/", 1)[1]
        if resource["kind"] == "compute#address" and resource.get("users"):
            return resource["users"][0]
        return None

    def _new_networks(self, collection, scope_link, body):
        del collection, scope_link
        _check_mtu(body)
        body.setdefault("routingConfig", {"routingMode": "REGIONAL"})
        body.setdefault("mtu", 1460)
        body["networkFirewallPolicyEnforcementOrder"] = "AFTER_CLASSIC_FIREWALL"
        if "autoCreateSubnetworks" not in body:
            body["x_legacy"] = True
            body["IPv4Range"] = body.get("IPv4Range", "10.240.0.0/16")
        body["subnetworks"] = []
        return body

    def _patch_networks(self, resource, body, replace):
        _check_mtu(body)
        self._patch_generic(resource, body, replace)

    def _new_subnetworks(self, collection, scope_link, body):
        region = collection.split("/")[1]
        if body.get("region") and _last(body["region"]) != region:
            raise compute_error(400, "Invalid value for field 'resource.region': '%s'. Region does not match the request's region." % body["region"])
        network = self._ref(body.get("network"), "global/networks", "resource.network")
        if network.get("x_legacy"):
            raise compute_error(400, "Invalid resource usage: 'Subnetworks cannot be created in legacy networks.'", "invalidResourceUsage")
        nets = _subnet_nets(body)
        self._check_network_overlaps(network["selfLink"], nets)
        body["network"] = network["selfLink"]
        body["region"] = "%sprojects/%s/regions/%s" % (COMPUTE, self.project, region)
        body["gatewayAddress"] = str(nets[0][1].network_address + 1)
        body.setdefault("privateIpGoogleAccess", False)
        body.setdefault("secondaryIpRanges", [])
        body["fingerprint"] = _fingerprint()
        body["stackType"] = "IPV4_ONLY"
        body["purpose"] = "PRIVATE"
        network["subnetworks"].append("%sprojects/%s/%s/%s" % (COMPUTE, self.project, collection, body["name"]))
        if not body["secondaryIpRanges"]:
            del body["secondaryIpRanges"]
        return body

    def _check_network_overlaps(self, network_link, nets, skip=None):
        """No range of ``nets`` may overlap a range of another subnet of the
        network (``skip``: the selfLink of the subnet being changed)."""
        for sub_collection, subs in self.compute.items():
            if not sub_collection.endswith("/subnetworks"):
                continue
            for sub in subs.values():
                if sub["network"] != network_link or sub["selfLink"] == skip:
                    continue
                for item in [sub["ipCidrRange"]] + [r["ipCidrRange"] for r in sub.get("secondaryIpRanges", [])]:
                    for _label, net in nets:
                        if net.overlaps(_net(item)):
                            raise compute_error(400, "Invalid IPCidrRange: %s conflicts with existing subnetwork '%s' in region '%s'." % (
                                net, sub["name"], _last(sub["region"])))

    def _patch_subnetworks(self, resource, body, replace):
        _check_fingerprint(resource, body)
        if "secondaryIpRanges" in body:
            nets = _subnet_nets(dict(body, ipCidrRange=resource["ipCidrRange"]))
            self._check_network_overlaps(resource["network"], nets, skip=resource["selfLink"])
        self._patch_generic(resource, body, replace)
        resource["fingerprint"] = _fingerprint()

    def _new_routers(self, collection, scope_link, body):
        del scope_link
        region = collection.split("/")[1]
        network = self._ref(body.get("network"), "global/networks", "resource.network")
        body["network"] = network["selfLink"]
        body["region"] = "%sprojects/%s/regions/%s" % (COMPUTE, self.project, region)
        if "bgp" in body:
            body["bgp"].setdefault("advertiseMode", "DEFAULT")
            body["bgp"].setdefault("keepaliveInterval", 20)
        if body.get("nats"):
            self._check_nats(region, body["nats"])
        return body

    def _patch_routers(self, resource, body, replace):
        region = _last(resource["region"])
        if "nats" in body:
            self._check_nats(region, body["nats"])
        self._patch_generic(resource, body, replace)

    def _check_nats(self, region, nats):
        names = set()
        for index, nat in enumerate(nats):
            field = "resource.nats[%d]" % index
            if not NAME_RE.match(nat.get("name", "")) or nat["name"] in names:
                raise compute_error(400, "Invalid value for field '%s.name': '%s'. Must be a unique match of regex "
                                         "'[a-z]([-a-z0-9]*[a-z0-9])?'" % (field, nat.get("name", "")))
            names.add(nat["name"])
            if "natIpAllocateOption" not in nat:
                raise compute_error(400, "Invalid value for field '%s.natIpAllocateOption': ''. NAT IP allocate option must be specified." % field)
            if nat["natIpAllocateOption"] == "AUTO_ONLY" and nat.get("natIps"):
                raise compute_error(400, "Invalid value for field '%s.natIps': NAT IPs must be empty with AUTO_ONLY." % field)
            option = nat.get("sourceSubnetworkIpRangesToNat")
            if option is None:
                raise compute_error(400, "Invalid value for field '%s.sourceSubnetworkIpRangesToNat': ''. Must be specified." % field)
            if option == "LIST_OF_SUBNETWORKS":
                if not nat.get("subnetworks"):
                    raise compute_error(400, "Invalid value for field '%s.subnetworks': ''. At least one subnetwork is required "
                                             "with LIST_OF_SUBNETWORKS." % field)
                for sub_index, sub in enumerate(nat["subnetworks"]):
                    subnet = self._ref(sub.get("name"), "subnetworks", "%s.subnetworks[%d].name" % (field, sub_index))
                    if _last(subnet["region"]) != region:
                        raise compute_error(400, "Invalid value for field '%s.subnetworks[%d].name': the subnetwork is not in "
                                                 "region %s." % (field, sub_index, region))
                    sub["name"] = subnet["selfLink"]
                    sub.setdefault("sourceIpRangesToNat", ["ALL_IP_RANGES"])
            elif nat.get("subnetworks"):
                raise compute_error(400, "Invalid value for field '%s.subnetworks': subnetworks may only be listed with LIST_OF_SUBNETWORKS." % field)
            nat.setdefault("enableEndpointIndependentMapping", False)
            nat.setdefault("endpointTypes", ["ENDPOINT_TYPE_VM"])

    def _new_firewalls(self, collection, scope_link, body):
        del collection, scope_link
        network = self._ref(body.get("network", "global/networks/default"), "global/networks", "resource.network")
        body["network"] = network["selfLink"]
        _check_firewall(body)
        body.setdefault("direction", "INGRESS")
        body.setdefault("priority", 1000)
        body.setdefault("disabled", False)
        body.setdefault("logConfig", {"enable": False})
        for field in ("sourceRanges", "destinationRanges"):
            for cidr in body.get(field, []):
                if _net(cidr) is None:
                    raise compute_error(400, "Invalid value for field 'resource.%s': '%s'. Invalid IPCidrRange." % (field, cidr))
        if body["direction"] == "INGRESS" and not (body.get("sourceRanges") or body.get("sourceTags") or body.get("sourceServiceAccounts")):
            body["sourceRanges"] = ["0.0.0.0/0"]
        if body["direction"] == "EGRESS" and not body.get("destinationRanges"):
            body["destinationRanges"] = ["0.0.0.0/0"]
        return body

    def _patch_firewalls(self, resource, body, replace):
        # firewalls.patch uses "JSON merge patch format and processing rules"
        # (compute.v1.json): the rule it leaves must be a valid one.
        merged = {key: value for key, value in dict(resource, **body).items() if value is not None}
        _check_firewall(merged)
        self._patch_generic(resource, body, replace)

    def _new_addresses(self, collection, scope_link, body):
        del scope_link
        region = collection.split("/")[1]
        body.setdefault("addressType", "EXTERNAL")
        if body["addressType"] == "EXTERNAL":
            body.setdefault("networkTier", "PREMIUM")
            body.setdefault("address", "34.140.%d.%d" % divmod(next(self.ips), 256))
        else:
            subnet = self._ref(body.get("subnetwork"), "subnetworks", "resource.subnetwork")
            body["subnetwork"] = subnet["selfLink"]
            body.setdefault("address", str(ipaddress.ip_network(subnet["ipCidrRange"]).network_address + next(self.ips)))
        body["status"] = "RESERVED"
        body["region"] = "%sprojects/%s/regions/%s" % (COMPUTE, self.project, region)
        body["labelFingerprint"] = "42WmSpB8rSM="
        return body

    @staticmethod
    def _patch_generic(resource, body, replace):
        for key, value in body.items():
            if key not in ("name", "kind", "id", "selfLink", "creationTimestamp", "fingerprint"):
                resource[key] = value
        del replace

    # ---------------------------------------------------------- container
    def _container(self, method, rest, body):
        match = re.match(r"^projects/([^/]+)/(?:locations|zones)/([^/]+)/(.*)$", rest)
        if match is None:
            raise google_error(404, "Not found: %s." % rest)
        project, location, tail = match.groups()
        if project not in (self.project, self.project_number):
            raise google_error(403, "Permission denied on resource project %s." % project, "PERMISSION_DENIED")
        if location not in REGIONS and location not in ZONES:
            raise google_error(404, 'Location "%s" does not exist.' % location)
        if tail.startswith("operations/") and method == "GET":
            return self._get_operation(tail.split("/", 1)[1], False, location)
        if tail == "serverConfig" and method == "GET":
            return 200, {"defaultClusterVersion": GKE_VERSION, "validMasterVersions": [GKE_VERSION],
                         "validNodeVersions": [GKE_VERSION], "defaultImageType": "COS_CONTAINERD"}
        parts = tail.split("/")
        if parts[0] != "clusters":
            raise google_error(404, "Not found: %s." % rest)
        base = "projects/%s/locations/%s/clusters" % (self.project, location)
        if len(parts) == 1:
            if method == "GET":
                return 200, {"clusters": [self._cluster_view(c) for c in self.clusters.values() if c["location"] == location]}
            if method == "POST":
                return self._create_cluster(location, base, body)
            raise google_error(405, "Method not allowed.")
        name, action = (parts[1].split(":", 1) + [None])[:2]
        key = "%s/%s" % (location, name)
        cluster = self.clusters.get(key)
        if cluster is None:
            raise google_error(404, "Not found: %s/%s." % (base, name))
        if len(parts) == 2:
            if action is None and method == "GET":
                return 200, self._cluster_view(cluster)
            if action is None and method == "DELETE":
                self._require_running(cluster)
                cluster["status"] = "STOPPING"

                def gone():
                    self.clusters.pop(key, None)
                self._changed()
                return 200, self._operation("container", "DELETE_CLUSTER", cluster["selfLink"], location, gone)
            if (action is None and method == "PUT") or (action == "update" and method == "POST"):
                return self._update_cluster(cluster, location, body)
            raise google_error(404, "Not found: %s." % rest)
        if parts[2] != "nodePools":
            raise google_error(404, "Not found: %s." % rest)
        pools = cluster["nodePools"]
        if len(parts) == 3:
            if method == "GET":
                return 200, {"nodePools": copy.deepcopy(pools)}
            if method == "POST":
                return self._create_node_pool(cluster, location, body)
            raise google_error(405, "Method not allowed.")
        pool_name = parts[3].split(":", 1)[0]
        pool = next((p for p in pools if p["name"] == pool_name), None)
        if pool is None:
            raise google_error(404, "Not found: %s/%s/nodePools/%s." % (base, name, pool_name))
        if method == "GET":
            return 200, copy.deepcopy(pool)
        if method == "DELETE":
            self._require_running(cluster)
            pool["status"] = "STOPPING"
            cluster["status"] = "RECONCILING"

            def removed():
                cluster["nodePools"] = [p for p in cluster["nodePools"] if p["name"] != pool_name]
                cluster["status"] = "RUNNING"
            self._changed()
            return 200, self._operation("container", "DELETE_NODE_POOL", pool["selfLink"], location, removed)
        if method == "PUT":
            self._validate_container("UpdateNodePoolRequest", body)
            self._require_running(cluster)
            for field in ("workloadMetadataConfig", "tags", "labels", "taints", "shieldedInstanceConfig"):
                if field in body:
                    pool["config"][field] = body[field]
            self._changed()
            return 200, self._operation("container", "UPGRADE_NODES", pool["selfLink"], location)
        raise google_error(405, "Method not allowed.")

    def _validate_container(self, ref, body):
        violations = self.container_doc.validate(ref, body if body is not None else {})
        if violations:
            raise _bad_request(violations, False)

    @staticmethod
    def _require_running(cluster):
        if cluster["status"] != "RUNNING":
            raise google_error(400, "Cluster is running incompatible operation %s." % cluster.get("x_operation", "operation"),
                               "FAILED_PRECONDITION")

    @staticmethod
    def _cluster_view(cluster):
        return {key: copy.deepcopy(value) for key, value in cluster.items() if not key.startswith("x_")}

    def _check_machine_type(self, config, zones):
        machine = config.get("machineType", "e2-medium")
        if not machine_type_exists(machine):
            raise google_error(400, 'Machine type "%s" is not available in zone "%s": the machine type does not exist.' % (machine, zones[0]))
        disk_type = config.get("diskType", "pd-balanced")
        if disk_type not in ("pd-standard", "pd-balanced", "pd-ssd", "pd-extreme", "hyperdisk-balanced"):
            raise google_error(400, 'Disk type "%s" is not available in zone "%s".' % (disk_type, zones[0]))
        disk = int(config.get("diskSizeGb", 100) or 100)
        if disk < 10:
            raise google_error(400, "Disk size must be at least 10 GB (got %d)." % disk)
        return machine

    def _node_config(self, config, cluster):
        config = copy.deepcopy(config or {})
        config.setdefault("machineType", "e2-medium")
        config.setdefault("diskSizeGb", 100)
        config.setdefault("diskType", "pd-balanced")
        config.setdefault("imageType", "COS_CONTAINERD")
        config.setdefault("oauthScopes", ["https://www.googleapis.com/auth/devstorage.read_only",
                                          "https://www.googleapis.com/auth/logging.write",
                                          "https://www.googleapis.com/auth/monitoring"])
        config.setdefault("serviceAccount", "default")
        config.setdefault("metadata", {"disable-legacy-endpoints": "true"})
        if cluster.get("workloadIdentityConfig"):
            config.setdefault("workloadMetadataConfig", {"mode": "GKE_METADATA"})
        config.setdefault("shieldedInstanceConfig", {"enableIntegrityMonitoring": True})
        return config

    def _create_cluster(self, location, base, body):
        self._validate_container("CreateClusterRequest", body)
        spec = copy.deepcopy((body or {}).get("cluster") or {})
        name = spec.get("name", "")
        if not CLUSTER_NAME_RE.match(name):
            raise google_error(400, "Invalid value for field \"cluster.name\": \"%s\": must be 1-40 characters, lower-case letters, digits "
                                    "and hyphens, starting with a letter." % name)
        key = "%s/%s" % (location, name)
        if key in self.clusters:
            raise google_error(409, "Already exists: %s/%s." % (base, name))
        region = ZONES.get(location, location)
        network_name = _last(spec.get("network", "default"))
        network = self.compute.get("global/networks", {}).get(network_name)
        if network is None:
            raise google_error(400, 'Network "%s" does not exist.' % network_name, "INVALID_ARGUMENT")
        subnet_name = _last(spec.get("subnetwork", "")) if spec.get("subnetwork") else network_name
        subnet = self.compute.get("regions/%s/subnetworks" % region, {}).get(subnet_name)
        if subnet is None or subnet["network"] != network["selfLink"]:
            raise google_error(400, 'Subnetwork "projects/%s/regions/%s/subnetworks/%s" does not exist in network "%s".' % (
                self.project, region, subnet_name, network_name))
        zones = spec.get("locations") or (["%s-%s" % (region, z) for z in REGIONS[region][:3]] if location in REGIONS else [location])
        for zone in zones:
            if ZONES.get(zone) != region:
                raise google_error(400, 'Location "%s" is not a zone of "%s".' % (zone, region))
        policy = spec.get("ipAllocationPolicy") or {}
        secondary = {r["rangeName"]: r["ipCidrRange"] for r in subnet.get("secondaryIpRanges", [])}
        for field in ("clusterSecondaryRangeName", "servicesSecondaryRangeName"):
            if policy.get(field) and policy[field] not in secondary:
                raise google_error(400, 'Retry budget exhausted (80 attempts): Secondary range "%s" does not exist in network "%s", subnetwork "%s".' % (
                    policy[field], network_name, subnet_name))
        private = spec.get("privateClusterConfig") or {}
        if private.get("enablePrivateNodes"):
            if not policy.get("useIpAliases"):
                raise google_error(400, "Alias IP addresses are required for private cluster, please make sure you enable alias IPs when creating a cluster.")
            master = _net(private.get("masterIpv4CidrBlock"))
            if master is None or master.prefixlen != 28:
                raise google_error(400, "The given master_ipv4_cidr \"%s\" is invalid: it must be a /28 private range."
                                   % private.get("masterIpv4CidrBlock", ""))
            for other in [subnet["ipCidrRange"]] + list(secondary.values()):
                if master.overlaps(_net(other)):
                    raise google_error(400, "The given master_ipv4_cidr %s overlaps with an existing network %s." % (master, other))
        if spec.get("networkPolicy", {}).get("enabled") and (spec.get("addonsConfig") or {}).get("networkPolicyConfig", {}).get("disabled", True):
            raise google_error(400, "Network policy must be enabled on the cluster's addons (addons_config.network_policy_config) to be enforced.")
        pools_spec = spec.get("nodePools") or []
        if not pools_spec and int(spec.get("initialNodeCount", 0) or 0) <= 0:
            raise google_error(400, "Cluster.initial_node_count must be greater than zero.")
        self._check_machine_type(spec.get("nodeConfig") or {}, zones)
        wi = spec.get("workloadIdentityConfig")
        if wi and wi.get("workloadPool") != "%s.svc.id.goog" % self.project:
            raise google_error(400, "Workload pool must be %s.svc.id.goog." % self.project)
        self_link = "%s%s/%s" % (CONTAINER, base, name)
        addons = spec.get("addonsConfig") or {}
        addons.setdefault("networkPolicyConfig", {"disabled": True})
        addons.setdefault("gcePersistentDiskCsiDriverConfig", {"enabled": True})
        addons.setdefault("httpLoadBalancing", {})
        addons.setdefault("horizontalPodAutoscaling", {})
        cluster = {
            "name": name, "location": location, "zone": location, "locations": zones, "selfLink": self_link,
            "id": secrets.token_hex(16), "status": "PROVISIONING", "createTime": _rfc3339(),
            "network": network_name, "subnetwork": subnet_name,
            "networkConfig": {"network": "projects/%s/global/networks/%s" % (self.project, network_name),
                              "subnetwork": "projects/%s/regions/%s/subnetworks/%s" % (self.project, region, subnet_name),
                              "defaultSnatStatus": {}},
            "initialClusterVersion": spec.get("initialClusterVersion", GKE_VERSION),
            "currentMasterVersion": GKE_VERSION, "currentNodeVersion": GKE_VERSION,
            "loggingService": spec.get("loggingService", "logging.googleapis.com/kubernetes"),
            "monitoringService": spec.get("monitoringService", "monitoring.googleapis.com/kubernetes"),
            "addonsConfig": addons,
            "masterAuth": {"clusterCaCertificate": base64.b64encode(self.cluster_ca_pem(name)).decode()},
            "legacyAbac": spec.get("legacyAbac", {}),
            "networkPolicy": spec.get("networkPolicy", {}),
            "ipAllocationPolicy": dict(policy, clusterIpv4CidrBlock=secondary.get(policy.get("clusterSecondaryRangeName"), "10.4.0.0/14"),
                                       servicesIpv4CidrBlock=secondary.get(policy.get("servicesSecondaryRangeName"), "10.8.0.0/20")),
            "releaseChannel": spec.get("releaseChannel", {"channel": "REGULAR"}),
            "shieldedNodes": spec.get("shieldedNodes", {"enabled": True}),
            "masterAuthorizedNetworksConfig": spec.get("masterAuthorizedNetworksConfig", {}),
            "endpoint": "34.77.%d.%d" % divmod(next(self.ips), 256),
            "nodePools": [],
            "labelFingerprint": "a9dc16a7",
            "x_region": region,
        }
        cluster["clusterIpv4Cidr"] = cluster["ipAllocationPolicy"]["clusterIpv4CidrBlock"]
        cluster["servicesIpv4Cidr"] = cluster["ipAllocationPolicy"]["servicesIpv4CidrBlock"]
        if private:
            private = dict(private)
            if private.get("enablePrivateNodes"):
                private["privateEndpoint"] = str(_net(private["masterIpv4CidrBlock"]).network_address + 2)
                private["publicEndpoint"] = cluster["endpoint"]
                private["peeringName"] = "gke-n%s-%s-peer" % (secrets.token_hex(5), secrets.token_hex(2))
            if private.get("enablePrivateEndpoint"):
                cluster["endpoint"] = private["privateEndpoint"]
            cluster["privateClusterConfig"] = private
        if wi:
            cluster["workloadIdentityConfig"] = wi
        for field in ("resourceLabels", "description", "databaseEncryption", "binaryAuthorization", "enableKubernetesAlpha"):
            if field in spec:
                cluster[field] = spec[field]
        if pools_spec:
            for pool in pools_spec:
                cluster["nodePools"].append(self._node_pool(cluster, location, pool))
        else:
            cluster["nodeConfig"] = self._node_config(spec.get("nodeConfig"), cluster)
            cluster["initialNodeCount"] = spec["initialNodeCount"]
            cluster["nodePools"].append(self._node_pool(cluster, location, {
                "name": "default-pool", "initialNodeCount": spec["initialNodeCount"], "config": spec.get("nodeConfig") or {}}))
        self.clusters[key] = cluster
        self._changed()

        def running():
            cluster["status"] = "RUNNING"
            for pool in cluster["nodePools"]:
                pool["status"] = "RUNNING"
        op = self._operation("container", "CREATE_CLUSTER", self_link, location, running)
        cluster["x_operation"] = op["name"]
        return 200, op

    def _node_pool(self, cluster, location, spec):
        spec = copy.deepcopy(spec)
        name = spec.get("name", "")
        if not CLUSTER_NAME_RE.match(name):
            raise google_error(400, "Invalid value for field \"node_pool.name\": \"%s\"." % name)
        self._check_machine_type(spec.get("config") or {}, cluster["locations"])
        scaling = spec.get("autoscaling") or {}
        if scaling.get("enabled"):
            low = int(scaling.get("minNodeCount", 0) or 0)
            high = int(scaling.get("maxNodeCount", 0) or 0)
            if high < 1 or low > high or low < 0:
                raise google_error(400, "Invalid autoscaling bounds: max_node_count (%d) must be >= 1 and >= min_node_count (%d)." % (high, low))
            scaling.setdefault("locationPolicy", "BALANCED")
        count = int(spec.get("initialNodeCount", 0) or 0)
        if count < 0:
            raise google_error(400, "Node pool initial_node_count must be >= 0.")
        pool = {
            "name": name, "config": self._node_config(spec.get("config"), cluster), "initialNodeCount": count,
            "autoscaling": scaling, "management": spec.get("management") or {"autoUpgrade": True, "autoRepair": True},
            "maxPodsConstraint": spec.get("maxPodsConstraint") or {"maxPodsPerNode": "110"},
            "locations": list(cluster["locations"]), "podIpv4CidrSize": 24, "version": spec.get("version", GKE_VERSION),
            "status": "PROVISIONING", "upgradeSettings": {"maxSurge": 1, "strategy": "SURGE"},
            "selfLink": "%s/nodePools/%s" % (cluster["selfLink"], name),
            "instanceGroupUrls": ["%sprojects/%s/zones/%s/instanceGroupManagers/gke-%s-%s-grp" % (
                COMPUTE, self.project, zone, cluster["name"], name) for zone in cluster["locations"]],
        }
        del location
        if not pool["autoscaling"]:
            del pool["autoscaling"]
        return pool

    def _create_node_pool(self, cluster, location, body):
        self._validate_container("CreateNodePoolRequest", body)
        self._require_running(cluster)
        spec = (body or {}).get("nodePool") or {}
        if any(p["name"] == spec.get("name") for p in cluster["nodePools"]):
            raise google_error(409, "Already exists: projects/%s/locations/%s/clusters/%s/nodePools/%s." % (
                self.project, location, cluster["name"], spec.get("name")))
        pool = self._node_pool(cluster, location, spec)
        cluster["nodePools"].append(pool)
        cluster["status"] = "RECONCILING"
        self._changed()

        def running():
            pool["status"] = "RUNNING"
            cluster["status"] = "RUNNING"
        op = self._operation("container", "CREATE_NODE_POOL", pool["selfLink"], location, running)
        cluster["x_operation"] = op["name"]
        return 200, op

    def _update_cluster(self, cluster, location, body):
        self._validate_container("UpdateClusterRequest", body)
        update = (body or {}).get("update") or {}
        fields = [key for key in update if key.startswith("desired")]
        if len(fields) != 1:
            raise google_error(400, "Exactly one update can be applied to a cluster with each request (got %d: %s)." % (
                len(fields), ", ".join(fields) or "none"))
        self._require_running(cluster)
        field = fields[0]
        value = update[field]
        target = field[len("desired")].lower() + field[len("desired") + 1:]
        if field == "desiredWorkloadIdentityConfig":
            if value.get("workloadPool") not in ("%s.svc.id.goog" % self.project, "", None):
                raise google_error(400, "Workload pool must be %s.svc.id.goog." % self.project)
            if value.get("workloadPool"):
                cluster["workloadIdentityConfig"] = value
            else:
                cluster.pop("workloadIdentityConfig", None)
        elif field == "desiredAddonsConfig":
            cluster["addonsConfig"].update(value)
        elif field == "desiredPrivateClusterConfig":
            cluster.setdefault("privateClusterConfig", {}).update(value)
        else:
            cluster[target] = value
        cluster["status"] = "RECONCILING"
        self._changed()

        def running():
            cluster["status"] = "RUNNING"
        op = self._operation("container", "UPDATE_CLUSTER", cluster["selfLink"], location, running)
        cluster["x_operation"] = op["name"]
        return 200, op

    def cluster_ca_pem(self, name):
        """A PEM CA certificate for a cluster (set by the server, which owns
        the certificate machinery); a placeholder otherwise."""
        del name
        return getattr(self, "ca_pem", b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")

    # ------------------------------------------------------------ storage
    def _storage(self, method, path, query, headers, body):
        upload = path.startswith("/upload/")
        rest = path.split("/storage/v1/", 1)[1].strip("/")
        parts = [urllib.parse.unquote(p) for p in rest.split("/")] if rest else []
        if parts[:1] != ["b"]:
            raise compute_error(404, "Not Found")
        if len(parts) == 1:
            if method == "GET":
                return 200, {"kind": "storage#buckets", "items": [copy.deepcopy(b) for b in self.buckets.values()]}
            if method == "POST":
                if query.get("project", [""])[0] not in (self.project, self.project_number):
                    raise compute_error(400, "Invalid argument: project %s." % query.get("project", [""])[0], "invalid")
                data = self._json(body, True) or {}
                violations = self.storage_doc.validate("Bucket", data)
                if violations:
                    raise _bad_request(violations, True)
                name = data.get("name", "")
                if not re.match(r"^[a-z0-9][-a-z0-9_.]{1,61}[a-z0-9]$", name):
                    raise compute_error(400, "Invalid bucket name: '%s'" % name, "invalid")
                if name in self.buckets:
                    raise compute_error(409, "Your previous request to create the named bucket succeeded and you already own it.", "conflict")
                bucket = dict(data, kind="storage#bucket", id=name, selfLink="%s/storage/v1/b/%s" % (WWW, name),
                              projectNumber=self.project_number, timeCreated=_rfc3339(), updated=_rfc3339(),
                              metageneration="1", etag="CAE=")
                bucket.setdefault("location", "US")
                bucket["location"] = bucket["location"].upper()
                bucket.setdefault("storageClass", "STANDARD")
                self.buckets[name] = bucket
                self.objects[name] = {}
                self._changed()
                return 200, copy.deepcopy(bucket)
            raise compute_error(405, "Method not allowed")
        bucket = self.buckets.get(parts[1])
        if bucket is None:
            raise compute_error(404, "The specified bucket does not exist.")
        objects = self.objects[parts[1]]
        if len(parts) == 2:
            if method == "GET":
                return 200, copy.deepcopy(bucket)
            if method == "DELETE":
                if objects:
                    raise compute_error(409, "The bucket you tried to delete is not empty.", "conflict")
                del self.buckets[parts[1]]
                del self.objects[parts[1]]
                self._changed()
                return 204, b""
            if method in ("PATCH", "PUT"):
                data = self._json(body, True) or {}
                violations = self.storage_doc.validate("Bucket", data)
                if violations:
                    raise _bad_request(violations, True)
                bucket.update({k: v for k, v in data.items() if k not in ("name", "id", "selfLink")})
                bucket["metageneration"] = str(int(bucket["metageneration"]) + 1)
                self._changed()
                return 200, copy.deepcopy(bucket)
            raise compute_error(405, "Method not allowed")
        if parts[2] != "o":
            raise compute_error(404, "Not Found")
        if len(parts) == 3:
            if method == "GET":
                prefix = query.get("prefix", [""])[0]
                return 200, {"kind": "storage#objects", "items": [copy.deepcopy(meta) for name, (meta, _data) in sorted(objects.items())
                                                                  if name.startswith(prefix)]}
            if method == "POST" and upload:
                return self._upload(bucket, objects, query, headers, body)
            raise compute_error(405, "Method not allowed")
        name = "/".join(parts[3:])
        if name not in objects:
            raise compute_error(404, "No such object: %s/%s" % (parts[1], name))
        meta, data = objects[name]
        if method == "GET":
            if query.get("alt", [""])[0] == "media":
                return 200, data
            return 200, copy.deepcopy(meta)
        if method == "DELETE":
            del objects[name]
            self._changed()
            return 204, b""
        raise compute_error(405, "Method not allowed")

    def _upload(self, bucket, objects, query, headers, body):
        kind = query.get("uploadType", [""])[0]
        meta = {}
        data = body or b""
        if kind == "media":
            meta["name"] = query.get("name", [""])[0]
            meta["contentType"] = headers.get("Content-Type", "application/octet-stream")
        elif kind == "multipart":
            boundary = re.search(r'boundary="?([^";]+)"?', headers.get("Content-Type", ""))
            if boundary is None:
                raise compute_error(400, "Missing multipart boundary.")
            chunks = [c for c in data.split(b"--" + boundary.group(1).encode()) if c.strip() not in (b"", b"--")]
            if len(chunks) != 2:
                raise compute_error(400, "A multipart upload needs a metadata part and a media part.")
            parsed = []
            for chunk in chunks:
                head, _sep, content = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
                parsed.append((head, content[:-2] if content.endswith(b"\r\n") else content))
            meta = self._json(parsed[0][1], True) or {}
            violations = self.storage_doc.validate("Object", meta)
            if violations:
                raise _bad_request(violations, True)
            data = parsed[1][1]
            meta.setdefault("name", query.get("name", [""])[0])
            content_type = re.search(rb"(?i)content-type:\s*([^\r\n]+)", parsed[1][0])
            meta.setdefault("contentType", content_type.group(1).decode() if content_type else "application/octet-stream")
        else:
            raise compute_error(400, "Upload requests must include an uploadType URL parameter and a URL.", "invalid")
        if not meta.get("name"):
            raise compute_error(400, "Required object name.", "required")
        name = meta["name"]
        meta.update({"kind": "storage#object", "bucket": bucket["name"], "size": str(len(data)),
                     "id": "%s/%s/1" % (bucket["name"], name), "generation": str(int(time.time() * 1e6)),
                     "selfLink": "%s/storage/v1/b/%s/o/%s" % (WWW, bucket["name"], urllib.parse.quote(name, safe="")),
                     "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
                     "timeCreated": _rfc3339(), "updated": _rfc3339()})
        objects[name] = (meta, data)
        self._changed()
        return 200, copy.deepcopy(meta)

    # -------------------------------------------------------------- views
    def snapshot(self):
        """The whole state as plain JSON (for tests and the state file)."""
        with self.lock:
            return {
                "project": self.project,
                "compute": copy.deepcopy(self.compute),
                "clusters": {key: self._cluster_view(c) for key, c in self.clusters.items()},
                "buckets": copy.deepcopy(self.buckets),
                "objects": {b: sorted(objs) for b, objs in self.objects.items()},
            }


def _b64decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
