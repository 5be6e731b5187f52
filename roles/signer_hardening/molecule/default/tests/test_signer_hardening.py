"""The hardened Pi seen from the network: default-deny inbound, SSH only
from the admin range and only with a key, no root; security upgrades only;
a clock synchronized to the test's NTP server, with its metrics.

`outsider` is another machine on the Pi's network. Its primary address is
the admin range; its second address (added in prepare.yml) is not."""
import json
import os
import re
import time

import pytest
import testinfra

testinfra_hosts = ["ansible://pi1"]

SSH = "ssh -i /root/.ssh/id_ed25519 -o BatchMode=yes -o ConnectTimeout=10 -o UserKnownHostsFile=/root/.ssh/known_hosts_pi1"
METRICS = "/run/tezos-bakery/time-sync/time_sync.prom"

# Run on the outsider: try a TCP connection from a given source address and
# say how it ended. A drop shows as a timeout, a closed port as "refused".
KNOCK = r"""
import socket, sys
src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket()
s.settimeout(3)
if src != "-":
    s.bind((src, 0))
try:
    s.connect((dst, port))
except socket.timeout:
    sys.exit(print("timeout"))
except ConnectionRefusedError:
    sys.exit(print("refused"))
try:
    banner = s.recv(64).decode(errors="replace").strip()
except socket.timeout:
    banner = ""
print("connected " + banner)
"""


@pytest.fixture(scope="module")
def outsider():
    return testinfra.get_host("ansible://outsider", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="module")
def outsider_address(outsider):
    """The outsider's primary address: the admin range of this test."""
    return outsider.check_output("ip -o -4 addr show dev eth0 primary | awk 'NR==1 {print $4}' | cut -d/ -f1")


@pytest.fixture(scope="module")
def pi1_address(outsider):
    return outsider.check_output("getent ahostsv4 pi1 | awk 'NR==1 {print $1}'")


@pytest.fixture(scope="module")
def second_address(outsider):
    return outsider.file("/etc/outsider-second-address").content_string.strip()


@pytest.fixture(scope="module")
def pinned_host_key(host, outsider):
    """The outsider trusts exactly pi1's host key (no TOFU in the tests)."""
    key = host.file("/etc/ssh/ssh_host_ed25519_key.pub").content_string.split()[:2]
    outsider.run_expect([0], "printf 'pi1 %%s %%s\\n' %s %s > /root/.ssh/known_hosts_pi1", *key)


def knock(outsider, target, port, source="-"):
    return outsider.check_output("python3 -c %s %s %s %s", KNOCK, source, target, str(port))


def dropped_count(host):
    chain = host.check_output("nft list chain inet filter input")
    return int(re.search(r"counter packets (\d+) bytes \d+ comment \"dropped by policy\"", chain).group(1))


def test_ruleset_file_passes_nft_check(host):
    host.run_expect([0], "nft -c -f /etc/nftables.conf")


def test_input_policy_drops_and_admits_the_admin_range(host, outsider_address, second_address):
    chain = host.check_output("nft list chain inet filter input")
    assert "type filter hook input priority filter; policy drop;" in chain
    admin_v4 = host.check_output("nft list set inet filter admin_v4")
    assert outsider_address in admin_v4
    assert second_address not in admin_v4
    assert "2001:db8:b4e7::/48" in host.check_output("nft list set inet filter admin_v6")
    assert host.service("nftables").is_enabled


def test_signer_port_is_dropped_from_outside(host, outsider, pi1_address):
    # The stand-in listens on 0.0.0.0:6732, so only the firewall stops this,
    # even from the admin's own address.
    assert host.socket("tcp://0.0.0.0:6732").is_listening
    before = dropped_count(host)
    assert knock(outsider, pi1_address, 6732) == "timeout"
    assert dropped_count(host) > before


def test_signer_port_answers_on_the_pi_itself(host):
    assert host.check_output("curl -s -o /dev/null -w '%{http_code}' -m 5 http://127.0.0.1:6732/") == "200"


def test_closed_port_is_dropped_not_refused(outsider, pi1_address):
    assert knock(outsider, pi1_address, 6799) == "timeout"


def test_ssh_from_the_admin_range_reaches_sshd(outsider, pi1_address):
    assert knock(outsider, pi1_address, 22).startswith("connected SSH-2.0-OpenSSH")


def test_ssh_from_outside_the_admin_range_is_dropped(outsider, pi1_address, second_address):
    assert knock(outsider, pi1_address, 22, source=second_address) == "timeout"


def test_extra_port_is_open_to_its_source_only(outsider, pi1_address, second_address):
    assert knock(outsider, pi1_address, 9100).startswith("connected")
    assert knock(outsider, pi1_address, 9100, source=second_address) == "timeout"


@pytest.mark.usefixtures("pinned_host_key")
def test_admin_logs_in_with_the_key(outsider):
    assert outsider.check_output(SSH + " bakeradmin@pi1 id -un") == "bakeradmin"


@pytest.mark.usefixtures("pinned_host_key")
def test_passwords_are_refused(outsider):
    out = outsider.run(SSH + " -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive"
                       " bakeradmin@pi1 true")
    assert out.rc == 255
    assert "Permission denied (publickey)" in out.stderr


@pytest.mark.usefixtures("pinned_host_key")
def test_root_is_refused_even_with_an_authorized_key(host, outsider):
    # prepare.yml put the outsider's key in root's authorized_keys too.
    assert host.file("/root/.ssh/authorized_keys").contains("ssh-ed25519")
    out = outsider.run(SSH + " root@pi1 true")
    assert out.rc == 255
    assert "Permission denied" in out.stderr


def test_sshd_configuration(host):
    host.run_expect([0], "sshd -t")
    effective = host.check_output("sshd -T").splitlines()
    for setting in ("passwordauthentication no", "kbdinteractiveauthentication no", "permitrootlogin no",
                    "pubkeyauthentication yes", "authenticationmethods publickey", "x11forwarding no",
                    "allowtcpforwarding no", "maxauthtries 3", "allowusers bakeradmin"):
        assert setting in effective
    assert [line for line in effective if line.startswith("allowusers ")] == ["allowusers bakeradmin"]


def test_unattended_upgrades_take_security_updates_only(host):
    dump = host.check_output("apt-config dump")
    origins = re.findall(r'^Unattended-Upgrade::Origins-Pattern:: "(.*)";$', dump, re.M)
    assert origins == ["origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
                       "origin=Debian,codename=${distro_codename},label=Debian-Security"]
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in dump
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    assert host.service("apt-daily-upgrade.timer").is_enabled


def test_unattended_upgrade_reads_the_origins(host):
    # unattended-upgrades itself, expanding ${distro_codename}: no download.
    out = host.run("unattended-upgrade --dry-run --debug 2>&1 | grep -m1 'Allowed origins are'")
    assert out.stdout.strip() == ("Allowed origins are: origin=Debian,codename=bookworm-security,label=Debian-Security, "
                                  "origin=Debian,codename=bookworm,label=Debian-Security")


def test_chrony_configuration_is_accepted(host):
    host.run_expect([0], "chronyd -p -f /etc/chrony/chrony.conf")
    assert host.service("chrony").is_running
    assert host.service("chrony").is_enabled


def test_clock_is_synchronized_to_the_ntp_server(host, outsider_address):
    tracking = host.check_output("chronyc -n tracking")
    assert re.search(r"^Leap status\s+: Normal$", tracking, re.M), tracking
    assert re.search(r"^Reference ID\s+: \S+ \(%s\)$" % re.escape(outsider_address), tracking, re.M), tracking


def metric(text, name):
    match = re.search(r"^%s (\S+)$" % name, text, re.M)
    assert match, "%s missing from %s" % (name, text)
    return float(match.group(1))


def read_metrics(host, not_before):
    """The metrics file once rewritten after not_before (the timer runs every 10 s)."""
    deadline = time.monotonic() + 40
    while True:
        text = host.file(METRICS).content_string if host.file(METRICS).exists else ""
        if text and metric(text, "tezos_bakery_time_check_timestamp_seconds") > not_before:
            return text
        assert time.monotonic() < deadline, "the time-sync timer did not refresh " + METRICS
        time.sleep(2)


def host_time(host):
    """The host's clock to the nanosecond: a whole-second reading would
    take a check that ran just before it, in the same second, for a later
    one."""
    return float(host.check_output("date +%s.%N"))


def test_time_sync_metrics_follow_chronyd(host):
    text = read_metrics(host, host_time(host))
    assert metric(text, "tezos_bakery_time_synchronized") == 1
    assert metric(text, "tezos_bakery_time_chronyd_up") == 1
    assert abs(metric(text, "tezos_bakery_time_offset_seconds")) < 0.1
    host.run_expect([0], "systemctl stop chrony")
    try:
        text = read_metrics(host, host_time(host))
        assert metric(text, "tezos_bakery_time_chronyd_up") == 0
        assert metric(text, "tezos_bakery_time_synchronized") == 0
    finally:
        host.run_expect([0], "systemctl start chrony")
    # chronyd back: the check says synchronized again within a minute.
    deadline = time.monotonic() + 60
    while True:
        check = host.run("python3 /usr/local/lib/tezos-bakery/time_sync_status.py --json")
        if check.rc == 0 or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert check.rc == 0, check.stdout
    assert json.loads(check.stdout)["synchronized"] is True
