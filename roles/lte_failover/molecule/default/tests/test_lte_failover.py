"""The uplink failover on the Pi, for real: two uplinks built from network
namespaces and veth pairs (prepare.yml's uplink-lab), the daemon probing
through each with raw ICMP sockets, and the kernel's default route moving.

The measured times are printed (MEASURED ...) in the molecule log."""
import json
import time

import pytest

WIRED, LTE = "eth-wired", "eth-lte"
# Every default route of the two uplinks, as (interface, gateway, metric).
ON_WIRED = {(WIRED, "10.91.0.1", 100), (LTE, "10.92.0.1", 200)}
ON_LTE = {(WIRED, "10.91.0.1", 1000), (LTE, "10.92.0.1", 200)}
# converge.yml's timings.
INTERVAL, TIMEOUT, FAILURES, HOLD = 1, 1, 2, 4
# Slack for a loaded test machine (bounds are checked from above only where
# nothing below is meaningful).
MARGIN = 5
SWITCH_BOUND = INTERVAL * FAILURES + TIMEOUT + MARGIN
FAILBACK_BOUND = HOLD + INTERVAL + TIMEOUT + MARGIN
URL = "http://127.0.0.1:9102"


def lab(host, *args):
    return host.check_output("uplink-lab " + " ".join(args))


def wait_active(host, interface, timeout):
    """Seconds from the last cut/restore until `interface` carries the default route."""
    out = host.run("uplink-lab wait-active %s %s", interface, str(timeout))
    assert out.rc == 0, "%s not active within %s s: %s" % (interface, timeout, out.stderr)
    return float(out.stdout)


def uplink_routes(host):
    routes = json.loads(host.check_output("ip -4 -j route show default"))
    return {(r["dev"], r.get("gateway"), r.get("metric", 0)) for r in routes if r["dev"] in (WIRED, LTE)}


def status(host):
    return json.loads(host.check_output("curl -sf -m 5 %s/status", URL))


def metrics(host):
    samples = {}
    for line in host.check_output("curl -sf -m 5 %s/metrics", URL).splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def healthy(host):
    return {uplink["name"]: uplink["healthy"] for uplink in status(host)["uplinks"]}


def wait_for(check, timeout):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met within %s s" % timeout
        time.sleep(0.5)


@pytest.fixture
def on_wired(host):
    """The starting point: both lines up, both healthy, traffic on wired."""
    lab(host, "restore", "all")
    wait_for(lambda: status(host)["active"] == "wired" and healthy(host) == {"wired": True, "lte": True},
             FAILBACK_BOUND + 5)
    assert uplink_routes(host) == ON_WIRED
    yield
    lab(host, "restore", "all")


def fail_over(host, mode="link"):
    lab(host, "cut", "wired", mode)
    seconds = wait_active(host, LTE, SWITCH_BOUND)
    assert uplink_routes(host) == ON_LTE
    return seconds


def fail_back(host):
    lab(host, "restore", "wired")
    seconds = wait_active(host, WIRED, FAILBACK_BOUND)
    assert uplink_routes(host) == ON_WIRED
    return seconds


def test_service_is_root_with_network_capabilities_only(host):
    service = host.service("tezos-lte-failover")
    assert service.is_running and service.is_enabled
    props = host.check_output("systemctl show tezos-lte-failover -p User -p CapabilityBoundingSet "
                              "-p NoNewPrivileges -p ProtectSystem -p PrivateDevices -p RestrictAddressFamilies")
    assert "CapabilityBoundingSet=cap_net_admin cap_net_raw\n" in props + "\n"
    assert "NoNewPrivileges=yes" in props
    assert "ProtectSystem=strict" in props
    assert "PrivateDevices=yes" in props
    assert host.socket("tcp://127.0.0.1:9102").is_listening
    assert not host.socket("tcp://0.0.0.0:9102").is_listening


def test_configuration_is_checked_before_install(host):
    daemon = "python3 /usr/local/lib/tezos-bakery/lte_failover.py --check-config --config"
    assert host.run("%s /etc/tezos-bakery/lte-failover.json" % daemon).rc == 0
    config = json.loads(host.file("/etc/tezos-bakery/lte-failover.json").content_string)
    config["probe_targets"] = ["10.91.0.1"]  # the wired gateway: answers even with the internet down
    host.run_expect([0], "printf '%%s' %s > /tmp/lte-failover-bad.json", json.dumps(config))
    bad = host.run("%s /tmp/lte-failover-bad.json" % daemon)
    assert bad.rc == 2
    assert "is an uplink's gateway" in bad.stderr


@pytest.mark.usefixtures("on_wired")
def test_wired_carries_traffic_and_lte_stands_by(host):
    assert lab(host, "active") == WIRED
    samples = metrics(host)
    assert samples['lte_failover_active_uplink{uplink="wired",interface="eth-wired"}'] == 1
    assert samples['lte_failover_active_uplink{uplink="lte",interface="eth-lte"}'] == 0
    assert samples['lte_failover_uplink_healthy{uplink="wired",interface="eth-wired"}'] == 1
    assert samples['lte_failover_uplink_healthy{uplink="lte",interface="eth-lte"}'] == 1
    assert samples["lte_failover_routes_in_sync"] == 1
    # Probes really go out through each interface: round trips, and traffic counted on both.
    for name, interface in (("wired", WIRED), ("lte", LTE)):
        labels = '{uplink="%s",interface="%s"}' % (name, interface)
        assert 0 < samples["lte_failover_probe_duration_seconds" + labels] < TIMEOUT
        assert samples["lte_failover_uplink_receive_bytes_total" + labels] > 0
        assert samples['lte_failover_probes_total{uplink="%s",interface="%s",result="ok"}' % (name, interface)] > 0


@pytest.mark.usefixtures("on_wired")
def test_carrier_loss_fails_over_then_back_after_the_hold_time(host):
    switches = metrics(host)["lte_failover_switches_total"]

    failover = fail_over(host, "link")
    print("\nMEASURED failover on carrier loss: %.2f s (bound %d s)" % (failover, SWITCH_BOUND))
    assert failover <= SWITCH_BOUND
    samples = metrics(host)
    assert samples['lte_failover_active_uplink{uplink="lte",interface="eth-lte"}'] == 1
    assert samples['lte_failover_uplink_healthy{uplink="wired",interface="eth-wired"}'] == 0
    assert samples["lte_failover_switches_total"] == switches + 1
    assert time.time() - samples["lte_failover_last_switch_timestamp_seconds"] < 30
    assert status(host)["last_switch"]["reason"].startswith("wired is down")

    failback = fail_back(host)
    print("MEASURED failback after restore: %.2f s (hold time %d s)" % (failback, HOLD))
    # Not before the hold time (the clock starts before the line is restored).
    assert HOLD <= failback <= FAILBACK_BOUND
    samples = metrics(host)
    assert samples['lte_failover_active_uplink{uplink="wired",interface="eth-wired"}'] == 1
    assert samples["lte_failover_switches_total"] == switches + 2


@pytest.mark.usefixtures("on_wired")
def test_dead_internet_behind_a_live_line_fails_over(host):
    """The line keeps its carrier, the internet behind the router is gone."""
    failover = fail_over(host, "upstream")
    print("\nMEASURED failover on upstream loss: %.2f s (bound %d s)" % (failover, SWITCH_BOUND))
    assert failover <= SWITCH_BOUND
    failback = fail_back(host)
    print("MEASURED failback after upstream restore: %.2f s (hold time %d s)" % (failback, HOLD))
    assert HOLD <= failback <= FAILBACK_BOUND


@pytest.mark.usefixtures("on_wired")
def test_flapping_wired_line_does_not_take_the_traffic_back(host):
    fail_over(host)
    switches = metrics(host)["lte_failover_switches_total"]
    deadline = time.monotonic() + 2 * HOLD
    while time.monotonic() < deadline:
        lab(host, "restore", "wired")
        time.sleep(HOLD / 2)
        lab(host, "cut", "wired", "link")
        time.sleep(1.5)
        assert lab(host, "active") == LTE
    assert metrics(host)["lte_failover_switches_total"] == switches, "failed back while the line flapped"
    assert uplink_routes(host) == ON_LTE
    failback = fail_back(host)
    print("\nMEASURED failback once the line is stable: %.2f s (hold time %d s)" % (failback, HOLD))
    assert HOLD <= failback <= FAILBACK_BOUND


@pytest.mark.usefixtures("on_wired")
def test_lte_loss_while_on_wired_changes_nothing(host):
    switches = metrics(host)["lte_failover_switches_total"]
    lab(host, "cut", "lte", "link")
    wait_for(lambda: healthy(host)["lte"] is False, SWITCH_BOUND)
    assert uplink_routes(host) == ON_WIRED
    samples = metrics(host)
    assert samples['lte_failover_active_uplink{uplink="wired",interface="eth-wired"}'] == 1
    assert samples['lte_failover_uplink_healthy{uplink="lte",interface="eth-lte"}'] == 0
    assert samples["lte_failover_switches_total"] == switches


@pytest.mark.usefixtures("on_wired")
def test_both_down_keeps_lte_and_wired_returns_without_hold_time(host):
    fail_over(host)
    switches = metrics(host)["lte_failover_switches_total"]
    lab(host, "cut", "lte", "link")
    wait_for(lambda: status(host)["all_down"], SWITCH_BOUND)
    time.sleep(2 * INTERVAL)
    assert uplink_routes(host) == ON_LTE
    assert metrics(host)["lte_failover_all_uplinks_down"] == 1
    assert metrics(host)["lte_failover_switches_total"] == switches
    # LTE is dead: a wired line that answers again takes the traffic at once.
    lab(host, "restore", "wired")
    seconds = wait_active(host, WIRED, SWITCH_BOUND)
    print("\nMEASURED switch to the returning wired line while LTE is down: %.2f s" % seconds)
    assert seconds < HOLD
    assert uplink_routes(host) == ON_WIRED


@pytest.mark.usefixtures("on_wired")
def test_restart_while_on_lte_stays_on_lte(host):
    fail_over(host)
    lab(host, "restore", "wired")
    host.run_expect([0], "systemctl restart tezos-lte-failover")
    seconds = wait_active(host, WIRED, FAILBACK_BOUND + MARGIN)
    print("\nMEASURED failback across a daemon restart: %.2f s (hold time %d s)" % (seconds, HOLD))
    assert seconds >= HOLD
    journal = host.check_output("journalctl -u tezos-lte-failover -n 30 --no-pager -o cat")
    assert "starting on uplink lte" in journal


@pytest.mark.usefixtures("on_wired")
def test_routes_changed_behind_its_back_are_put_right(host):
    host.run_expect([0], "ip route del default via 10.92.0.1 dev eth-lte metric 200")
    # What a DHCP client would add on the wired interface.
    host.run_expect([0], "ip route add default via 10.91.0.1 dev eth-wired metric 50")
    wait_for(lambda: uplink_routes(host) == ON_WIRED, 3 * INTERVAL + MARGIN)
    assert status(host)["routes_in_sync"] is True


def test_modem_metrics_come_from_modemmanager(host):
    wait_for(lambda: "lte_failover_modem_present" in metrics(host), 15)
    samples = metrics(host)
    assert samples["lte_failover_modem_present"] == 1
    assert samples["lte_failover_modem_signal_quality_percent"] == 75
    info = 'lte_failover_modem_info{state="connected",access_technology="lte",operator="Molecule Mobile"}'
    assert samples[info] == 1
