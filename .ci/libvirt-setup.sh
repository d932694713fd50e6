#!/usr/bin/env bash
# Fragment for .ci/run (source it or run it): make sure the Debian 12 packages for the real
# libvirt/QEMU/OVMF tests are installed. Idempotent: does nothing when they all are; runs
# `apt-get update` only when something must be installed. Starts no daemon: the tests start
# host A / host B through test/support/libvirtd.ts -> scripts/libvirt-host.sh.
# Needs root (as CI runs). Safe under `set -euo pipefail` when sourced.
libvirt_setup() {
  local pkgs=(libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils ovmf qemu-efi-aarch64)
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "libvirt-setup: packages present"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "libvirt-setup: missing ${missing[*]} and not root; the real-libvirt tests will skip" >&2
    return 0
  fi
  echo "libvirt-setup: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
libvirt_setup
