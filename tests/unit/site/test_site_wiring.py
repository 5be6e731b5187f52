# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The contracts between the bakery's roles, on the whole site rendered from
the example inventory (tests/site/render.yml, once per session: conftest.py).

Each role's own scenario checks what the role renders; these check what one
role uses of another: every name, port, namespace, label, claim, class and
key one side references must exist, as that, on the other side. Each test
is one contract and names both sides.
"""

import re

import pytest
import yaml

from site_render import PLAYBOOK, ROOT, container, pod_template, selects

# StorageClasses GKE clusters have without any role creating them.
GKE_BUILT_IN_STORAGE_CLASSES = {"standard", "standard-rwo", "premium-rwo"}

# Secrets the baker creates out of band (never rendered: they hold keys), and
# the setting that names each.
OUT_OF_BAND_SECRETS = {
    "tezos-signer-forwarder-host-key": "tezos_nodes_forwarder_host_key_secret",
    "tezos-payout-key": "backerei_payout_key_secret",
    "tezos-baker-hot-key": "tezos_nodes_hot_key_secret",
}


def pkh_of_signer_url(url):
    """The key hash at the end of a remote signer URL (http://host:port/tz1...)."""
    return url.rstrip("/").rsplit("/", 1)[1]


# --- monitoring -> tezos_nodes ------------------------------------------------


@pytest.mark.parametrize("job, workload", [("tezos-public-nodes", "octez-public-node"),
                                           ("tezos-baking-node", "octez-baking-node")])
def test_prometheus_node_jobs_resolve_to_the_tezos_nodes_headless_services(site, job, workload):
    """monitoring's DNS scrape of the nodes -> tezos_nodes' headless Services (one A record per pod)
    and their metrics port."""
    for sd in site.scrape_job(job)["dns_sd_configs"]:
        for name in sd["names"]:
            address = "%s:%d" % (name, sd["port"])
            service, port = site.service_at(address, "Prometheus job %s (monitoring)" % job)
            assert service["spec"].get("clusterIP") == "None", \
                "Prometheus job %s resolves %s to pod addresses, but tezos_nodes' Service is not headless" % (job, name)
            target, item, container_port = site.backend_of(service, port)
            assert target["metadata"]["name"] == workload and item["name"] == "octez-node", \
                "Prometheus job %s scrapes %s/%s, not the octez-node of %s" % (
                    job, target["metadata"]["name"], item["name"], workload)
            config = site.config_map("octez-node-config", target["metadata"]["namespace"], "tezos_nodes")
            node_config = yaml.safe_load(config["private.json" if "baking" in workload else "public.json"])
            assert any(addr.endswith(":%d" % container_port) for addr in node_config["metrics_addr"]), \
                "Prometheus job %s scrapes port %d; tezos_nodes' node serves metrics on %s" % (
                    job, container_port, node_config["metrics_addr"])


def test_prometheus_forwarder_job_reaches_the_forwarder_haproxy_metrics(site):
    """monitoring's signer-forwarder job -> tezos_nodes' forwarder Service -> haproxy's metrics frontend."""
    for static in site.scrape_job("signer-forwarder")["static_configs"]:
        for address in static["targets"]:
            service, port = site.service_at(address, "Prometheus job signer-forwarder (monitoring)")
            workload, item, container_port = site.backend_of(service, port)
            assert (workload["metadata"]["name"], item["name"]) == ("signer-forwarder", "haproxy"), address
            binds = site.haproxy.frontend_binds("metrics")
            assert any(bind.endswith(":%d" % container_port) for bind in binds), \
                "Prometheus scrapes haproxy on %d; its metrics frontend binds %s" % (container_port, binds)


def test_prometheus_signer_jobs_are_routed_by_the_forwarder_haproxy(site):
    """monitoring's /signers/<pi>/<endpoint>/metrics scrapes -> a route of tezos_nodes' haproxy."""
    for static in site.scrape_job("signers")["static_configs"]:
        path = static["labels"]["__metrics_path__"]
        for address in static["targets"]:
            service, port = site.service_at(address, "Prometheus job signers (monitoring)")
            assert site.backend_of(service, port)[1]["name"] == "haproxy", address
        assert site.haproxy.route(path), \
            "Prometheus scrapes %s on the forwarder; its haproxy has no route for it" % path


def test_prometheus_signers_are_the_forwarder_signers(site):
    """monitoring_signers (the scrapes' signer label) == the servers of tezos_nodes' haproxy signers backend."""
    scraped = [static["labels"]["signer"] for static in site.scrape_job("signers")["static_configs"]]
    servers = [server[0] for server in site.haproxy.servers("signers")]
    assert sorted(set(scraped)) == sorted(servers), \
        "Prometheus scrapes signers %s; the forwarder's haproxy signs with %s" % (sorted(set(scraped)), servers)


def test_every_prometheus_static_target_is_a_rendered_service_port(site):
    """Every static target of monitoring's Prometheus (and its Alertmanager) -> a rendered Service port."""
    prometheus = site.prometheus
    targets = [("alerting", t) for am in prometheus["alerting"]["alertmanagers"]
               for static in am["static_configs"] for t in static["targets"]]
    targets += [(job["job_name"], t) for job in prometheus["scrape_configs"]
                for static in job.get("static_configs", []) for t in static["targets"]]
    for job, address in targets:
        service, port = site.service_at(address, "Prometheus %s (monitoring)" % job)
        site.backend_of(service, port)


def test_alert_rules_name_the_forwarder_haproxy_backend_and_its_first_signer(site):
    """monitoring's signer rules (proxy=..., server=...) -> tezos_nodes' haproxy backend and its first server."""
    rules = site.rules_text
    proxies = set(re.findall(r'proxy="([^"]+)"', rules))
    servers = set(re.findall(r'server="([^"]+)"', rules))
    assert proxies, "the rules name no haproxy proxy"
    for proxy in proxies:
        assert site.haproxy.servers(proxy), "the rules watch haproxy proxy %s; the forwarder has no such backend" % proxy
    first = site.haproxy.servers("signers")[0][0]
    assert servers == {first}, "the standby rule watches %s; haproxy's first (preferred) signer is %s" % (servers, first)


def test_exporter_rpc_urls_reach_the_public_nodes_rpc(site):
    """monitoring's exporter --node -> tezos_nodes' public nodes' RPC."""
    urls = [arg.split("=", 1)[1] for arg in site.exporter_args if arg.startswith("--node=")]
    assert urls, "the exporter asks no node"
    for url in urls:
        workload, item, port = site.url_backend(url, "the bakery exporter --node (monitoring)")
        assert (workload["metadata"]["name"], item["name"]) == ("octez-public-node", "octez-node"), url
        assert port == 8732 or any(p.get("name") == "rpc" and p["containerPort"] == port for p in item["ports"]), url


def test_prometheus_may_reach_the_metrics_ports_of_the_nodes_and_the_forwarder(site):
    """monitoring's Prometheus NetworkPolicy egress and tezos_nodes' ingress policies let the scrapes through."""
    pods, evaluator = site.pods, site.evaluator
    for name, port in [("octez-public-node", "metrics"), ("octez-baking-node", "metrics"),
                       ("signer-forwarder", "metrics")]:
        target = pods[name]
        assert evaluator.can_reach(pods["prometheus"], target, target.ports[port]), \
            "NetworkPolicies keep Prometheus (%s) from %s's %s port %d" % (
                pods["prometheus"].namespace, name, port, target.ports[port])


def test_exporter_may_reach_the_public_nodes_rpc(site):
    """monitoring's exporter egress (monitoring_public_nodes_selector) and tezos_nodes' rpc-client ingress."""
    pods = site.pods
    public = pods["octez-public-node"]
    assert site.evaluator.can_reach(pods["bakery-exporter"], public, public.ports["rpc"]), \
        "NetworkPolicies keep the bakery exporter (monitoring) from the public nodes' RPC (tezos_nodes)"


def test_volume_alerts_watch_the_namespace_of_the_bakery_volumes(site):
    """monitoring's kubelet_volume_stats rules (namespace=...) -> the namespace of tezos_nodes' and backerei's volumes."""
    watched = set(re.findall(r'kubelet_volume_stats_\w+\{namespace="([^"]+)"\}', site.rules_text))
    volumes = {obj["metadata"]["namespace"] for obj in site.all("PersistentVolumeClaim")}
    volumes |= {w["metadata"]["namespace"] for w in site.all("StatefulSet", "tezos_nodes")}
    assert watched and volumes <= watched, "the volume alerts watch %s; the bakery's volumes are in %s" % (watched, volumes)


# --- the baker, its node and its signer (tezos_nodes) ---------------------------


def test_baker_signer_url_reaches_the_forwarder_guard(site):
    """tezos_nodes' baker (REMOTE_SIGNER) -> the forwarder Service's signer port -> the signer guard container."""
    workload, item, port = site.url_backend(site.baker_signer_url, "the baker's signer URL (tezos_nodes)")
    assert (workload["metadata"]["name"], item["name"]) == ("signer-forwarder", "guard"), site.baker_signer_url
    guard = yaml.safe_load(site.forwarder_config["signer-guard.json"])
    assert guard["port"] == port, "the baker signs through port %d; the guard listens on %d" % (port, guard["port"])


def test_guard_forwards_to_the_haproxy_signer_frontend(site):
    """The signer guard's upstream_url -> haproxy's signer frontend (same pod) -> the signers backend."""
    guard = yaml.safe_load(site.forwarder_config["signer-guard.json"])
    upstream = re.match(r"^http://([^/]+)$", guard["upstream_url"]).group(1)
    binds = site.haproxy.frontend_binds("signer")
    assert upstream in binds, "the guard forwards to %s; haproxy's signer frontend binds %s" % (upstream, binds)
    assert any(line == "default_backend signers" for line in site.haproxy.sections[("frontend", "signer")])


def test_baker_and_accuser_use_the_node_rpc_of_their_pod(site):
    """tezos_nodes' baker and accuser --endpoint -> the baking node's RPC listen address (same pod)."""
    baking = site.baking_node
    node_config = yaml.safe_load(site.config_map("octez-node-config", baking["metadata"]["namespace"],
                                                 "tezos_nodes")["private.json"])
    for name in ("octez-baker", "octez-accuser"):
        endpoints = [arg.split("=", 1)[1] for arg in container(baking, name)["command"] if arg.startswith("--endpoint=")]
        assert endpoints, "%s names no node endpoint" % name
        for endpoint in endpoints:
            address = re.match(r"^http://([^/]+)$", endpoint).group(1)
            assert address in node_config["rpc"]["listen-addrs"], \
                "%s asks %s; the baking node's RPC listens on %s" % (name, address, node_config["rpc"]["listen-addrs"])


def test_baking_node_may_reach_the_forwarder_signer_port(site):
    """tezos_nodes' baking node egress and the forwarder's ingress let the baker sign."""
    pods = site.pods
    forwarder = pods["signer-forwarder"]
    assert site.evaluator.can_reach(pods["octez-baking-node"], forwarder, forwarder.ports["signer"]), \
        "NetworkPolicies keep the baker from the forwarder's signer port"


# --- the Pis (inventory, signer_tunnel, signer roles) -> the forwarder ----------


def test_each_pi_tunnel_signer_port_is_its_haproxy_server(site):
    """Each Pi's signer_tunnel_remote_signer_port / _health_port (hosts.yml) -> its server (and check port)
    in tezos_nodes' haproxy signers backend."""
    servers = {name: (host, port, check) for name, host, port, check in site.haproxy.servers("signers")}
    for name, pi in site.signers.items():
        assert name in servers, "%s is a signer in the inventory; haproxy has servers %s" % (name, sorted(servers))
        assert servers[name][1] == pi["signer_tunnel_remote_signer_port"], \
            "%s's tunnel carries its signer to port %s; haproxy sends its requests to %s" % (
                name, pi["signer_tunnel_remote_signer_port"], servers[name][1])
        assert servers[name][2] == pi["signer_tunnel_remote_health_port"], \
            "%s's tunnel carries its /healthz to port %s; haproxy checks port %s" % (
                name, pi["signer_tunnel_remote_health_port"], servers[name][2])


def test_haproxy_signs_with_the_inventory_signers_first_one_first(site):
    """The signers group (hosts.yml, in order of preference) == tezos_nodes' haproxy servers, in order."""
    servers = [server[0] for server in site.haproxy.servers("signers")]
    assert servers == site.signer_names, "the inventory's signers are %s; haproxy's %s" % (site.signer_names, servers)


def test_each_pi_tunnel_carries_the_metrics_ports_haproxy_routes_to(site):
    """Each /signers/<pi>/<endpoint>/metrics route of tezos_nodes' haproxy -> the Pi's tunnel port that carries
    that endpoint (health: signer_health, ups: ups_hat, lte: lte_failover)."""
    haproxy = site.haproxy
    for name, pi in site.signers.items():
        local_port = {"health": pi["signer_health_port"], "ups": pi["ups_hat_metrics_port"],
                      "lte": pi["lte_failover_port"]}
        carried = {pi["signer_tunnel_local_health_port"]: pi["signer_tunnel_remote_health_port"]}
        carried.update({f["local_port"]: f["remote_port"] for f in pi["signer_tunnel_extra_forwards"]})
        for endpoint, port in local_port.items():
            path = "/signers/%s/%s/metrics" % (name, endpoint)
            backend = haproxy.route(path)
            if backend is None:
                continue
            servers = haproxy.servers(backend)
            assert port in carried, "haproxy routes %s, but %s's tunnel does not carry its port %d" % (path, name, port)
            assert [s[2] for s in servers] == [carried[port]], \
                "haproxy routes %s to %s; %s's tunnel carries port %d to %d" % (
                    path, [s[2] for s in servers], name, port, carried[port])


def test_forwarder_sshd_lets_each_pi_listen_where_haproxy_connects(site):
    """tezos_nodes' forwarder authorized_keys (the lines signer_tunnel exports): each Pi may listen on every port
    haproxy connects to for it, on an address that covers haproxy's (loopback)."""
    haproxy = site.haproxy
    lines = [line for line in site.forwarder_config["authorized_keys"].splitlines() if line.strip()]
    for name, pi in site.signers.items():
        mine = [line for line in lines if line.split()[-1].endswith("@" + name)]
        assert mine == [pi["signer_tunnel_authorized_key"]], \
            "the forwarder's authorized_keys lacks the line signer_tunnel exports for %s" % name
        permitted = re.findall(r'permitlisten="([^"]+)"', mine[0])
        wanted = [(host, port) for backend, servers in haproxy.sections.items() if backend[0] == "backend"
                  for server_name, host, port, _check in haproxy.servers(backend[1])
                  if server_name == name or server_name.startswith(name + "_")]
        wanted += [(host, check) for server_name, host, _port, check in haproxy.servers("signers") if server_name == name]
        for host, port in wanted:
            covering = [p for p in permitted if p.rsplit(":", 1)[-1] == str(port)
                        and (":" not in p or p.rsplit(":", 1)[0] in ("0.0.0.0", "*", host, "localhost"))]
            assert covering, "haproxy connects to %s:%d for %s; the forwarder's sshd lets it listen on %s only" % (
                host, port, name, permitted)


def test_pi_tunnels_reach_the_forwarder_sshd(site):
    """signer_tunnel_forwarder_port / _user (the Pis) -> tezos_nodes' forwarder ssh Service and sshd_config."""
    service = site.get("Service", "signer-forwarder-ssh", role="tezos_nodes")
    sshd = site.sshd_config
    for name, pi in site.signers.items():
        ports = [p for p in service["spec"]["ports"] if p["port"] == pi["signer_tunnel_forwarder_port"]]
        assert ports, "%s's tunnel connects to port %s; the forwarder's load balancer serves %s" % (
            name, pi["signer_tunnel_forwarder_port"], [p["port"] for p in service["spec"]["ports"]])
        _workload, item, container_port = site.backend_of(service, ports[0])
        assert item["name"] == "sshd" and sshd["Port"] == [str(container_port)], (item["name"], sshd["Port"])
        assert sshd["AllowUsers"] == [pi["signer_tunnel_forwarder_user"]], \
            "%s's tunnel logs in as %s; the forwarder's sshd allows %s" % (
                name, pi["signer_tunnel_forwarder_user"], sshd["AllowUsers"])


def test_pi_tunnels_carry_the_pi_signer_and_health_ports(site):
    """signer_tunnel_local_signer_port / _health_port -> tezos_signer_port / signer_health_port on the same Pi."""
    for name, pi in site.signers.items():
        assert pi["signer_tunnel_local_signer_port"] == pi["tezos_signer_port"], name
        assert pi["signer_tunnel_local_health_port"] == pi["signer_health_port"], name


# --- the keys -------------------------------------------------------------------


def test_baker_signs_with_the_key_the_pis_hold(site):
    """tezos_nodes' baker key (its signer URL) -> a key of each Pi's signer (tezos_signer_keys), the key
    signer_health checks."""
    baker = pkh_of_signer_url(site.baker_signer_url)
    for name, pi in site.signers.items():
        held = [key["pkh"] for key in pi["tezos_signer_keys"]]
        assert baker in held, "the baker signs for %s; %s's signer holds %s" % (baker, name, held)
        assert pi["signer_health_pkh"] == baker, \
            "the baker signs for %s; %s's /healthz checks %s" % (baker, name, pi["signer_health_pkh"])


def test_exporter_watches_the_baker(site):
    """monitoring's exporter --delegate -> the key tezos_nodes' baker bakes with."""
    baker = pkh_of_signer_url(site.baker_signer_url)
    delegates = [arg.split("=", 1)[1] for arg in site.exporter_args if arg.startswith("--delegate=")]
    assert delegates == [baker], "the exporter watches %s; the baker bakes for %s" % (delegates, baker)


def test_payouts_and_payout_site_are_for_the_baker(site):
    """backerei's tezpay baker and payout_site's --baker -> the key tezos_nodes' baker bakes with."""
    baker = pkh_of_signer_url(site.baker_signer_url)
    config, _signer = site.tezpay
    assert config["baker"] == baker, "tezpay pays for %s; the baker bakes for %s" % (config["baker"], baker)
    job = site.get("CronJob", "payout-site", role="payout_site")
    args = container(job, "pages")["command"]
    assert "--baker=" + baker in args, "the payout site lists %s; the baker bakes for %s" % (
        [a for a in args if a.startswith("--baker=")], baker)


def test_payout_key_is_not_a_key_of_the_ledgers(site):
    """backerei's payout wallet (remote_signer.hjson) is none of the Pis' Ledger keys (never pay with the baking key)."""
    _config, signer = site.tezpay
    for name, pi in site.signers.items():
        assert signer["pkh"] not in [key["pkh"] for key in pi["tezos_signer_keys"]], \
            "the payouts are signed with %s, a key of %s's Ledger" % (signer["pkh"], name)


# --- backerei and payout_site -> tezos_nodes and each other ----------------------


def test_tezpay_rpc_pool_reaches_the_public_nodes_rpc(site):
    """backerei's tezpay rpc_pool -> tezos_nodes' public nodes' RPC."""
    config, _signer = site.tezpay
    for url in config["network"]["rpc_pool"]:
        workload, item, _port = site.url_backend(url, "tezpay's rpc_pool (backerei)")
        assert (workload["metadata"]["name"], item["name"]) == ("octez-public-node", "octez-node"), url


def test_tezpay_signer_url_reaches_the_payout_signer(site):
    """backerei's remote_signer.hjson url -> the payout signer Service -> its octez-signer container."""
    _config, signer = site.tezpay
    workload, item, _port = site.url_backend(signer["url"], "tezpay's remote signer (backerei)")
    assert (workload["metadata"]["name"], item["name"]) == ("payout-signer", "octez-signer"), signer["url"]


def test_tezpay_may_reach_the_public_nodes_rpc_and_its_signer(site):
    """backerei's payouts NetworkPolicy and tezos_nodes' public node policy let tezpay read the chain and sign."""
    pods, evaluator = site.pods, site.evaluator
    payouts, public, signer = pods["tezpay-payouts"], pods["octez-public-node"], pods["payout-signer"]
    assert evaluator.can_reach(payouts, public, public.ports["rpc"]), \
        "NetworkPolicies keep tezpay (backerei) from the public nodes' RPC (tezos_nodes)"
    assert evaluator.can_reach(payouts, signer, signer.ports["signer"]), \
        "NetworkPolicies keep tezpay from its payout signer"


def test_payout_site_mounts_the_backerei_reports_claim(site):
    """payout_site's reports volume (payout_site_reports_claim) -> backerei's reports PersistentVolumeClaim."""
    job = site.get("CronJob", "payout-site", role="payout_site")
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod_template(job)["spec"]["volumes"]
              if "persistentVolumeClaim" in v]
    tezpay = site.get("CronJob", "tezpay-payouts", role="backerei")
    written = [v["persistentVolumeClaim"]["claimName"] for v in pod_template(tezpay)["spec"]["volumes"]
               if "persistentVolumeClaim" in v]
    assert claims, "the payout site mounts no reports claim"
    for claim in claims:
        site.get("PersistentVolumeClaim", claim, job["metadata"]["namespace"], role="backerei")
        assert claim in written, "the payout site reads claim %s; tezpay writes its reports to %s" % (claim, written)


# --- names, classes and selectors across the site ---------------------------------


def test_every_in_cluster_address_names_a_rendered_service(site):
    """Every <svc>.<ns>.svc.cluster.local[:port] in any rendered object (arguments, environment, configuration
    files) -> a Service (port) some role renders."""
    found = set()

    def walk(value, where):
        if isinstance(value, dict):
            for item in value.values():
                walk(item, where)
        elif isinstance(value, list):
            for item in value:
                walk(item, where)
        elif isinstance(value, str):
            for match in re.finditer(r"((?:[a-z0-9-]+\.)+svc\.cluster\.local(?::[0-9]+)?)", value):
                found.add((match.group(1), where))

    for obj in site.objects:
        walk(obj, "%s %s/%s (%s)" % (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"],
                                     site.role_of(obj)))
    assert found
    errors = []
    for address, where in sorted(found):
        try:
            site.service_at(address, where)
        except AssertionError as error:
            errors.append(str(error).split("\n", 1)[0])
    assert not errors, "\n".join(errors)


def test_every_service_selects_rendered_pods_on_their_ports(site):
    """Every rendered Service -> pods some role renders, and every targetPort -> one of their container ports."""
    for service in site.all("Service"):
        for port in service["spec"]["ports"]:
            site.backend_of(service, port)


def test_every_referenced_config_map_and_secret_exists(site):
    """Every ConfigMap / Secret a pod mounts (and every key it picks) -> one a role renders, or a Secret the
    baker creates out of band (OUT_OF_BAND_SECRETS)."""
    for workload in site.workloads():
        namespace = workload["metadata"]["namespace"]
        spec = pod_template(workload)["spec"]
        who = "%s %s/%s (%s)" % (workload["kind"], namespace, workload["metadata"]["name"], site.role_of(workload))
        keys_by_volume = {}
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                data = site.config_map(volume["configMap"]["name"], namespace)
                keys_by_volume[volume["name"]] = set(data)
                for item in volume["configMap"].get("items", []):
                    assert item["key"] in data, "%s picks key %s of ConfigMap %s, which has %s" % (
                        who, item["key"], volume["configMap"]["name"], sorted(data))
            if "secret" in volume:
                name = volume["secret"]["secretName"]
                rendered = [s for s in site.all("Secret") if s["metadata"]["name"] == name
                            and s["metadata"]["namespace"] == namespace]
                assert rendered or name in OUT_OF_BAND_SECRETS, \
                    "%s mounts Secret %s, which no role renders nor the baker is told to create" % (who, name)
        for item in containers_of(spec):
            for mount in item.get("volumeMounts", []):
                if mount.get("subPath") and mount["name"] in keys_by_volume:
                    assert mount["subPath"] in keys_by_volume[mount["name"]], \
                        "%s mounts key %s of volume %s, which has %s" % (
                            who, mount["subPath"], mount["name"], sorted(keys_by_volume[mount["name"]]))


def containers_of(spec):
    return spec.get("initContainers", []) + spec["containers"]


def test_every_service_account_used_exists(site):
    """Every serviceAccountName of a pod -> a ServiceAccount rendered in its namespace; every
    ClusterRoleBinding subject -> a rendered ServiceAccount."""
    accounts = {(a["metadata"]["namespace"], a["metadata"]["name"]) for a in site.all("ServiceAccount")}
    for workload in site.workloads():
        name = pod_template(workload)["spec"].get("serviceAccountName")
        if name:
            assert (workload["metadata"]["namespace"], name) in accounts, (workload["metadata"]["name"], name)
    for binding in site.all("ClusterRoleBinding"):
        for subject in binding["subjects"]:
            assert (subject["namespace"], subject["name"]) in accounts, subject
        site.get("ClusterRole", binding["roleRef"]["name"])


def test_every_storage_class_used_is_created_or_built_in(site):
    """Every storageClassName of a claim (tezos_nodes, backerei, monitoring) -> a StorageClass gke_cluster or
    tezos_nodes renders, or one GKE has built in."""
    created = {sc["metadata"]["name"]: site.role_of(sc) for sc in site.all("StorageClass")}
    claims = [(c["metadata"]["name"], c["spec"].get("storageClassName"), site.role_of(c))
              for c in site.all("PersistentVolumeClaim")]
    claims += [(t["metadata"]["name"], t["spec"].get("storageClassName"), site.role_of(s))
               for s in site.all("StatefulSet") for t in s["spec"].get("volumeClaimTemplates", [])]
    for name, storage_class, role in claims:
        if storage_class is None:
            continue  # the cluster's default class
        assert storage_class in created or storage_class in GKE_BUILT_IN_STORAGE_CLASSES, \
            "%s's claim %s uses StorageClass %s; rendered: %s (GKE has %s)" % (
                role, name, storage_class, created, sorted(GKE_BUILT_IN_STORAGE_CLASSES))


def test_regional_volumes_use_the_gke_cluster_regional_class(site):
    """tezos_nodes' node and guard volumes -> the regional-pd StorageClass gke_cluster renders."""
    regional = {sc["metadata"]["name"] for sc in site.all("StorageClass", "gke_cluster")
                if sc["parameters"].get("replication-type") == "regional-pd"}
    assert regional, "gke_cluster renders no regional StorageClass"
    used = {t["spec"]["storageClassName"] for s in site.all("StatefulSet", "tezos_nodes")
            for t in s["spec"]["volumeClaimTemplates"]}
    used |= {c["spec"]["storageClassName"] for c in site.all("PersistentVolumeClaim", "tezos_nodes")}
    created_by_tezos_nodes = {sc["metadata"]["name"] for sc in site.all("StorageClass", "tezos_nodes")}
    assert used <= regional | created_by_tezos_nodes, \
        "tezos_nodes' volumes use %s; gke_cluster creates %s" % (used, regional)


def test_every_namespace_used_is_rendered_and_the_shared_one_agrees(site):
    """Every object's namespace -> a Namespace some role renders; the bakery namespace tezos_nodes, backerei and
    payout_site each render is one and the same object."""
    namespaces = {}
    for ns in site.all("Namespace"):
        namespaces.setdefault(ns["metadata"]["name"], []).append((site.role_of(ns), ns))
    for obj in site.objects:
        namespace = obj["metadata"].get("namespace")
        if namespace:
            assert namespace in namespaces, "%s %s/%s (%s) is in a namespace no role renders (%s)" % (
                obj["kind"], namespace, obj["metadata"]["name"], site.role_of(obj), sorted(namespaces))
    for name, copies in namespaces.items():
        first_role, first = copies[0]
        for role, other in copies[1:]:
            assert other["metadata"] == first["metadata"], \
                "Namespace %s: %s renders %s, %s renders %s" % (name, first_role, first["metadata"], role,
                                                                other["metadata"])


def test_network_policy_selectors_select_rendered_pods(site):
    """Every podSelector of a NetworkPolicy (its own, and each peer's) -> pods some role renders in that
    namespace (a stale label silently opens or closes nothing)."""
    pods = list(site.pods.values())
    namespaces = {ns["metadata"]["name"] for ns in site.all("Namespace")}
    for policy in site.all("NetworkPolicy"):
        namespace = policy["metadata"]["namespace"]
        who = "NetworkPolicy %s/%s (%s)" % (namespace, policy["metadata"]["name"], site.role_of(policy))
        labels = policy["spec"]["podSelector"].get("matchLabels")
        if labels:
            assert any(p.namespace == namespace and selects(labels, p.labels) for p in pods), \
                "%s applies to pods %s; none is rendered" % (who, labels)
        for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", []):
            for peer in rule.get("from", []) + rule.get("to", []):
                peer_namespaces = {namespace}
                if "namespaceSelector" in peer:
                    match = (peer["namespaceSelector"].get("matchLabels") or {}).get("kubernetes.io/metadata.name")
                    if match not in namespaces:
                        continue  # kube-system, gmp-system: not the bakery's
                    peer_namespaces = {match}
                labels = (peer.get("podSelector") or {}).get("matchLabels")
                if labels:
                    assert any(p.namespace in peer_namespaces and selects(labels, p.labels) for p in pods), \
                        "%s names peers %s in %s; no such pod is rendered" % (who, labels, peer_namespaces)


# --- the render itself ----------------------------------------------------------------


def test_render_playbook_runs_the_kubernetes_roles_as_site_yml_does():
    """tests/site/render.yml includes the Kubernetes roles of playbooks/site.yml, in its order and under its
    conditions (it cannot import site.yml: site.yml calls GCP first)."""
    def includes(path, roles):
        with open(path, encoding="utf-8") as handle:
            plays = yaml.safe_load(handle)
        found = []
        for play in plays:
            for task in play.get("tasks", []):
                include = task.get("ansible.builtin.include_role")
                if include and include["name"].split(".")[-1] in roles and "tasks_from" not in include:
                    found.append((include["name"], task.get("when")))
        return found

    kubernetes_roles = ("tezos_nodes", "backerei", "payout_site", "monitoring")
    site_yml = includes(ROOT + "/playbooks/site.yml", kubernetes_roles)
    assert [name for name, _vars in site_yml] == ["tezos.bakery." + role for role in kubernetes_roles]
    assert includes(PLAYBOOK, kubernetes_roles) == site_yml
