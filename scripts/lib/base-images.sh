# shellcheck shell=bash
# Local Debian bookworm base images with systemd for molecule (no registry
# can be reached here). Built once with debootstrap, reused while the recipe
# below is unchanged: the tag carries a hash of it. Sourced, never executed.

# Packages baked into every test image: systemd for services, udev for the
# Ledger rules, and what the signer-side roles install anyway (so converge
# under arm64 emulation does not spend minutes in apt).
BAKERY_IMAGE_PACKAGES="python3,python3-apt,python3-cryptography,python3-cffi-backend,systemd,systemd-sysv,udev,dbus,iproute2,iputils-ping,procps,ca-certificates,curl,nftables,openssh-server,openssh-client,autossh,chrony,unattended-upgrades,sudo"
# What the native-image scenarios' prepare installs (their fixtures: umockdev
# for the ledger scenario's synthetic devices, haproxy for the HA lab's
# forwarder), baked in once instead of apt-installed on every run. The arm64
# image does without: its debootstrap second stage runs under qemu.
BAKERY_IMAGE_MIRROR="${BAKERY_IMAGE_MIRROR:-http://deb.debian.org/debian}"
# Bump when build_base_image changes what it makes (the tag carries a hash
# of this, the architecture and its package list: editing a comment here
# rebuilds nothing).
BAKERY_IMAGE_RECIPE=2

image_packages() {
  case "$1" in
    amd64) printf '%s,umockdev,haproxy' "$BAKERY_IMAGE_PACKAGES" ;;
    *) printf '%s' "$BAKERY_IMAGE_PACKAGES" ;;
  esac
}

image_tag() {
  printf 'tezos-bakery/debian-bookworm-systemd:%s-%s' "$1" \
    "$(printf '%s|%s|%s' "$BAKERY_IMAGE_RECIPE" "$1" "$(image_packages "$1")" | sha256sum | cut -c1-10)"
}

# cached_image TAG ALIAS: when TAG was built before, point ALIAS at it.
cached_image() {
  docker image inspect "$1" >/dev/null 2>&1 || return 1
  docker tag "$1" "$2"
  log "image $1 cached"
}

# build_base_image ARCH: debootstrap + docker import, skipped when present.
build_base_image() {
  local arch="$1" tag alias dir start
  tag="$(image_tag "$arch")"
  alias="tezos-bakery/debian-bookworm-systemd:$arch"
  cached_image "$tag" "$alias" && return 0
  start=$(date +%s)
  dir="$(mktemp -d "${TMPDIR:-/tmp}/bakery-rootfs-$arch.XXXXXX")"
  log "building base image $tag (debootstrap, $arch)"
  as_root debootstrap --arch="$arch" --variant=minbase \
    --include="$(image_packages "$arch")" bookworm "$dir" "$BAKERY_IMAGE_MIRROR" \
    >"$dir.log" 2>&1 || { tail -20 "$dir.log" >&2; die "debootstrap $arch failed"; }
  # A container has no console to getty on and no hardware clock to sync.
  as_root chroot "$dir" /bin/sh -c 'systemctl mask getty@tty1.service systemd-timesyncd.service console-getty.service >/dev/null 2>&1; rm -f /etc/ssh/ssh_host_*; apt-get clean' || true
  as_root tar -C "$dir" -c . | docker import --change 'CMD ["/lib/systemd/systemd"]' - "$tag" >/dev/null
  as_root rm -rf "$dir" "$dir.log"
  docker tag "$tag" "$alias"
  log "base image $tag built in $(( $(date +%s) - start )) s"
}

ensure_base_images() {
  apt_ensure debootstrap qemu-user-static binfmt-support
  # binfmt handlers must be registered for arm64 binaries to run.
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    as_root mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    as_root update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  fi
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "qemu-aarch64 binfmt handler is not registered"
  build_base_image amd64 &
  local amd=$! rc=0
  build_base_image arm64 || rc=1
  wait "$amd" || rc=1
  [ "$rc" -eq 0 ] && build_lab_image
}

# The arm64 proof's Pi (roles/tezos_signer/molecule/arm64): the arm64 base
# with the fixtures its converge needs, set up by
# tests/molecule/images/arm64-lab.sh in a cached layer (under qemu every
# Ansible task of a prepare costs seconds, on every run). The tag carries a
# hash of both base tags and of every fixture file.
LAB_FIXTURES=(tests/molecule/images/arm64-lab.sh tests/molecule/files/ledger.json
  tests/molecule/files/ups-hat-test-poweroff roles/lte_failover/molecule/default/files/uplink-lab
  roles/lte_failover/molecule/default/files/uplink-lab.service roles/lte_failover/molecule/default/files/mmcli)

lab_image_tag() {
  printf 'tezos-bakery/signer-lab:arm64-%s' "$(
    { image_tag amd64; image_tag arm64; declare -f build_lab_image
      (cd "$BAKERY_ROOT" && sha256sum "${LAB_FIXTURES[@]}"); } | sha256sum | cut -c1-10)"
}

build_lab_image() {
  local tag alias="tezos-bakery/signer-lab:arm64" dir container start
  tag="$(lab_image_tag)"
  cached_image "$tag" "$alias" && return 0
  start=$(date +%s)
  dir="$(mktemp -d "${TMPDIR:-/tmp}/bakery-lab.XXXXXX")"
  (cd "$BAKERY_ROOT" && cp "${LAB_FIXTURES[@]}" "$dir/") || return 1
  # From the native image: its nft with the libraries and loader it needs
  # (the Pi runs it through the shim), and the admin's key pair.
  docker run --rm -v "$dir:/out" "$(image_tag amd64)" sh -c '
    set -eu
    mkdir /out/host-nft && cp /usr/sbin/nft /out/host-nft/
    ldd /usr/sbin/nft | awk "/=>/ {print \$3} /ld-linux/ {print \$1}" | xargs -I{} cp -L {} /out/host-nft/
    ssh-keygen -q -t ed25519 -N "" -C bakeradmin@lab -f /out/admin' || { rm -rf "$dir"; return 1; }
  container="$(docker run -d "$(image_tag arm64)" /bin/sleep infinity)" || { rm -rf "$dir"; return 1; }
  if docker cp "$dir/." "$container:/lab" && docker exec "$container" sh /lab/arm64-lab.sh \
    && docker commit --change 'CMD ["/lib/systemd/systemd"]' "$container" "$tag" >/dev/null; then
    docker tag "$tag" "$alias"
    log "lab image $tag built in $(( $(date +%s) - start )) s"
  else
    log "lab image $tag failed"
    start=""
  fi
  docker rm -f "$container" >/dev/null
  rm -rf "$dir"
  [ -n "$start" ]
}
