# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/k8s/netpol.py: the evaluator's NetworkPolicy semantics on small policies.
(The roles' scenarios ask it about their rendered policies.)"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest
from netpol import Evaluator, External, Pod, pods_from_workloads, selector_matches


def policy(name, selector, types=None, ingress=None, egress=None, namespace="ns"):
    spec = {"podSelector": selector}
    if types is not None:
        spec["policyTypes"] = types
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


WEB = Pod("web", "ns", {"app": "web"}, {"http": 8080})
DB = Pod("db", "ns", {"app": "db"})
OTHER_NS_WEB = Pod("web", "other", {"app": "web"}, namespace_labels={"team": "blue"})
DNS = Pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"})
INTERNET = External("8.8.8.8")


def test_no_policy_allows_everything():
    evaluator = Evaluator([])
    assert evaluator.can_reach(WEB, DB, 5432)
    assert evaluator.can_reach(INTERNET, DB, 5432)
    assert evaluator.can_reach(DB, INTERNET, 443)


def test_default_deny_isolates_both_ways():
    evaluator = Evaluator([policy("deny", {}, ["Ingress", "Egress"])])
    assert not evaluator.can_reach(WEB, DB, 5432)
    assert not evaluator.can_reach(INTERNET, WEB, 8080)
    assert not evaluator.can_reach(WEB, INTERNET, 443)
    # Pods of another namespace are not selected by the policy.
    assert evaluator.can_reach(OTHER_NS_WEB, INTERNET, 443)


def test_policy_types_default_to_ingress_plus_egress_when_present():
    ingress_only = Evaluator([policy("p", {"matchLabels": {"app": "db"}})])
    assert not ingress_only.can_reach(WEB, DB, 5432)
    assert ingress_only.can_reach(DB, INTERNET, 443)
    with_egress = Evaluator([policy("p", {"matchLabels": {"app": "db"}}, egress=[])])
    assert not with_egress.can_reach(DB, INTERNET, 443)


def test_needs_egress_of_source_and_ingress_of_destination():
    objects = [policy("deny", {}, ["Ingress", "Egress"]),
               policy("db-in", {"matchLabels": {"app": "db"}}, ["Ingress"],
                      ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                "ports": [{"port": 5432}]}])]
    assert not Evaluator(objects).can_reach(WEB, DB, 5432)
    objects.append(policy("web-out", {"matchLabels": {"app": "web"}}, ["Egress"],
                          egress=[{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]))
    evaluator = Evaluator(objects)
    assert evaluator.can_reach(WEB, DB, 5432)
    assert not evaluator.can_reach(WEB, DB, 5433)
    assert not evaluator.can_reach(WEB, DB, 5432, "UDP")
    assert not evaluator.can_reach(DB, WEB, 8080)


def test_pod_selector_alone_stays_in_the_policy_namespace():
    objects = [policy("db-in", {"matchLabels": {"app": "db"}}, ["Ingress"],
                      ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}])]
    evaluator = Evaluator(objects)
    assert evaluator.can_reach(WEB, DB, 1)
    assert not evaluator.can_reach(OTHER_NS_WEB, DB, 1)


def test_namespace_and_pod_selector_together():
    peer = {"namespaceSelector": {"matchLabels": {"team": "blue"}}, "podSelector": {"matchLabels": {"app": "web"}}}
    evaluator = Evaluator([policy("db-in", {"matchLabels": {"app": "db"}}, ingress=[{"from": [peer]}])])
    assert evaluator.can_reach(OTHER_NS_WEB, DB, 1)
    assert not evaluator.can_reach(WEB, DB, 1)
    assert not evaluator.can_reach(Pod("x", "other", {"app": "x"}, namespace_labels={"team": "blue"}), DB, 1)


def test_ip_block_with_except_matches_external_addresses_only():
    peer = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}
    evaluator = Evaluator([policy("web-in", {"matchLabels": {"app": "web"}}, ingress=[{"from": [peer]}])])
    assert evaluator.can_reach(INTERNET, WEB, 8080)
    assert not evaluator.can_reach(External("10.1.2.3"), WEB, 8080)
    assert not evaluator.can_reach(DB, WEB, 8080)


def test_named_ports_and_port_ranges():
    evaluator = Evaluator([policy("web-in", {"matchLabels": {"app": "web"}},
                                  ingress=[{"ports": [{"port": "http"}, {"port": 9000, "endPort": 9010}]}])])
    assert evaluator.can_reach(DB, WEB, 8080)
    assert evaluator.can_reach(DB, WEB, 9005)
    assert not evaluator.can_reach(DB, WEB, 9011)
    assert not evaluator.can_reach(DB, WEB, 80)


def test_empty_rule_allows_all_and_rules_are_ored():
    evaluator = Evaluator([policy("dns", {}, ["Egress"], egress=[
        {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                 "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
         "ports": [{"protocol": "UDP", "port": 53}]}]),
        policy("db-any", {"matchLabels": {"app": "db"}}, ["Egress"], egress=[{}])])
    assert evaluator.can_reach(WEB, DNS, 53, "UDP")
    assert not evaluator.can_reach(WEB, DNS, 53, "TCP")
    assert not evaluator.can_reach(WEB, INTERNET, 443)
    assert evaluator.can_reach(DB, INTERNET, 443)


def test_match_expressions():
    labels = {"tier": "back", "env": "prod"}
    assert selector_matches({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["back"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, labels)
    with pytest.raises(ValueError):
        selector_matches({"matchExpressions": [{"key": "env", "operator": "Near"}]}, labels)


def test_external_to_external_is_out_of_scope():
    with pytest.raises(ValueError):
        Evaluator([]).can_reach(INTERNET, External("1.1.1.1"), 443)


def test_pods_from_workloads():
    objects = [{"kind": "StatefulSet", "metadata": {"name": "node", "namespace": "ns"},
                "spec": {"template": {"metadata": {"labels": {"app": "node"}},
                                      "spec": {"containers": [{"name": "c", "ports": [{"name": "rpc", "containerPort": 8732}]}]}}}},
               {"kind": "CronJob", "metadata": {"name": "pay", "namespace": "ns"},
                "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {"app": "pay"}},
                                                               "spec": {"containers": [{"name": "c"}]}}}}}},
               {"kind": "Service", "metadata": {"name": "svc"}}, None]
    pods = pods_from_workloads(objects)
    assert sorted(pods) == ["node", "pay"]
    assert pods["node"].ports == {"rpc": 8732}
    assert pods["pay"].labels == {"app": "pay"}
