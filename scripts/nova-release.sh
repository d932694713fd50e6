#!/bin/bash
# Nova releases for the driver's functional tests.
#
#   scripts/nova-release.sh install|shell|run|remove|status RELEASE [-- COMMAND...]
#
# RELEASE is a Nova major: 26 (Debian 12, the host itself), 31 (Debian 13
# trixie) or 33 (Debian forky). 31 and 33 are debootstrap chroots under
# $NOVA_RELEASE_ROOT (default /var/cache/nova-uefi-shim/chroots), built from
# the Debian archive that the host's own apt sources name, with that release's
# python3-nova and the packages Nova's functional framework needs, the
# release's own api-paste.ini (taken from its nova-common package, which is
# not installed) and the UEFI firmware files and descriptors.
#
#   install  build (or finish building) the release; every completed step
#            leaves a stamp, so a re-run does only what is missing
#   run      run COMMAND in the release (inside the chroot for 31/33, with
#            /proc, /dev, /dev/pts, /sys, a tmpfs /tmp, this repository (at
#            its own path, also when that is under /tmp) and the host's node
#            mounted; all unmounted again on exit, failure or signal)
#   shell    an interactive shell in the release
#   remove   delete the chroot (refused while anything is mounted in it)
#   status   print what is installed
#   steps    the install steps, as their stamps are named
#
# Mounts are made in a private mount namespace (unshare) so two runs of the
# same release never unmount each other's; NOVA_RELEASE_UNSHARE=0 mounts in
# the host's namespace (the trap still unmounts everything).
# Needs root for 31/33 (debootstrap, chroot, mount).

set -eu
set -o pipefail

ROOT=${NOVA_RELEASE_ROOT:-/var/cache/nova-uefi-shim/chroots}
REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)
UNSHARE=${NOVA_RELEASE_UNSHARE:-1}

usage() {
    sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
    echo "nova-release: $*" >&2
    exit 1
}

[ $# -ge 2 ] || { usage >&2; exit 2; }
ACTION=$1
RELEASE=$2
shift 2
[ "${1:-}" = "--" ] && shift

# Packages Nova's functional framework needs (the same list on every release),
# the firmware the sidecar's firmware map reads, and libstdc++ for the host's
# node binary.
TEST_PACKAGES="python3-nova python3-wsgi-intercept python3-placement python3-oslotest \
python3-stestr python3-ddt python3-requests-mock python3-testscenarios \
python3-osprofiler ca-certificates libstdc++6 qemu-efi-aarch64 util-linux \
libvirt-clients libxml2-utils"

case "$RELEASE" in
    26) SUITE=bookworm ;;
    31) SUITE=trixie; SCRIPT=trixie; FIRMWARE="ovmf" ;;
    33) SUITE=forky; SCRIPT=sid; FIRMWARE="ovmf ovmf-generic" ;;
    *) die "unknown release '$RELEASE' (26, 31 or 33)" ;;
esac

C=$ROOT/$SUITE
STAMPS=$ROOT/$SUITE.stamps
# A changed package list is a new step: install adds what is missing.
PACKAGES_STEP=packages-$(echo "$TEST_PACKAGES ${FIRMWARE:-}" | md5sum | cut -c1-8)
APT_OPTS="-o Acquire::Check-Valid-Until=false -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
API_PASTE=/usr/lib/python3/dist-packages/etc/nova/api-paste.ini

need_root() {
    [ "$(id -u)" = 0 ] || die "$ACTION $RELEASE needs root"
}

# The Debian archive address the host's apt sources name (read at run time:
# it is the machine's, not the project's).
mirror() {
    local m
    m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '/^URIs:/ {u=$2} /^Suites:/ && u != "" {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+$/ && u !~ /security/) {print u; exit}}')
    if [ -z "$m" ]; then
        m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" && $2 !~ /^\[/ && $2 !~ /security/ {print $2; exit}')
    fi
    [ -n "$m" ] || die "no Debian archive found in /etc/apt/sources.list.d/"
    echo "$m"
}

stamp() { [ -e "$STAMPS/$1" ]; }
done_step() { mkdir -p "$STAMPS"; date -u +%FT%TZ > "$STAMPS/$1"; }

# --- mounts -----------------------------------------------------------------

MOUNTED=()

unmount_all() {
    local i rc=0
    for (( i=${#MOUNTED[@]}-1; i>=0; i-- )); do
        umount "${MOUNTED[$i]}" 2>/dev/null || umount -l "${MOUNTED[$i]}" || rc=1
    done
    MOUNTED=()
    return $rc
}

do_mount() {  # do_mount TARGET mount-args...
    local target=$1
    shift
    mount "$@" "$target"
    MOUNTED+=("$target")
}

mount_chroot() {
    trap 'unmount_all' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # The chroot's root is a mount point of its own: unshare --mount
    # --propagation private inside it (the test sidecars' namespaces) needs one.
    do_mount "$C" --bind "$C"
    do_mount "$C/proc" --bind /proc
    do_mount "$C/dev" --bind /dev
    do_mount "$C/dev/pts" --bind /dev/pts
    do_mount "$C/sys" --bind /sys
    do_mount "$C/tmp" -t tmpfs tmpfs
    # The repository at its own path (after /tmp: a clone under /tmp is mounted on the
    # chroot's tmpfs, not hidden by it): the suite, the bench and their sidecars run from it.
    if [ "${NOVA_RELEASE_MOUNT_REPO:-1}" = 1 ]; then
        mkdir -p "$C$REPO_DIR"
        do_mount "$C$REPO_DIR" --bind "$REPO_DIR"
    fi
    local node
    node=$(command -v node || true)
    if [ -n "$node" ] && [ -d "$C/usr/local/bin" ]; then
        [ -e "$C/usr/local/bin/node" ] || : > "$C/usr/local/bin/node"
        do_mount "$C/usr/local/bin/node" --bind "$(readlink -f "$node")"
    fi
}

mounts_under() {
    awk -v c="$C" '$2 == c || index($2, c "/") == 1 {print $2}' /proc/mounts
}

# Runs "$@" inside the chroot with its mounts; in a private mount namespace
# unless NOVA_RELEASE_UNSHARE=0.
in_chroot() {
    if [ "$UNSHARE" = 1 ] && [ -z "${NOVA_RELEASE_IN_NS:-}" ]; then
        NOVA_RELEASE_IN_NS=1 exec unshare --mount --propagation private -- \
            "$0" __in_chroot "$RELEASE" -- "$@"
    fi
    mount_chroot
    local rc=0 pass=() v
    # The project's own switches go in; nothing else of the caller's environment.
    while IFS= read -r v; do pass+=("$v"); done < <(env | grep -E '^(NUS_|NOVA_UEFI_SHIM_|PYTHON)' || true)
    env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        DEBIAN_FRONTEND=noninteractive "${pass[@]}" \
        chroot "$C" "$@" || rc=$?
    unmount_all || true
    trap - EXIT
    return $rc
}

# --- install ----------------------------------------------------------------

install_host() {
    local missing=()
    for p in $TEST_PACKAGES ovmf; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        need_root
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    fi
    if [ ! -s "$API_PASTE" ]; then
        need_root
        if [ -s /usr/share/nova-common/api-paste.ini ]; then
            mkdir -p "$(dirname "$API_PASTE")"
            cp /usr/share/nova-common/api-paste.ini "$API_PASTE"
        else
            local d
            d=$(mktemp -d)
            (cd "$d" && apt-get download nova-common >/dev/null && dpkg-deb -x nova-common_*.deb nc)
            mkdir -p "$(dirname "$API_PASTE")"
            cp "$d/nc/usr/share/nova-common/api-paste.ini" "$API_PASTE"
            rm -rf "$d"
        fi
    fi
    echo "release 26: host ($(nova_version_host))"
}

nova_version_host() {
    dpkg-query -W -f='python3-nova ${Version}' python3-nova 2>/dev/null || echo "python3-nova missing"
}

install_chroot() {
    need_root
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    mkdir -p "$ROOT"
    exec 9>"$ROOT/$SUITE.lock"
    flock 9
    local m
    m=$(mirror)
    if ! stamp debootstrap; then
        [ -z "$(mounts_under)" ] || die "$C has mounts; not rebuilding it"
        rm -rf --one-file-system "$C" "$C.partial"
        echo "release $RELEASE: debootstrap $SUITE (a few minutes)"
        debootstrap --variant=minbase "$SUITE" "$C.partial" "$m" \
            "/usr/share/debootstrap/scripts/$SCRIPT" > "$ROOT/$SUITE.debootstrap.log" 2>&1 \
            || die "debootstrap failed, see $ROOT/$SUITE.debootstrap.log"
        mv "$C.partial" "$C"
        done_step debootstrap
    fi
    if ! stamp sources; then
        echo "deb $m $SUITE main" > "$C/etc/apt/sources.list"
        rm -f "$C/etc/apt/sources.list.d/"*.sources
        printf '#!/bin/sh\nexit 101\n' > "$C/usr/sbin/policy-rc.d"
        chmod 755 "$C/usr/sbin/policy-rc.d"
        done_step sources
    fi
    if ! stamp "$PACKAGES_STEP"; then
        echo "release $RELEASE: installing Nova and its test packages"
        # shellcheck disable=SC2086
        NOVA_RELEASE_MOUNT_REPO=0 in_chroot_sub sh -c "apt-get $APT_OPTS update -q && \
            apt-get $APT_OPTS install -y -q --no-install-recommends $TEST_PACKAGES $FIRMWARE && apt-get clean" \
            > "$ROOT/$SUITE.packages.log" 2>&1 \
            || die "package install failed, see $ROOT/$SUITE.packages.log"
        done_step "$PACKAGES_STEP"
    fi
    if ! stamp api-paste; then
        NOVA_RELEASE_MOUNT_REPO=0 in_chroot_sub sh -c "cd /tmp && apt-get $APT_OPTS download nova-common && \
            dpkg-deb -x nova-common_*.deb nc && mkdir -p $(dirname "$API_PASTE") && \
            cp nc/usr/share/nova-common/api-paste.ini $API_PASTE" \
            > "$ROOT/$SUITE.api-paste.log" 2>&1 \
            || die "api-paste.ini extraction failed, see $ROOT/$SUITE.api-paste.log"
        done_step api-paste
    fi
    # libvirt's own store directory: the suite's sidecars mount theirs there.
    mkdir -p "$C/var/lib/libvirt/qemu/nvram"
    echo "release $RELEASE: $C ($(nova_version_chroot))"
}

# in_chroot in a child process (its traps and namespace end with it).
in_chroot_sub() {
    ( in_chroot "$@" )
}

nova_version_chroot() {
    chroot "$C" dpkg-query -W -f='python3-nova ${Version}' python3-nova 2>/dev/null || echo "python3-nova missing"
}

ready() {
    [ "$RELEASE" = 26 ] && return 0
    stamp debootstrap && stamp sources && stamp "$PACKAGES_STEP" && stamp api-paste
}

case "$ACTION" in
    install)
        if [ "$RELEASE" = 26 ]; then install_host; else install_chroot; fi
        ;;
    run|shell)
        [ "$ACTION" = shell ] && [ $# -eq 0 ] && set -- /bin/bash -l
        [ $# -gt 0 ] || die "run needs a command"
        if [ "$RELEASE" = 26 ]; then
            exec "$@"
        fi
        need_root
        ready || die "release $RELEASE is not installed (scripts/nova-release.sh install $RELEASE)"
        in_chroot "$@"
        ;;
    __in_chroot)
        in_chroot "$@"
        ;;
    remove)
        [ "$RELEASE" = 26 ] && die "release 26 is the host; nothing to remove"
        need_root
        [ -z "$(mounts_under)" ] || die "$C still has mounts: $(mounts_under | tr '\n' ' ')"
        rm -rf --one-file-system "$C" "$C.partial" "$STAMPS" "$ROOT/$SUITE".*.log "$ROOT/$SUITE.lock"
        echo "release $RELEASE: removed"
        ;;
    steps)
        # The stamps a complete install leaves (tests mark a chroot built with them).
        echo debootstrap sources "$PACKAGES_STEP" api-paste
        ;;
    status)
        if [ "$RELEASE" = 26 ]; then
            echo "release 26: host ($(nova_version_host))"
        elif ready; then
            echo "release $RELEASE: $C ($(nova_version_chroot))"
        else
            echo "release $RELEASE: not installed ($(ls "$STAMPS" 2>/dev/null | tr '\n' ' ')done)"
            exit 1
        fi
        ;;
    *) usage >&2; exit 2 ;;
esac
