"""The signer tunnel between the Pi and the stand-in forwarder: requests to
the forwarder's ports reach the Pi's loopback signer and health endpoint;
the tunnel comes back after the forwarder restarts, after its processes are
killed and after a silent network cut (each measured); and the tunnel's key
can do nothing on the forwarder but listen on the Pi's own ports."""
import os
import re
import time

import pytest
import testinfra

testinfra_hosts = ["ansible://pi1"]

SIGNER = 16732
HEALTH = 16733
CONFIG = "/etc/tezos-bakery/signer-tunnel"
# The tunnel's own key and pinned host key, without the tunnel's ssh_config
# (whose RemoteForwards are in use by the running tunnel).
TUNNEL_SSH = ("runuser -u tezos-tunnel -- ssh -F /dev/null -i /var/lib/tezos-tunnel/.ssh/id_ed25519"
              " -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes"
              " -o HostKeyAlias=bakery-forwarder -o UserKnownHostsFile=" + CONFIG + "/known_hosts"
              " -o ConnectTimeout=10")
# The tunnel must be back within this many seconds after each failure.
RECONNECT_DEADLINE = 45
# The measured reconnection times are written here (on the controller).
MEASURES = os.environ.get("SIGNER_TUNNEL_MEASURES", "/tmp/signer_tunnel_reconnect.txt")


@pytest.fixture(scope="module", autouse=True)
def measures_file():
    with open(MEASURES, "w") as stream:
        stream.write("signer_tunnel reconnection times (molecule verify, %s)\n" % time.strftime("%Y-%m-%d %H:%M:%S"))


@pytest.fixture(scope="module")
def forwarder():
    return testinfra.get_host("ansible://forwarder", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="module")
def forwarder_address(forwarder):
    return forwarder.check_output("ip -o -4 addr show dev eth0 | awk 'NR==1 {print $4}' | cut -d/ -f1")


def through_tunnel(forwarder, address, port, path):
    """(HTTP status, body) of a request to the forwarder's port ("000": no answer)."""
    out = forwarder.run("curl -s -m 3 -o /tmp/tunnel-body -w '%%{http_code}' http://%s:%s%s", address, str(port), path)
    return out.stdout.strip(), forwarder.file("/tmp/tunnel-body").content_string if out.stdout.strip() != "000" else ""


def wait_for_tunnel(forwarder, address, since):
    """Seconds from `since` until the signer answers through the tunnel."""
    while True:
        if through_tunnel(forwarder, address, SIGNER, "/keys/tz1standin")[0] == "200":
            return time.monotonic() - since
        assert time.monotonic() - since < RECONNECT_DEADLINE, "no tunnel %d s after the failure" % RECONNECT_DEADLINE
        time.sleep(0.5)


def record(what, seconds):
    with open(MEASURES, "a") as stream:
        stream.write("%s: tunnel back after %.1f s\n" % (what, seconds))
    print("%s: tunnel back after %.1f s" % (what, seconds))


def tunnel_pids(host):
    """(autossh pid, its ssh child pid) on the Pi."""
    autossh = host.check_output("systemctl show -p MainPID --value tezos-signer-tunnel")
    ssh = host.check_output("pgrep -P %s -x ssh", autossh)
    return int(autossh), int(ssh)


def test_tunnel_runs_unprivileged_and_sandboxed(host):
    service = host.service("tezos-signer-tunnel")
    assert service.is_running
    assert service.is_enabled
    autossh, ssh = tunnel_pids(host)
    uid = host.user("tezos-tunnel").uid
    for pid in (autossh, ssh):
        assert int(host.check_output("awk '/^Uid:/ {print $2}' /proc/%s/status", str(pid))) == uid
    assert host.user("tezos-tunnel").shell == "/usr/sbin/nologin"
    props = host.check_output("systemctl show tezos-signer-tunnel -p NoNewPrivileges -p ProtectSystem -p PrivateTmp -p Restart")
    for expected in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "Restart=always"):
        assert expected in props


def test_private_key_stays_private(host):
    key = host.file("/var/lib/tezos-tunnel/.ssh/id_ed25519")
    assert key.user == "tezos-tunnel"
    assert key.mode == 0o600
    assert host.file("/var/lib/tezos-tunnel/.ssh/id_ed25519.pub").content_string.startswith("ssh-ed25519 ")


def test_forwarder_host_key_is_pinned(host, forwarder):
    pinned = host.file(CONFIG + "/known_hosts").content_string
    forwarder_key = forwarder.file("/etc/ssh/ssh_host_ed25519_key.pub").content_string.split()[:2]
    assert "bakery-forwarder %s %s" % tuple(forwarder_key) in pinned
    effective = host.check_output("ssh -G -F %s/ssh_config bakery-forwarder", CONFIG)
    assert "stricthostkeychecking true" in effective
    assert "userknownhostsfile %s/known_hosts" % CONFIG in effective
    assert "batchmode yes" in effective


def test_signer_and_health_answer_through_the_tunnel(forwarder, forwarder_address):
    wait_for_tunnel(forwarder, forwarder_address, time.monotonic())
    # Bound on the forwarder's own address (GatewayPorts clientspecified),
    # as the cluster's other pods would reach it.
    status, body = through_tunnel(forwarder, forwarder_address, SIGNER, "/keys/tz1standin")
    assert (status, body) == ("200", '{"public_key": "edpk-standin-of-pi1"}')
    status, body = through_tunnel(forwarder, forwarder_address, HEALTH, "/healthz")
    assert (status, body) == ("200", '{"healthy": true, "host": "pi1"}')


def test_signer_stays_on_the_pi_loopback(host):
    assert host.socket("tcp://127.0.0.1:6732").is_listening
    assert not host.socket("tcp://0.0.0.0:6732").is_listening
    assert host.socket("tcp://127.0.0.1:6733").is_listening
    assert not host.socket("tcp://0.0.0.0:6733").is_listening


def test_tunnel_key_gets_no_shell(host):
    out = host.run(TUNNEL_SSH + " tunnel@forwarder 'echo pwned'")
    assert out.rc != 0
    assert "pwned" not in out.stdout


def test_tunnel_key_cannot_forward_to_the_forwarder_network(host):
    # -L forwarding (a direct-tcpip channel) to the forwarder's own sshd.
    host.run_expect([0], "(timeout 20 " + TUNNEL_SSH + " -N -L 127.0.0.1:17022:127.0.0.1:22 tunnel@forwarder"
                    " > /tmp/lforward.log 2>&1 &) ; sleep 4")
    banner = host.run("timeout 10 python3 -c 'import socket; s = socket.create_connection((\"127.0.0.1\", 17022), 5);"
                      " s.settimeout(5); print(s.recv(64))'")
    assert "SSH-2.0" not in banner.stdout
    assert "administratively prohibited" in host.file("/tmp/lforward.log").content_string
    # -W (the same channel type, on stdin/stdout) is refused outright.
    out = host.run(TUNNEL_SSH + " -W 127.0.0.1:22 tunnel@forwarder < /dev/null")
    assert out.rc == 255
    assert "administratively prohibited" in out.stderr


def test_tunnel_key_cannot_listen_on_other_ports(host):
    out = host.run(TUNNEL_SSH + " -N -o ExitOnForwardFailure=yes -R 0.0.0.0:16999:127.0.0.1:6732 tunnel@forwarder")
    assert out.rc == 255
    assert "remote port forwarding failed for listen port 16999" in out.stderr


def test_reconnects_after_the_forwarder_restarts(forwarder, forwarder_address):
    # sshd restarted AND its sessions gone, as with a new forwarder pod.
    sessions = forwarder.check_output("pgrep -u tunnel -x sshd").split()
    assert sessions, "no tunnel session on the forwarder"
    forwarder.run_expect([0], "systemctl stop ssh && kill -KILL " + " ".join(sessions))
    assert through_tunnel(forwarder, forwarder_address, SIGNER, "/keys/tz1standin")[0] == "000"
    time.sleep(3)
    forwarder.run_expect([0], "systemctl start ssh")
    since = time.monotonic()
    record("forwarder sshd restarted (sessions killed, 3 s down)", wait_for_tunnel(forwarder, forwarder_address, since))


def test_reconnects_after_ssh_is_killed(host, forwarder, forwarder_address):
    _autossh, ssh = tunnel_pids(host)
    host.run_expect([0], "kill -KILL %d" % ssh)
    since = time.monotonic()
    record("ssh client killed on the Pi", wait_for_tunnel(forwarder, forwarder_address, since))
    assert tunnel_pids(host)[1] != ssh


def test_reconnects_after_autossh_is_killed(host, forwarder, forwarder_address):
    autossh, _ssh = tunnel_pids(host)
    host.run_expect([0], "kill -KILL %d" % autossh)
    since = time.monotonic()
    record("autossh killed on the Pi (systemd restart)", wait_for_tunnel(forwarder, forwarder_address, since))
    assert tunnel_pids(host)[0] != autossh


def test_reconnects_after_a_silent_network_cut(forwarder, forwarder_address):
    # Every packet between the Pi and the forwarder vanishes for 10 s, with no
    # reset (cut on the forwarder: the arm64 Pi's nft cannot run under
    # qemu-user). Keepalives must notice on both ends, the forwarder must
    # free the Pi's ports, and the tunnel must come back.
    pi1 = forwarder.check_output("getent ahostsv4 pi1 | awk 'NR==1 {print $1}'")
    forwarder.run_expect([0], "nft add table inet tunnelcut")
    try:
        forwarder.run_expect([0], "nft add chain inet tunnelcut in '{ type filter hook input priority 0; }'")
        forwarder.run_expect([0], "nft add chain inet tunnelcut out '{ type filter hook output priority 0; }'")
        forwarder.run_expect([0], "nft add rule inet tunnelcut in ip saddr %s drop" % pi1)
        forwarder.run_expect([0], "nft add rule inet tunnelcut out ip daddr %s drop" % pi1)
        time.sleep(10)
        assert through_tunnel(forwarder, forwarder_address, SIGNER, "/keys/tz1standin")[0] == "000"
    finally:
        forwarder.run_expect([0], "nft delete table inet tunnelcut")
    since = time.monotonic()
    record("10 s silent network cut", wait_for_tunnel(forwarder, forwarder_address, since))


def test_role_published_the_forwarder_line(host):
    line = [entry for entry in host.file(CONFIG + "/forwarder_authorized_keys").content_string.splitlines()
            if entry.startswith("restrict,")]
    assert len(line) == 1
    assert re.match(r'^restrict,port-forwarding,permitlisten="0\.0\.0\.0:16732",permitlisten="0\.0\.0\.0:16733",'
                    r'command="/bin/false" ssh-ed25519 AAAA\S+ tezos-tunnel@pi1$', line[0])
    exported = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "pi1.authorized_keys")
    with open(exported) as stream:
        assert stream.read().strip() == line[0]
