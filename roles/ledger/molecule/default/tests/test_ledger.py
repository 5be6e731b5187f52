"""The Ledger udev rules, exercised by udevd's own rule engine (udevadm test)
against synthetic devices (umockdev): a Ledger gets the signer group and mode
0660, any other USB HID device is left alone."""
import pytest

RULES = "/etc/udev/rules.d/20-ledger.rules"


def udev_test(host, device_file):
    cmd = host.run(
        "timeout 120 umockdev-run -d /opt/umockdev/%s -- udevadm -d test /sys/class/hidraw/hidraw0",
        device_file,
    )
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout + cmd.stderr


@pytest.fixture(scope="module")
def signer_gid(host):
    return host.group("tezos-signer").gid


def test_rules_file_is_root_owned_and_read_only(host):
    rules = host.file(RULES)
    assert rules.user == "root"
    assert rules.mode == 0o644


def hidraw_rule_line(host):
    lines = host.file(RULES).content_string.splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith('KERNEL=="hidraw*"'))


def test_ledger_hidraw_gets_signer_group_and_mode(host, signer_gid):
    out = udev_test(host, "ledger-nano-s-plus.umockdev")
    line = hidraw_rule_line(host)
    assert "Reading rules file: %s" % RULES in out
    assert "%s:%d GROUP %d" % (RULES, line, signer_gid) in out
    assert "%s:%d MODE 0660" % (RULES, line) in out
    assert "ID_TEZOS_LEDGER=1" in out


def test_other_usb_device_is_not_touched(host):
    out = udev_test(host, "other-usb-hid.umockdev")
    assert "Reading rules file: %s" % RULES in out
    assert "%s:" % RULES not in out.replace("Reading rules file: %s" % RULES, "")
    assert "ID_TEZOS_LEDGER" not in out


def test_rules_parse_without_errors(host):
    out = udev_test(host, "ledger-nano-s-plus.umockdev")
    bad = [line for line in out.splitlines()
           if "20-ledger.rules" in line and ("invalid" in line.lower() or "error" in line.lower())]
    assert bad == []
