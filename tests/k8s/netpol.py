# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small NetworkPolicy evaluator: "can endpoint A reach endpoint B on port P?".

It answers from the NetworkPolicy objects (networking.k8s.io/v1) of rendered
manifests, with the API's semantics:

* a pod is isolated for ingress (egress) when at least one policy of its
  namespace selects it with Ingress (Egress) in its policyTypes (policyTypes
  defaults to Ingress, plus Egress when the policy has egress rules);
* an isolated pod allows a connection when ANY selecting policy has a rule
  whose peers AND ports match; a connection needs the source's egress AND
  the destination's ingress;
* peers: podSelector alone (pods of the policy's namespace), namespaceSelector
  alone (every pod of the matching namespaces), both (matching pods of matching
  namespaces), ipBlock (cidr minus except: addresses outside the cluster); an
  empty or absent ``from``/``to`` matches everything;
* ports: absent or empty matches every port; protocol defaults to TCP;
  ``port`` is a number or a container port name; ``endPort`` gives a range.

Endpoints are :class:`Pod` (namespace, labels, named ports) or
:class:`External` (an IP address outside the cluster). Traffic between
external endpoints is out of scope.
"""

import ipaddress


class Pod:
    """A pod: its namespace, labels, named container ports and namespace labels."""

    def __init__(self, name, namespace, labels, ports=None, namespace_labels=None):
        self.name = name
        self.namespace = namespace
        self.labels = dict(labels or {})
        self.ports = dict(ports or {})
        self.namespace_labels = {"kubernetes.io/metadata.name": namespace}
        self.namespace_labels.update(namespace_labels or {})

    def __repr__(self):
        return "Pod(%s/%s)" % (self.namespace, self.name)


class External:
    """An address outside the cluster (the internet, a Pi, a load balancer client)."""

    def __init__(self, address):
        self.address = ipaddress.ip_address(address)

    def __repr__(self):
        return "External(%s)" % self.address


def selector_matches(selector, labels):
    """True when a LabelSelector matches labels (an empty selector matches all)."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError("unknown selector operator %r" % operator)
    return True


def policy_types(policy):
    """The policyTypes of a policy, with the API's defaults."""
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return set(spec["policyTypes"])
    types = {"Ingress"}
    if "egress" in spec:
        types.add("Egress")
    return types


def peer_matches(peer, policy_namespace, endpoint):
    """True when one NetworkPolicyPeer matches the endpoint."""
    if "ipBlock" in peer:
        if not isinstance(endpoint, External):
            return False
        block = peer["ipBlock"]
        if endpoint.address not in ipaddress.ip_network(block["cidr"], strict=False):
            return False
        return not any(endpoint.address in ipaddress.ip_network(cidr, strict=False)
                       for cidr in block.get("except") or [])
    if not isinstance(endpoint, Pod):
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], endpoint.namespace_labels):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    if "podSelector" in peer:
        return selector_matches(peer["podSelector"], endpoint.labels)
    return True


def port_matches(ports, target, port, protocol):
    """True when a rule's ports match (port, protocol) on the target endpoint."""
    if not ports:
        return True
    for entry in ports:
        if (entry.get("protocol") or "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str) and not wanted.isdigit():
            named = target.ports.get(wanted) if isinstance(target, Pod) else None
            if named == port:
                return True
            continue
        low = int(wanted)
        high = int(entry.get("endPort") or low)
        if low <= port <= high:
            return True
    return False


class Evaluator:
    """Answers reachability questions from a list of Kubernetes objects."""

    def __init__(self, objects):
        self.policies = [obj for obj in objects
                         if obj and obj.get("kind") == "NetworkPolicy"
                         and obj.get("apiVersion") == "networking.k8s.io/v1"]

    def _selecting(self, pod, kind):
        return [policy for policy in self.policies
                if (policy["metadata"].get("namespace") or "default") == pod.namespace
                and kind in policy_types(policy)
                and selector_matches((policy.get("spec") or {}).get("podSelector") or {}, pod.labels)]

    def _allowed(self, pod, kind, peer_endpoint, port_target, port, protocol):
        policies = self._selecting(pod, kind)
        if not policies:
            return True
        rules_key, peers_key = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
        for policy in policies:
            namespace = policy["metadata"].get("namespace") or "default"
            for rule in (policy.get("spec") or {}).get(rules_key) or []:
                peers = rule.get(peers_key) or []
                if peers and not any(peer_matches(peer, namespace, peer_endpoint) for peer in peers):
                    continue
                if port_matches(rule.get("ports"), port_target, port, protocol):
                    return True
        return False

    def can_reach(self, source, destination, port, protocol="TCP"):
        """True when source may open a connection to destination:port."""
        if isinstance(source, External) and isinstance(destination, External):
            raise ValueError("traffic between two external endpoints is out of scope")
        if isinstance(source, Pod) and not self._allowed(source, "Egress", destination, destination, port, protocol):
            return False
        if isinstance(destination, Pod) and not self._allowed(destination, "Ingress", source, destination, port, protocol):
            return False
        return True


def pods_from_workloads(objects, namespace_labels=None):
    """One Pod per workload (Deployment, StatefulSet, DaemonSet, Job, CronJob), by object name."""
    pods = {}
    for obj in objects:
        if not obj:
            continue
        kind = obj.get("kind")
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            template = obj["spec"]["template"]
        elif kind == "CronJob":
            template = obj["spec"]["jobTemplate"]["spec"]["template"]
        else:
            continue
        namespace = obj["metadata"].get("namespace") or "default"
        spec = template.get("spec") or {}
        ports = {}
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for entry in container.get("ports") or []:
                if entry.get("name"):
                    ports[entry["name"]] = entry["containerPort"]
        pods[obj["metadata"]["name"]] = Pod(obj["metadata"]["name"], namespace,
                                            (template.get("metadata") or {}).get("labels"),
                                            ports, (namespace_labels or {}).get(namespace))
    return pods
