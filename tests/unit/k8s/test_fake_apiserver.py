# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/k8s/fake_apiserver.py with k8s_rules.py: the real API server's
refusals (422 Invalid with its causes, immutable fields), its defaults and
allocations, and "a second identical apply changes nothing", for every kind
the roles apply. The fake runs as the molecule scenario starts it: a
subprocess on a free loopback port."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import yaml

import k8s_rules

FAKE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "k8s", "fake_apiserver.py"))
NS = "t"
PLURALS = {"Namespace": "namespaces", "ConfigMap": "configmaps", "Secret": "secrets", "Service": "services",
           "ServiceAccount": "serviceaccounts", "PersistentVolumeClaim": "persistentvolumeclaims",
           "StatefulSet": "statefulsets", "Deployment": "deployments", "CronJob": "cronjobs", "Job": "jobs",
           "NetworkPolicy": "networkpolicies", "PodDisruptionBudget": "poddisruptionbudgets",
           "StorageClass": "storageclasses", "ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings"}
CLUSTER_SCOPED = ("Namespace", "StorageClass", "ClusterRole", "ClusterRoleBinding")
SELECTOR_MISMATCH = "`selector` does not match template `labels`"


class Fake:
    """The fake's URL and state; apply/get as kubernetes.core does (server-side apply)."""

    def __init__(self, server, state_path):
        self.server, self.state_path = server, state_path

    def path(self, obj):
        group_version = obj["apiVersion"]
        prefix = "/api/v1" if group_version == "v1" else "/apis/" + group_version
        scope = "" if obj["kind"] in CLUSTER_SCOPED else "/namespaces/%s" % obj["metadata"].get("namespace", NS)
        return "%s%s/%s/%s" % (prefix, scope, PLURALS[obj["kind"]], obj["metadata"]["name"])

    def request(self, method, path, body=None, query=""):
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/apply-patch+yaml"} if body is not None else {}
        request = urllib.request.Request(self.server + path + query, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def apply(self, obj, dry_run=False):
        query = "?fieldManager=tezos.bakery" + ("&dryRun=All" if dry_run else "")
        return self.request("PATCH", self.path(obj), obj, query)

    def get(self, obj):
        return self.request("GET", self.path(obj))

    def created(self, obj):
        code, body = self.apply(obj)
        assert code in (200, 201), body
        return body

    def state(self):
        with open(self.state_path, encoding="utf-8") as handle:
            return json.load(handle)


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fake-apiserver")
    kubeconfig, state = folder / "kubeconfig", folder / "state.json"
    with subprocess.Popen([sys.executable, FAKE, "--port", "0", "--state", str(state), "--kubeconfig", str(kubeconfig)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            deadline = time.monotonic() + 30
            while not kubeconfig.exists():
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the fake wrote no kubeconfig"
                time.sleep(0.1)
            time.sleep(0.1)  # the kubeconfig is written in one go, but let it land
            with open(kubeconfig, encoding="utf-8") as handle:
                server = yaml.safe_load(handle)["clusters"][0]["cluster"]["server"]
            client = Fake(server, str(state))
            client.created(namespace(NS))
            yield client
        finally:
            proc.terminate()
            proc.wait(timeout=10)


# --- Valid manifests of every kind the roles apply, shaped like theirs ------

LABELS = {"app.kubernetes.io/part-of": "tezos-bakery", "app.kubernetes.io/name": "octez-node"}
IMAGE = "docker.io/tezos/tezos:octez-v23.2@sha256:" + "0" * 63 + "1"


def without_nones(obj):
    return {k: v for k, v in obj.items() if v is not None}


def meta(name, **extra):
    return dict({"name": name, "namespace": NS, "labels": dict(LABELS)}, **extra)


def namespace(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(LABELS)}}


def container(name="octez-node", **extra):
    return dict({"name": name, "image": IMAGE, "command": ["octez-node", "run"],
                 "ports": [{"name": "rpc", "containerPort": 8732, "protocol": "TCP"}],
                 "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}},
                 "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "rpc"}, "periodSeconds": 15},
                 "volumeMounts": [{"name": "config", "mountPath": "/etc/octez", "readOnly": True}]}, **extra)


def pod_template(labels=None, **spec):
    return {"metadata": {"labels": dict(labels if labels is not None else LABELS)},
            "spec": dict({"containers": [container()], "volumes": [{"name": "config", "configMap": {"name": "node-config"}}]}, **spec)}


def deployment(name="dep", **spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name),
            "spec": dict({"replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": dict(LABELS)},
                          "template": pod_template()}, **spec)}


def statefulset(name="sts", **spec):
    claim = {"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "tezos-regional",
        "resources": {"requests": {"storage": "100Gi"}}}}
    base = {"serviceName": name, "replicas": 2, "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": dict(LABELS)}, "template": pod_template(),
            "volumeClaimTemplates": [claim]}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(name),
            "spec": without_nones(dict(base, **spec))}


def cronjob(name="cron", **job_spec):
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(name),
            "spec": {"schedule": "17 * * * *", "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid",
                     "jobTemplate": {"spec": dict({"backoffLimit": 1, "template": pod_template(restartPolicy="Never")}, **job_spec)}}}


def job(name="job", **spec):
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(name),
            "spec": dict({"template": pod_template(restartPolicy="Never")}, **spec)}


def service(name="svc", **spec):
    ports = [{"name": "rpc", "port": 8732, "targetPort": "rpc"}, {"name": "p2p", "port": 9732}]
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name),
            "spec": dict({"selector": dict(LABELS), "ports": ports}, **spec)}


def pvc(name="claim", storage="10Gi", **spec):
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(name),
            "spec": dict({"accessModes": ["ReadWriteOnce"], "storageClassName": "tezos-regional",
                          "resources": {"requests": {"storage": storage}}}, **spec)}


def storage_class(name="sc", **fields):
    return without_nones(dict({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
                               "provisioner": "pd.csi.storage.gke.io", "parameters": {"type": "pd-balanced"},
                               "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Retain", "allowVolumeExpansion": True},
                              **fields))


def cluster_role_binding(name="crb", role="tezos-bakery-prometheus"):
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": NS}]}


VALID = {
    "Namespace": namespace("bakery-ns"),
    "StorageClass": storage_class(),
    "NetworkPolicy": {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("np"),
                      "spec": {"podSelector": {"matchLabels": dict(LABELS)}, "policyTypes": ["Ingress", "Egress"],
                               "ingress": [{"ports": [{"port": 8732}, {"port": "p2p"}]}],
                               "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"port": 53, "protocol": "UDP"}]}]}},
    "ConfigMap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("cm"), "data": {"config.json": "{}", "run.sh": "#!/bin/sh\n"}},
    "Secret": {"apiVersion": "v1", "kind": "Secret", "metadata": meta("secret"), "type": "Opaque", "data": {"key": "c2VjcmV0"}},
    "ServiceAccount": {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("sa"), "automountServiceAccountToken": False},
    "Service": service(),
    "PersistentVolumeClaim": pvc(),
    "StatefulSet": statefulset(),
    "PodDisruptionBudget": {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("pdb"),
                            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(LABELS)}}},
    "Deployment": deployment(),
    "CronJob": cronjob(),
    "Job": job(),
    "ClusterRole": {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "tezos-bakery-prometheus"},
                    "rules": [{"apiGroups": [""], "resources": ["nodes", "nodes/metrics"], "verbs": ["get", "list", "watch"]}]},
    "ClusterRoleBinding": cluster_role_binding(),
}


def renamed(obj, name):
    obj = copy.deepcopy(obj)
    obj["metadata"]["name"] = name
    return obj


def refused(fake_server, obj):
    """The 422 Status of obj, checked for the shape NewInvalid gives it."""
    code, status = fake_server.apply(obj)
    assert code == 422, status
    assert status["kind"] == "Status" and status["status"] == "Failure" and status["reason"] == "Invalid" and status["code"] == 422
    group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
    assert status["details"]["kind"] == obj["kind"] and status["details"]["name"] == obj["metadata"]["name"]
    assert status["details"].get("group", "") == group
    qualified = obj["kind"] + ("." + group if group else "")
    assert status["message"].startswith('%s "%s" is invalid: ' % (qualified, obj["metadata"]["name"]))
    return status


def cause(status, field):
    found = [c for c in status["details"]["causes"] if c["field"] == field]
    assert found, status
    return found[0]


# --- 422 Invalid -------------------------------------------------------------

@pytest.mark.parametrize("make", [deployment, statefulset], ids=["Deployment", "StatefulSet"])
def test_selector_that_does_not_select_the_template_is_refused(fake, make):
    obj = make("mismatch-" + make.__name__)
    obj["spec"]["template"]["metadata"]["labels"] = {"app.kubernetes.io/name": "other"}
    status = refused(fake, obj)
    found = cause(status, "spec.template.metadata.labels")
    assert found == {"reason": "FieldValueInvalid", "field": "spec.template.metadata.labels",
                     "message": 'Invalid value: map[string]string{"app.kubernetes.io/name":"other"}: ' + SELECTOR_MISMATCH}
    assert status["message"] == '%s.apps "%s" is invalid: spec.template.metadata.labels: %s' % (
        obj["kind"], obj["metadata"]["name"], found["message"])


def test_job_with_a_manual_selector_must_select_its_template(fake):
    obj = job("manual", manualSelector=True, selector={"matchLabels": {"job": "a"}})
    status = refused(fake, obj)
    assert cause(status, "spec.template.metadata.labels")["message"].endswith(SELECTOR_MISMATCH)
    fixed = copy.deepcopy(obj)
    fixed["spec"]["template"]["metadata"]["labels"]["job"] = "a"
    fake.created(fixed)


def test_job_template_of_a_cronjob_may_not_have_a_selector(fake):
    status = refused(fake, cronjob("with-selector", selector={"matchLabels": {"a": "b"}}))
    assert cause(status, "spec.jobTemplate.spec.selector")["message"].endswith("`selector` will be auto-generated")


@pytest.mark.parametrize("port", [0, 70000])
def test_ports_out_of_range_are_refused(fake, port):
    template = pod_template()
    template["spec"]["containers"][0]["ports"][0]["containerPort"] = port
    status = refused(fake, deployment("port-%d" % port, template=template))
    field = "spec.template.spec.containers[0].ports[0].containerPort"
    if port:
        assert cause(status, field) == {"reason": "FieldValueInvalid", "field": field,
                                        "message": "Invalid value: 70000: must be between 1 and 65535, inclusive"}
    else:
        assert cause(status, field) == {"reason": "FieldValueRequired", "field": field, "message": "Required value"}
    svc = service("svc-port-%d" % port)
    svc["spec"]["ports"][1]["port"] = port
    status = refused(fake, svc)
    assert cause(status, "spec.ports[1].port")["message"] == "Invalid value: %d: must be between 1 and 65535, inclusive" % port


def test_container_and_port_names_are_refused(fake):
    template = pod_template()
    template["spec"]["containers"][0]["name"] = "Octez_Node"
    template["spec"]["containers"][0]["ports"][0]["name"] = "rpc-port-of-node"  # 16 > 15 characters
    status = refused(fake, deployment("bad-names", template=template))
    assert cause(status, "spec.template.spec.containers[0].name")["message"] == (
        'Invalid value: "Octez_Node": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\', '
        "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
    assert cause(status, "spec.template.spec.containers[0].ports[0].name")["message"] == (
        'Invalid value: "rpc-port-of-node": must be no more than 15 characters')
    assert status["message"].startswith('Deployment.apps "bad-names" is invalid: [spec.template.spec.containers[0].name: ')
    svc = service("svc-names")
    svc["spec"]["ports"][0]["name"] = "RPC"
    del svc["spec"]["ports"][1]["name"]
    status = refused(fake, svc)
    assert cause(status, "spec.ports[0].name")["message"].startswith('Invalid value: "RPC": a lowercase RFC 1123 label')
    assert cause(status, "spec.ports[1].name") == {"reason": "FieldValueRequired", "field": "spec.ports[1].name", "message": "Required value"}


def test_a_mount_of_a_volume_that_does_not_exist_is_refused(fake):
    template = pod_template()
    template["spec"]["volumes"] = []
    status = refused(fake, deployment("no-volume", template=template))
    assert cause(status, "spec.template.spec.containers[0].volumeMounts[0].name")["message"] == 'Not found: "config"'


@pytest.mark.parametrize("kind,name,detail", [
    ("ConfigMap", "Node_Config", "a lowercase RFC 1123 subdomain must consist of"),
    ("Service", "1node", "a DNS-1035 label must consist of"),
    ("StatefulSet", "octez.node", "must not contain dots"),
    ("Namespace", "Bakery", "a lowercase RFC 1123 label must consist of"),
])
def test_names_are_refused(fake, kind, name, detail):
    status = refused(fake, renamed(VALID[kind], name))
    assert cause(status, "metadata.name")["message"].startswith('Invalid value: "%s": %s' % (name, detail))


def test_a_cronjob_name_is_at_most_52_characters(fake):
    status = refused(fake, cronjob("c" * 53))
    assert cause(status, "metadata.name")["message"] == 'Invalid value: "%s": must be no more than 52 characters' % ("c" * 53)


def test_label_values_are_refused(fake):
    obj = renamed(VALID["ConfigMap"], "bad-label")
    obj["metadata"]["labels"]["app.kubernetes.io/version"] = "v1 beta"
    assert cause(refused(fake, obj), "metadata.labels")["message"].startswith('Invalid value: "v1 beta": a valid label must be')


@pytest.mark.parametrize("quantity", ["1Gb", "abc"])
def test_a_quantity_that_does_not_parse_fails_the_conversion(fake, quantity):
    template = pod_template()
    template["spec"]["containers"][0]["resources"]["limits"]["memory"] = quantity
    obj = deployment("quantity-" + quantity.lower(), template=template)
    code, status = fake.apply(obj)
    # Before validation: server-side apply answers 500, no reason, the converter's error.
    assert code == 500 and status["code"] == 500 and "reason" not in status, status
    assert status["message"] == (
        "failed to convert new object (t/%s; apps/v1, Kind=Deployment) to proper version: unable to convert unstructured object "
        "to apps/v1, Kind=Deployment: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        % obj["metadata"]["name"])
    assert fake.get(obj)[0] == 404


def test_negative_and_over_limit_quantities_are_refused(fake):
    template = pod_template()
    template["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "3", "memory": "-1Gi"}, "limits": {"cpu": "2"}}
    status = refused(fake, deployment("quantities", template=template))
    assert cause(status, "spec.template.spec.containers[0].resources.requests[memory]")["message"] == (
        'Invalid value: "-1Gi": must be greater than or equal to 0')
    assert cause(status, "spec.template.spec.containers[0].resources.requests")["message"] == (
        'Invalid value: "3": must be less than or equal to cpu limit of 2')
    status = refused(fake, pvc("no-storage", storage="0"))
    assert cause(status, "spec.resources[storage]")["message"] == 'Invalid value: "0": must be greater than zero'


def test_job_restart_policy_must_be_onfailure_or_never(fake):
    obj = cronjob("restart-always")
    del obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"]  # defaults to Always
    field = "spec.jobTemplate.spec.template.spec.restartPolicy"
    assert cause(refused(fake, obj), field)["message"] == 'Unsupported value: "Always": supported values: "OnFailure", "Never"'


def test_the_statefulset_pod_template_is_not_pod_validated(fake):
    # ValidatePodTemplateSpecForStatefulSet leaves ValidatePodSpec out: the real server accepts this.
    obj = statefulset("loose-template")
    obj["spec"]["template"]["spec"]["containers"][0]["name"] = "Octez_Node"
    fake.created(obj)


# --- Immutable fields --------------------------------------------------------

@pytest.mark.parametrize("change", ["serviceName", "podManagementPolicy", "volumeClaimTemplates", "selector"])
def test_statefulset_spec_is_immutable_but_for_a_few_fields(fake, change):
    obj = statefulset("immutable-" + change.lower())
    fake.created(obj)
    changed = copy.deepcopy(obj)
    if change == "serviceName":
        changed["spec"]["serviceName"] = "other"
    elif change == "podManagementPolicy":
        changed["spec"]["podManagementPolicy"] = "OrderedReady"
    elif change == "volumeClaimTemplates":
        changed["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "200Gi"
    else:
        changed["spec"]["selector"]["matchLabels"]["extra"] = "x"
        changed["spec"]["template"]["metadata"]["labels"]["extra"] = "x"
    status = refused(fake, changed)
    assert cause(status, "spec") == {"reason": "FieldValueForbidden", "field": "spec", "message": (
        "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")}
    scaled = copy.deepcopy(obj)
    scaled["spec"]["replicas"] = 3
    scaled["spec"]["template"]["spec"]["containers"][0]["image"] = IMAGE.replace("v23.2", "v23.3")
    assert fake.apply(scaled)[0] == 200


def test_deployment_selector_is_immutable(fake):
    obj = deployment("immutable-selector")
    fake.created(obj)
    changed = copy.deepcopy(obj)
    changed["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "octez-node"}
    status = refused(fake, changed)
    assert cause(status, "spec.selector")["message"] == (
        'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app.kubernetes.io/name":"octez-node"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")


def test_pvc_spec_is_immutable_but_for_a_storage_increase(fake):
    obj = pvc("resizable")
    fake.created(obj)
    status = refused(fake, dict(obj, spec=dict(obj["spec"], accessModes=["ReadWriteMany"])))
    assert cause(status, "spec")["message"].startswith(
        "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims")
    status = refused(fake, pvc("resizable", storage="5Gi"))
    assert cause(status, "spec.resources.requests.storage")["message"] == "Forbidden: field can not be less than status.capacity"
    code, body = fake.apply(pvc("resizable", storage="20Gi"))
    assert code == 200 and body["spec"]["resources"]["requests"]["storage"] == "20Gi"


def test_service_cluster_ip_is_immutable(fake):
    obj = service("fixed-ip")
    allocated = fake.created(obj)["spec"]["clusterIP"]
    changed = copy.deepcopy(obj)
    changed["spec"]["clusterIP"] = "None"
    status = refused(fake, changed)
    assert cause(status, "spec.clusterIPs[0]")["message"] == 'Invalid value: []string{"None"}: may not change once set'
    assert fake.get(obj)[1]["spec"]["clusterIP"] == allocated


def test_job_template_is_immutable(fake):
    obj = job("immutable-template")
    fake.created(obj)
    changed = copy.deepcopy(obj)
    changed["spec"]["template"]["spec"]["containers"][0]["command"] = ["octez-node", "config", "show"]
    status = refused(fake, changed)
    assert cause(status, "spec.template")["message"].endswith(": field is immutable")


def test_cluster_role_binding_role_ref_and_storage_class_parameters_are_immutable(fake):
    fake.created(cluster_role_binding("immutable-crb"))
    status = refused(fake, cluster_role_binding("immutable-crb", role="other"))
    assert cause(status, "roleRef")["message"].endswith(": cannot change roleRef")
    fake.created(storage_class("immutable-sc"))
    status = refused(fake, storage_class("immutable-sc", parameters={"type": "pd-ssd"}))
    assert cause(status, "parameters")["message"] == "Forbidden: updates to parameters are forbidden."


# --- Defaults and allocations -----------------------------------------------

def test_deployment_and_pod_template_defaults(fake):
    obj = deployment("defaults", strategy={})
    obj["spec"]["template"]["spec"]["containers"].append(container("latest", image="docker.io/library/busybox", ports=[], volumeMounts=[]))
    live = fake.created(obj)
    spec = live["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    pod = spec["template"]["spec"]
    assert {k: pod[k] for k in ("restartPolicy", "dnsPolicy", "schedulerName", "securityContext", "terminationGracePeriodSeconds")} == {
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler", "securityContext": {},
        "terminationGracePeriodSeconds": 30}
    node, latest = pod["containers"]
    assert (node["imagePullPolicy"], latest["imagePullPolicy"]) == ("IfNotPresent", "Always")
    assert (node["terminationMessagePath"], node["terminationMessagePolicy"]) == ("/dev/termination-log", "File")
    assert node["readinessProbe"] == {"httpGet": {"path": "/health/ready", "port": "rpc", "scheme": "HTTP"}, "periodSeconds": 15,
                                      "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}
    assert pod["volumes"] == [{"name": "config", "configMap": {"name": "node-config", "defaultMode": 420}}]
    assert fake.get(obj)[1] == live


def test_service_defaults_and_allocations(fake):
    live = fake.created(service("lb", type="LoadBalancer", externalTrafficPolicy="Local"))["spec"]
    assert live["sessionAffinity"] == "None" and live["internalTrafficPolicy"] == "Cluster"
    assert live["ipFamilies"] == ["IPv4"] and live["ipFamilyPolicy"] == "SingleStack"
    assert live["clusterIPs"] == [live["clusterIP"]] and live["clusterIP"].startswith("10.96.")
    assert live["allocateLoadBalancerNodePorts"] is True and live["healthCheckNodePort"] >= 30000
    assert [(p["protocol"], p["targetPort"], p["nodePort"] >= 30000) for p in live["ports"]] == [("TCP", "rpc", True), ("TCP", 9732, True)]
    headless = fake.created(service("headless", clusterIP="None"))["spec"]
    assert (headless["type"], headless["clusterIPs"]) == ("ClusterIP", ["None"])


def test_statefulset_cronjob_and_other_defaults(fake):
    sts = fake.created(statefulset("sts-defaults", podManagementPolicy=None))["spec"]
    assert sts["podManagementPolicy"] == "OrderedReady"
    assert sts["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert sts["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert sts["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"
    cron = fake.created(cronjob("cron-defaults"))["spec"]
    assert (cron["suspend"], cron["successfulJobsHistoryLimit"], cron["failedJobsHistoryLimit"]) == (False, 3, 1)
    assert "completions" not in cron["jobTemplate"]["spec"]  # no Job defaults in a job template
    created = fake.created(job("job-defaults"))
    assert {k: created["spec"][k] for k in ("completions", "parallelism", "backoffLimit", "completionMode", "suspend")} == {
        "completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": False}
    assert created["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": created["metadata"]["uid"]}}
    netpol = fake.created(renamed(VALID["NetworkPolicy"], "np-defaults"))["spec"]
    assert netpol["ingress"][0]["ports"][0]["protocol"] == "TCP"
    ns = fake.created(namespace("ns-defaults"))
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "ns-defaults" and ns["spec"]["finalizers"] == ["kubernetes"]
    sc = fake.created(storage_class("sc-defaults", volumeBindingMode=None, reclaimPolicy=None))
    assert (sc["volumeBindingMode"], sc["reclaimPolicy"]) == ("Immediate", "Delete")
    secret = renamed(VALID["Secret"], "secret-defaults")
    del secret["type"]
    assert fake.created(secret)["type"] == "Opaque"


# --- Every kind: accepted, and a second identical apply is a no-op -----------

@pytest.mark.parametrize("kind", sorted(VALID))
def test_a_valid_manifest_is_accepted_and_a_second_apply_changes_nothing(fake, kind):
    obj = renamed(VALID[kind], "noop-" + VALID[kind]["metadata"]["name"])
    code, first = fake.apply(obj)
    assert code == 201, first
    code, second = fake.apply(obj)
    assert code == 200 and second == first and second == fake.get(obj)[1]
    applied = [o for o in fake.state()["objects"] if o["metadata"]["name"] == obj["metadata"]["name"] and o["kind"] == kind]
    assert len(applied) == 1 and applied[0]["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    # The state file keeps what was applied apart from the live object (which holds the defaults).
    stored = copy.deepcopy(applied[0])
    for field in ("uid", "creationTimestamp", "resourceVersion", "generation"):
        stored["metadata"].pop(field)
    expected = copy.deepcopy(obj)
    if kind not in CLUSTER_SCOPED:
        expected["metadata"]["namespace"] = NS
    assert stored == expected
    # Where the manifest leaves something to the server, the live object differs from it.
    if kind not in ("ConfigMap", "ServiceAccount", "PodDisruptionBudget", "ClusterRole", "ClusterRoleBinding", "Secret", "StorageClass"):
        live = copy.deepcopy(second)
        for field in ("uid", "creationTimestamp", "resourceVersion", "generation"):
            live["metadata"].pop(field)
        assert live != expected, "the stored %s holds no default" % kind


def test_a_changed_apply_gets_a_new_resource_version(fake):
    obj = renamed(VALID["ConfigMap"], "changing")
    first = fake.created(obj)
    obj["data"]["run.sh"] = "#!/bin/sh\nexit 0\n"
    second = fake.created(obj)
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])


def test_dry_run_stores_nothing(fake):
    obj = renamed(VALID["Deployment"], "dry")
    code, body = fake.apply(obj, dry_run=True)
    assert code == 201 and body["spec"]["revisionHistoryLimit"] == 10
    assert fake.get(obj)[0] == 404


# --- Formatting --------------------------------------------------------------

def test_bad_values_are_printed_as_json_from_1_34():
    error = k8s_rules.invalid("spec.selector", k8s_rules.go_selector({"matchLabels": {"a": "b"}}), "field is immutable")
    assert error.body(33) == ('Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"a":"b"}, '
                              "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")
    assert error.body(34) == 'Invalid value: {"matchLabels":{"a":"b"}}: field is immutable'
