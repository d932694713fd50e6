#!/usr/bin/env bash
# Start / stop a real libvirt "host" for tests on a machine without systemd (Debian 12, root):
# the system virtlogd and libvirtd started by hand, as docs/testing.md describes.
#
#   libvirt-host.sh install            apt-get install the Debian 12 packages (only the missing ones)
#   libvirt-host.sh start a            host A: the system virtlogd + libvirtd (reused when it answers)
#   libvirt-host.sh start b STATE_DIR  host B: a second libvirtd in a private mount namespace whose
#                                      /run/libvirt, /var/lib/libvirt, /etc/libvirt, /var/log/libvirt and
#                                      /var/cache/libvirt are bind mounts of STATE_DIR/{run,lib,etc,log,cache}
#   libvirt-host.sh stop b STATE_DIR   destroy B's running guests, kill B's daemons by pidfile
#   libvirt-host.sh stop a             kill the system daemons, only those this script started (by pid)
#   libvirt-host.sh status a|b [STATE_DIR]
#
# `start` and `status` print KEY=VALUE lines on stdout (diagnostics go to stderr):
#   URI=...        libvirt URI to use from the host (outside any namespace)
#   NVRAM_DIR=...  the host-side directory that the daemon sees as /var/lib/libvirt/qemu/nvram.
#                  For host B it is STATE_DIR/lib/qemu/nvram: a sidecar for B runs outside B's
#                  namespace and must write NVRAM files there, while the domain XML keeps naming
#                  /var/lib/libvirt/qemu/nvram/... (the path as B and its QEMU see it).
#   LOG_DIR=...    host-side directory of the daemon's /var/log/libvirt (QEMU logs under qemu/).
# Environment: LIBVIRT_HOST_TIMEOUT (seconds to wait for the first answer, default 60).
# A daemon that does not answer in time is diagnosed on stderr (virsh's own error, the daemon's
# state, its log, QEMU processes, /dev/kvm) and, for host A, restarted once with debug logging of
# the QEMU driver; the diagnosis is printed whether or not the restart answers.
set -euo pipefail
export LC_ALL=C

TIMEOUT="${LIBVIRT_HOST_TIMEOUT:-60}"
LIBVIRTD=/usr/sbin/libvirtd
VIRTLOGD=/usr/sbin/virtlogd

die() { echo "libvirt-host: $*" >&2; exit 1; }
log() { echo "libvirt-host: $*" >&2; }

answers() { timeout 15 virsh -c "$1" -q version >/dev/null 2>&1; }

alive() { # alive PIDFILE: the pidfile names a running process of the daemon it is named after
  # (libvirtd.pid -> libvirtd). A pidfile can outlive its daemon (a /run that is not a tmpfs, a
  # machine image taken with one in it), and its number may by then belong to any process:
  # trusting it would mean waiting on a daemon that was never started, or killing a stranger.
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$(basename "$1" .pid)" ]
}

wait_answer() { # wait_answer URI: poll `virsh version` (the first answer takes 8-11 s: QEMU capabilities probe)
  local uri=$1 t0=$SECONDS
  while ! answers "$uri"; do
    if (( SECONDS - t0 >= TIMEOUT )); then
      return 1
    fi
    sleep 0.5
  done
  log "$uri answered after $((SECONDS - t0)) s"
}

# The daemons never use a D-Bus system bus, running or not: host-setup.md's recipe is a machine
# without one, and a bus that some package's postinst started on the way (CI installs udev, dbus
# users and polkitd as dependencies) would bring polkit, machined and firewalld lookups into every
# start. GLib reads the system bus address from this variable, so a path nobody listens on makes
# libvirtd log "Unable to get system bus connection" and go on as in the recipe.
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/nova-uefi-shim-tests/no-system-bus

need_bins() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  for f in "$LIBVIRTD" "$VIRTLOGD" /usr/bin/virsh; do
    [ -x "$f" ] || die "$f missing (run: scripts/libvirt-host.sh install)"
  done
  kvm_perms
}

kvm_perms() {
  # Without udev /dev/kvm stays 0600 root:root. libvirt 9.0 then probes QEMU with KVM enabled (the
  # probe can open it) but finds /dev/kvm not accessible to libvirt-qemu afterwards, logs "KVM was
  # enabled when probing ..., but it is not available now" and re-probes forever: every API call that
  # needs capabilities (define, start, version) hangs. Seen here 2026-11-26. Give it Debian's udev
  # default (0660 root:kvm; libvirt-qemu is in group kvm). Guests still use TCG (type='qemu').
  if [ -c /dev/kvm ] && getent group kvm >/dev/null && [ "$(stat -c %G:%a /dev/kvm)" != kvm:660 ]; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm && log "set /dev/kvm to 0660 root:kvm (udev default)"
  fi
}

diagnose() { # diagnose URI PIDFILE LOGFILE: why a daemon does not answer, on stderr
  local uri=$1 pidf=$2 logf=$3 pid
  log "diagnosis for $uri:"
  local out rc=0
  out=$(timeout 15 virsh -c "$uri" -q version 2>&1) || rc=$?
  log "  virsh version: exit $rc$([ "$rc" = 124 ] && echo ' (timed out after 15 s)'): $(echo "$out" | tr '\n' ' ' | cut -c1-400)"
  if alive "$pidf"; then
    pid=$(cat "$pidf")
    log "  libvirtd $pid alive: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null); state $(awk '/^State:/{print $2}' /proc/"$pid"/status 2>/dev/null), $(ls /proc/"$pid"/task 2>/dev/null | wc -l) threads"
  else
    log "  libvirtd not running (pidfile $pidf: $(cat "$pidf" 2>/dev/null || echo none))"
  fi
  log "  /dev/kvm: $(stat -c '%U:%G %a' /dev/kvm 2>/dev/null || echo absent); libvirt-qemu: $(id libvirt-qemu 2>&1)"
  log "  helpers running: $(pgrep -l -x 'systemd-udevd|dbus-daemon|iscsid|polkitd' 2>/dev/null | tr '\n' ' ')"
  ps -eo pid,etimes,stat,args 2>/dev/null | awk '/qemu-system|dnsmasq|libvirt_iohelper/ && !/awk/' | sed 's/^/libvirt-host:   proc: /' | cut -c1-300 >&2 || true
  if [ -s "$logf" ]; then
    log "  last lines of $logf:"
    tail -n 40 "$logf" | cut -c1-300 | sed 's/^/libvirt-host:   | /' >&2
  fi
}

wait_pidfile() { # wait_pidfile FILE: a daemon started with -d writes its pidfile shortly after forking
  for _ in $(seq 1 40); do alive "$1" && return 0; sleep 0.25; done
  return 1
}

kill_pidfile() { # kill_pidfile PIDFILE NAME: TERM, wait up to 10 s, then KILL
  local f=$1 name=$2 pid
  alive "$f" || { rm -f "$f"; return 0; }
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then log "$name ($pid) ignored TERM, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$f"
}

# ---------------------------------------------------------------- packages
PKGS=(libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils ovmf qemu-efi-aarch64)
install_pkgs() { # idempotent: apt-get runs only when something is missing
  local missing=() p
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then log "packages present: ${PKGS[*]}"; return; fi
  [ "$(id -u)" = 0 ] || die "must run as root to install ${missing[*]}"
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # No recommends: no dnsmasq/ebtables/... services (these tests need none), and no systemd units started.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------- host A
# Daemons this script started for host A, "NAME PID" lines: `stop a` kills only these, so a
# libvirtd an operator (or systemd) started is never touched.
A_STARTED=/run/nus-libvirt-host-a.started
A_URI=qemu:///system
a_print() { printf 'URI=%s\nNVRAM_DIR=%s\nLOG_DIR=%s\n' "$A_URI" /var/lib/libvirt/qemu/nvram /var/log/libvirt; }

start_a() {
  need_bins
  if answers "$A_URI"; then a_print; return; fi
  # Pidfiles, not process names: host B's daemons are also called libvirtd/virtlogd.
  if ! alive /run/virtlogd.pid; then "$VIRTLOGD" -d && wait_pidfile /run/virtlogd.pid && echo "virtlogd $(cat /run/virtlogd.pid)" >>"$A_STARTED"; fi
  if ! alive /run/libvirtd.pid; then start_libvirtd_a || log "libvirtd wrote no pidfile"; fi
  if ! wait_answer "$A_URI"; then
    log "host A ($A_URI) did not answer within ${TIMEOUT} s; restarting libvirtd once with QEMU driver debug logs"
    diagnose "$A_URI" /run/libvirtd.pid /var/log/libvirt/libvirtd.log
    # Only a daemon this script started is restarted; an operator's daemon is left alone.
    if [ -s "$A_STARTED" ] && grep -qx "libvirtd $(cat /run/libvirtd.pid 2>/dev/null)" "$A_STARTED"; then
      kill_pidfile /run/libvirtd.pid libvirtd
    fi
    if ! alive /run/libvirtd.pid; then
      LIBVIRT_LOG_FILTERS="1:qemu 1:util.command 3:*" LIBVIRT_LOG_OUTPUTS="1:file:$A_DEBUG_LOG" start_libvirtd_a \
        || log "libvirtd wrote no pidfile"
    fi
    if ! wait_answer "$A_URI"; then
      diagnose "$A_URI" /run/libvirtd.pid "$A_DEBUG_LOG"
      die "host A ($A_URI) did not answer within ${TIMEOUT} s, twice"
    fi
    log "host A answered after the restart (diagnosis above)"
  fi
  a_print
}

A_DEBUG_LOG=/var/log/libvirt/libvirtd-debug.log
start_libvirtd_a() {
  "$LIBVIRTD" -d && wait_pidfile /run/libvirtd.pid && echo "libvirtd $(cat /run/libvirtd.pid)" >>"$A_STARTED"
}

stop_a() {
  [ -s "$A_STARTED" ] || { log "host A: nothing started by this script, leaving the daemons alone"; return 0; }
  local name pid
  while read -r name pid; do
    # Only while the pidfile still names the process we started (not a later, foreign one).
    if [ -s "/run/$name.pid" ] && [ "$(cat "/run/$name.pid")" = "$pid" ]; then kill_pidfile "/run/$name.pid" "$name"; fi
  done <"$A_STARTED"
  rm -f "$A_STARTED"
}

# ---------------------------------------------------------------- host B
b_paths() {
  [ -n "${1:-}" ] || die "host b needs a STATE_DIR"
  mkdir -p "$1"
  S=$(cd "$1" && pwd -P)
  B_URI="qemu+unix:///system?socket=$S/run/libvirt-sock"
}
b_print() { printf 'URI=%s\nNVRAM_DIR=%s\nLOG_DIR=%s\n' "$B_URI" "$S/lib/qemu/nvram" "$S/log"; }

copy_dirs() { # copy_dirs SRC DST: the directory skeleton only (modes and owners kept), no files, no per-domain dirs
  (cd "$1" && find . -type d ! -path '*/domain-*' -print0 | tar --null --no-recursion -cf - -T -) | tar -xpf - -C "$2"
}

populate_b() {
  [ -e "$S/.populated" ] && return
  chmod 0755 "$S"
  mkdir -p "$S"/{run,lib,etc,log,cache}
  chmod 0755 "$S/run"
  copy_dirs /var/lib/libvirt "$S/lib"
  copy_dirs /var/log/libvirt "$S/log"
  # The capabilities cache is only a cache (libvirt revalidates it); copying it saves the slow first probe.
  cp -a /var/cache/libvirt/. "$S/cache/"
  cp -a /etc/libvirt/. "$S/etc/"
  # Host A's persistent domains must not appear on B.
  rm -f "$S"/etc/qemu/*.xml "$S"/etc/qemu/autostart/*.xml
  # A fixed, distinct host UUID: libvirt refuses migration to "the same host", and a machine with
  # DMI would otherwise give both daemons the same UUID (host-setup.md: here it is random per start).
  printf '\n# nova-uefi-shim test host B\nhost_uuid = "%s"\n' "$(cat /proc/sys/kernel/random/uuid)" >>"$S/etc/libvirtd.conf"
  touch "$S/.populated"
}

start_b() {
  need_bins
  b_paths "${1:-}"
  if alive "$S/libvirtd.pid" && answers "$B_URI"; then b_print; return; fi
  kill_pidfile "$S/libvirtd.pid" libvirtd
  kill_pidfile "$S/virtlogd.pid" virtlogd
  populate_b
  rm -f "$S"/run/libvirt-sock "$S"/run/libvirt-sock-ro "$S"/run/libvirt-admin-sock
  # The daemons daemonize inside the namespace and keep it alive after this shell exits.
  unshare -m --propagation private -- /bin/bash -ec '
    S=$1
    mount --bind "$S/run" /run/libvirt
    mount --bind "$S/lib" /var/lib/libvirt
    mount --bind "$S/etc" /etc/libvirt
    mount --bind "$S/log" /var/log/libvirt
    mount --bind "$S/cache" /var/cache/libvirt
    /usr/sbin/virtlogd -d -p "$S/virtlogd.pid"
    /usr/sbin/libvirtd -d -p "$S/libvirtd.pid"
  ' start-b "$S"
  if ! wait_answer "$B_URI"; then
    diagnose "$B_URI" "$S/libvirtd.pid" "$S/log/libvirtd.log"
    die "host B ($B_URI) did not answer within ${TIMEOUT} s; see $S/log"
  fi
  b_print
}

stop_b() {
  b_paths "${1:-}"
  if alive "$S/libvirtd.pid" && answers "$B_URI"; then
    # Running guests would keep B's namespace (and their ports) alive after the daemons go.
    for d in $(timeout 15 virsh -c "$B_URI" -q list --name 2>/dev/null); do
      timeout 15 virsh -c "$B_URI" -q destroy "$d" >/dev/null 2>&1 || log "could not destroy $d on B"
    done
  fi
  kill_pidfile "$S/libvirtd.pid" libvirtd
  kill_pidfile "$S/virtlogd.pid" virtlogd
}

status() {
  case "$1" in
    a) answers "$A_URI" && { a_print; return; } ;;
    b) b_paths "${2:-}"; alive "$S/libvirtd.pid" && answers "$B_URI" && { b_print; return; } ;;
  esac
  echo "libvirt-host: host $1 is not answering" >&2
  return 3
}

case "${1:-} ${2:-}" in
  "install "*) install_pkgs ;;
  "start a") start_a ;;
  "start b") start_b "${3:-}" ;;
  "stop a") stop_a ;;
  "stop b") stop_b "${3:-}" ;;
  "status a") status a ;;
  "status b") status b "${3:-}" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
