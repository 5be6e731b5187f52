#!/bin/sh
# Run INSIDE a container of the arm64 base image by build_lab_image
# (scripts/lib/base-images.sh), with the fixtures copied to /lab: what the
# arm64 proof's Pi needs before converge, baked into a cached image layer
# instead of prepared by Ansible under qemu on every run (each task costs
# seconds there). The same fixtures as the native scenarios' prepare
# (tests/molecule/tasks): a simulated Ledger with no key authorized, the two
# uplinks of lte_failover's lab, the simulated UPS battery and recording
# power-off, an admin with a key (signer_hardening allows keys only), and
# the host-architecture nft (qemu-user cannot relay netfilter netlink: the
# Pi's arm64 nft fails with "Unable to initialize Netlink socket: Protocol
# not supported"; the ruleset and the kernel that enforces it are the same,
# only the rule compiler differs).
set -eu
install -D -m 0644 /lab/ledger.json /etc/octez-client-double/ledger.json
install -m 0755 /lab/uplink-lab /usr/local/sbin/uplink-lab
install -m 0644 /lab/uplink-lab.service /etc/systemd/system/uplink-lab.service
install -m 0755 /lab/mmcli /usr/local/bin/mmcli
systemctl enable uplink-lab.service
install -m 0755 /lab/ups-hat-test-poweroff /usr/local/sbin/ups-hat-test-poweroff
# /run is a tmpfs in the containers: a boot-time unit writes the battery
# (systemd-tmpfiles-setup cannot run under qemu here: "Failed to set up
# credentials"). Full, on mains, as the native scenarios' prepare starts it.
install -d /usr/local/share/ups-hat-sim
printf '%s' '{"percent": 100, "voltage": 4.15, "on_battery": false}' > /usr/local/share/ups-hat-sim/battery.json
cat > /etc/systemd/system/ups-hat-sim.service <<'UNIT'
[Unit]
Description=Simulated UPS battery (molecule fixture)
Before=ups-hat.service
[Service]
Type=oneshot
ExecStartPre=/bin/mkdir -p /run/ups-hat-sim
ExecStart=/bin/cp /usr/local/share/ups-hat-sim/battery.json /run/ups-hat-sim/battery.json
[Install]
WantedBy=multi-user.target
UNIT
systemctl enable ups-hat-sim.service
useradd --create-home --shell /bin/bash bakeradmin
passwd --lock bakeradmin
install -d -m 0700 -o bakeradmin -g bakeradmin /home/bakeradmin/.ssh
install -m 0600 -o bakeradmin -g bakeradmin /lab/admin.pub /home/bakeradmin/.ssh/authorized_keys
cp -a /lab/host-nft /opt/host-nft
dpkg-divert --local --rename --divert /usr/sbin/nft.arm64 --add /usr/sbin/nft
cat > /usr/sbin/nft <<'SHIM'
#!/bin/sh
# Test shim (tests/molecule/images/arm64-lab.sh): qemu-user cannot relay netfilter netlink.
exec /opt/host-nft/ld-linux-x86-64.so.2 --library-path /opt/host-nft /opt/host-nft/nft "$@"
SHIM
chmod 0755 /usr/sbin/nft
rm -rf /lab
