# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The whole site rendered from the example inventory, and its look-ups.

:func:`run_render` runs tests/site/render.yml (every cloud role in
render-only mode, into one folder); :class:`Site` hands the tests every
rendered object, the configurations the pods read (Prometheus, its rules,
haproxy, sshd, the signer guard, tezpay), the Pis' settings, and a few
look-ups ("which Service answers at this address, and which container is
behind it?").
"""

import glob
import json
import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
K8S_TESTS = os.path.join(ROOT, "tests", "k8s")
if K8S_TESTS not in sys.path:
    sys.path.insert(0, K8S_TESTS)

import manifests  # noqa: E402 pylint: disable=wrong-import-position
from netpol import Evaluator, pods_from_workloads  # noqa: E402 pylint: disable=wrong-import-position

PLAYBOOK = os.path.join(ROOT, "tests", "site", "render.yml")
INVENTORY = os.path.join(ROOT, "inventories", "example", "hosts.yml")
# The roles the render writes, each in <render_dir>/<role>/.
ROLES = ("tezos_nodes", "backerei", "payout_site", "monitoring", "gke_cluster")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
IN_CLUSTER = re.compile(r"^(?P<host>(?:[a-z0-9-]+\.)+svc\.cluster\.local)(?::(?P<port>[0-9]+))?$")


def pod_template(workload):
    """The pod template of a workload (a CronJob's through its job template)."""
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]
    return workload["spec"]["template"]


def containers(workload):
    """Init containers and containers of a workload's pods."""
    spec = pod_template(workload)["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def container(workload, name):
    """One container (or init container) of a workload, by name."""
    found = [c for c in containers(workload) if c["name"] == name]
    assert found, "%s/%s has no container %s" % (workload["kind"], workload["metadata"]["name"], name)
    return found[0]


def selects(selector, labels):
    """A Service's (equality) selector or a matchLabels against pod labels."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def parse_haproxy(text):
    """{(section, name): [lines]} of an haproxy.cfg ("global" and "defaults" with name "")."""
    sections = {}
    current = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not raw[0].isspace():
            words = line.split()
            current = (words[0], words[1] if len(words) > 1 else "")
            sections[current] = []
        elif current is not None:
            sections[current].append(line.strip())
    return sections


class Haproxy:
    """The forwarder's haproxy.cfg: backends, their servers, the metrics routes."""

    def __init__(self, text):
        self.sections = parse_haproxy(text)

    def servers(self, backend):
        """[(name, host, port, check_port)] of a backend, in order."""
        result = []
        for line in self.sections.get(("backend", backend), []):
            words = line.split()
            if words[0] == "server":
                host, port = words[2].rsplit(":", 1)
                check = int(words[words.index("port") + 1]) if "port" in words else int(port)
                result.append((words[1], host, int(port), check))
        return result

    def frontend_binds(self, frontend):
        """["host:port"] a frontend binds."""
        return [line.split()[1] for line in self.sections.get(("frontend", frontend), []) if line.startswith("bind ")]

    def route(self, path):
        """The backend a request for exactly this path goes to on the metrics frontend, or None."""
        for line in self.sections.get(("frontend", "metrics"), []):
            match = re.match(r"^use_backend (\S+) if \{ path (\S+) \}$", line)
            if match and match.group(2) == path:
                return match.group(1)
        return None


class Site:
    """Everything the render wrote, and the look-ups the wiring checks share."""

    def __init__(self, render_dir):
        self.dir = render_dir
        self.by_role = {role: manifests.all_objects(os.path.join(render_dir, role)) for role in ROLES
                        if role != "gke_cluster"}
        # gke_cluster writes its StorageClass as storageclass-<name>.yaml.
        self.by_role["gke_cluster"] = []
        for path in sorted(glob.glob(os.path.join(render_dir, "gke_cluster", "*.yaml"))):
            with open(path, encoding="utf-8") as handle:
                self.by_role["gke_cluster"] += [doc for doc in yaml.safe_load_all(handle) if doc]
        self.objects = [obj for objects in self.by_role.values() for obj in objects]
        # The signers group, in the inventory's order (the order of preference).
        with open(INVENTORY, encoding="utf-8") as handle:
            self.signer_names = list(yaml.safe_load(handle)["all"]["children"]["signers"]["hosts"])
        self.signers = {}
        for name in self.signer_names:
            with open(os.path.join(render_dir, "signers", name + ".json"), encoding="utf-8") as handle:
                self.signers[name] = json.load(handle)

    # --- objects ---------------------------------------------------------

    def role_of(self, obj):
        """The role that rendered an object."""
        for role, objects in self.by_role.items():
            if any(other is obj for other in objects):
                return role
        return "?"

    def all(self, kind, role=None):
        """Objects of a kind (of one role)."""
        objects = self.by_role[role] if role else self.objects
        return [obj for obj in objects if obj["kind"] == kind]

    def get(self, kind, name, namespace=None, role=None):
        """The one object of that kind, name (and namespace); fails naming what exists."""
        found = [obj for obj in self.all(kind, role) if obj["metadata"]["name"] == name
                 and (namespace is None or obj["metadata"].get("namespace") == namespace)]
        assert len(found) == 1, "%s %s/%s: %d rendered (%s has: %s)" % (
            kind, namespace, name, len(found), role or "the site",
            sorted("%s/%s" % (o["metadata"].get("namespace"), o["metadata"]["name"]) for o in self.all(kind, role)))
        return found[0]

    def workloads(self, role=None):
        """Every workload (of one role)."""
        return [obj for kind in WORKLOAD_KINDS for obj in self.all(kind, role)]

    def workloads_selected(self, namespace, selector):
        """Workloads of a namespace whose pods the selector (a Service's) selects."""
        return [w for w in self.workloads() if w["metadata"].get("namespace") == namespace
                and selects(selector, pod_template(w)["metadata"].get("labels") or {})]

    def config_map(self, name, namespace, role=None):
        """The data of a rendered ConfigMap."""
        return self.get("ConfigMap", name, namespace, role)["data"]

    # --- configurations the pods read ----------------------------------------

    @property
    def monitoring_namespace(self):
        return self.get("StatefulSet", "prometheus", role="monitoring")["metadata"]["namespace"]

    @property
    def prometheus(self):
        return yaml.safe_load(self.config_map("prometheus", self.monitoring_namespace, "monitoring")["prometheus.yml"])

    def scrape_job(self, name):
        jobs = {job["job_name"]: job for job in self.prometheus["scrape_configs"]}
        assert name in jobs, "Prometheus has no job %s (it has %s)" % (name, sorted(jobs))
        return jobs[name]

    @property
    def rules_text(self):
        return self.config_map("prometheus-rules", self.monitoring_namespace, "monitoring")["tezos-bakery.rules.yml"]

    @property
    def forwarder(self):
        return self.get("Deployment", "signer-forwarder", role="tezos_nodes")

    @property
    def forwarder_config(self):
        forwarder = self.forwarder
        return self.config_map(forwarder["metadata"]["name"], forwarder["metadata"]["namespace"], "tezos_nodes")

    @property
    def haproxy(self):
        return Haproxy(self.forwarder_config["haproxy.cfg"])

    @property
    def sshd_config(self):
        config = {}
        for line in self.forwarder_config["sshd_config"].splitlines():
            words = line.split()
            if words and not words[0].startswith("#") and words[0] not in config:
                config[words[0]] = words[1:]
        return config

    @property
    def baking_node(self):
        return self.get("StatefulSet", "octez-baking-node", role="tezos_nodes")

    @property
    def baker_signer_url(self):
        env = {e["name"]: e.get("value") for e in container(self.baking_node, "import-key").get("env", [])}
        return env["REMOTE_SIGNER"]

    @property
    def exporter_args(self):
        exporter = self.get("Deployment", "bakery-exporter", role="monitoring")
        return container(exporter, "exporter")["command"]

    @property
    def tezpay(self):
        data = self.config_map("tezpay", None, "backerei")
        return json.loads(data["config.hjson"]), json.loads(data["remote_signer.hjson"])

    # --- addresses -------------------------------------------------------------

    def service_at(self, address, who):
        """The Service (and its port entry) answering at "<svc>.<ns>.svc.cluster.local[:port]"
        or at a StatefulSet pod's "<pod>.<svc>.<ns>.svc.cluster.local[:port]"; `who` names the
        side that uses the address, for the failure message."""
        match = IN_CLUSTER.match(address)
        assert match, "%s: %r is not an in-cluster address" % (who, address)
        labels = match.group("host").split(".")[:-3]
        assert len(labels) in (2, 3), "%s: %r is not <svc>.<ns> or <pod>.<svc>.<ns>" % (who, address)
        pod, service_name, namespace = ([None] + labels)[-3:]
        services = [s for s in self.all("Service") if s["metadata"]["name"] == service_name
                    and s["metadata"]["namespace"] == namespace]
        assert services, "%s uses %s, but no role renders a Service %s in namespace %s (Services rendered: %s)" % (
            who, address, service_name, namespace,
            sorted("%s/%s (%s)" % (s["metadata"]["namespace"], s["metadata"]["name"], self.role_of(s))
                   for s in self.all("Service")))
        service = services[0]
        if pod is not None:
            assert service["spec"].get("clusterIP") == "None", "%s: %s is not headless: no pod names" % (who, address)
            owners = [s for s in self.all("StatefulSet") if s["spec"]["serviceName"] == service_name
                      and s["metadata"]["namespace"] == namespace]
            assert owners and re.match(r"^%s-[0-9]+$" % re.escape(owners[0]["metadata"]["name"]), pod) \
                and int(pod.rsplit("-", 1)[1]) < int(owners[0]["spec"].get("replicas", 1)), \
                "%s: no StatefulSet of Service %s has a pod %s" % (who, service_name, pod)
        port_entry = None
        if match.group("port"):
            port = int(match.group("port"))
            entries = [p for p in service["spec"]["ports"] if p["port"] == port]
            assert entries, "%s uses port %d of Service %s/%s (%s), which has only %s" % (
                who, port, namespace, service_name, self.role_of(service),
                ["%s %s" % (p.get("name"), p["port"]) for p in service["spec"]["ports"]])
            port_entry = entries[0]
        return service, port_entry

    def backend_of(self, service, port_entry):
        """(workload, container, containerPort) a Service port sends to: its selector must
        select rendered pods and its targetPort be one of their containers' ports."""
        namespace = service["metadata"]["namespace"]
        target = port_entry.get("targetPort", port_entry["port"])
        selected = self.workloads_selected(namespace, service["spec"].get("selector"))
        assert selected, "Service %s/%s (%s) selects no rendered pod (selector %s)" % (
            namespace, service["metadata"]["name"], self.role_of(service), service["spec"].get("selector"))
        for workload in selected:
            for item in pod_template(workload)["spec"]["containers"]:
                for entry in item.get("ports", []):
                    if target in (entry.get("name"), entry["containerPort"]):
                        return workload, item, entry["containerPort"]
        raise AssertionError("Service %s/%s port %s targets %r, which no container of %s exposes" % (
            namespace, service["metadata"]["name"], port_entry["port"], target,
            [w["metadata"]["name"] for w in selected]))

    def url_backend(self, url, who):
        """The (workload, container, containerPort) an http URL with an in-cluster host reaches."""
        match = re.match(r"^https?://([^/]+)(/.*)?$", url)
        assert match, "%s: %r is not an http URL" % (who, url)
        service, port_entry = self.service_at(match.group(1), who)
        assert port_entry is not None, "%s: %r names no port" % (who, url)
        return self.backend_of(service, port_entry)

    # --- NetworkPolicies ---------------------------------------------------------

    @property
    def evaluator(self):
        return Evaluator(self.objects)

    @property
    def pods(self):
        namespace_labels = {ns["metadata"]["name"]: ns["metadata"].get("labels") or {} for ns in self.all("Namespace")}
        return pods_from_workloads(self.objects, namespace_labels)


def run_render(render_dir):
    """ansible-playbook tests/site/render.yml into render_dir; its output on failure."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    command = [playbook if os.access(playbook, os.X_OK) else "ansible-playbook", "-i", INVENTORY, PLAYBOOK,
               "-e", "site_render_dir=%s" % render_dir]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail("the site render failed (%s):\n%s" % (shlex.join(command),
                                                          "\n".join((result.stdout + result.stderr).splitlines()[-60:])),
                    pytrace=False)
