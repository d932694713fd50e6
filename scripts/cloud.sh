#!/usr/bin/env bash
# A small real OpenStack on this one machine, built from Debian's packages, with two compute hosts
# that run this repository's Nova driver (compute_driver = uefi_shim.UEFIShimDriver) and sidecar.
#
#   cloud.sh install [--release 31]   build the chroot (debootstrap), install the packages, the
#                                     driver and the guest images (idempotent; root)
#   cloud.sh start   [--release 31]   start every service (a second start only starts what is down)
#   cloud.sh stop    [--release 31]   stop what start started (by PID), unmount what it mounted
#   cloud.sh status  [--release 31]   each service and whether it answers (exit 3 if one does not)
#   cloud.sh env     [--release 31]   OS_* variables for the admin user (eval "$(cloud.sh env)")
#   cloud.sh driver stock|ours        restart both nova-compute services with the stock
#                                     LibvirtDriver or with ours (the state directory remembers it)
#   cloud.sh sidecar stop|start cmpN  stop or start one compute host's sidecar
#   cloud.sh compute stop|start cmpN  stop one compute host (nova-compute, libvirtd with its
#                                     guests, sidecar) or start it again
#
# Layout: the chroot is /var/cache/nova-uefi-shim/cloud-<release> (Debian 13 for release 31).
# Every service runs inside it; the cloud's state (config files, logs, PID files, databases,
# images, the compute hosts' libvirt and Nova directories) is under its /srv/cloud.
# Controller services listen on 127.0.0.1; compute host cmpN listens on 127.0.0.(N+1) (libvirtd
# TCP for live migration, sshd for Nova's disk copies, the sidecar) and runs in its own mount
# namespace, where /var/lib/libvirt, /run/libvirt, /etc/libvirt, /var/log/libvirt,
# /var/cache/libvirt and /var/lib/nova are that host's own directories: the same paths on both
# hosts, as on two machines. Nothing listens beyond loopback.
# Environment: CLOUD_TIMEOUT (seconds one service may take to answer, default 300).
set -euo pipefail
export LC_ALL=C.UTF-8 PYTHONIOENCODING=utf-8

die() { echo "cloud: $*" >&2; exit 1; }
log() { echo "cloud: $*" >&2; }

CMD=${1:-}
shift || true
RELEASE=31
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --release) RELEASE=${2:-}; shift 2 ;;
    --release=*) RELEASE=${1#--release=}; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
case "$RELEASE" in
  31) SUITE=trixie ;;
  *) die "--release $RELEASE: only 31 (Debian 13) is supported (forky has no Glance yet)" ;;
esac
[ "$(id -u)" = 0 ] || die "must run as root"

REPO=$(cd "$(dirname "$0")/.." && pwd -P)
C=/var/cache/nova-uefi-shim/cloud-$RELEASE
IS=/srv/cloud          # the state directory as the services see it (inside the chroot)
S=$C$IS                # the same directory from the host
TIMEOUT=${CLOUD_TIMEOUT:-300}
NS_DIR=/run/nova-uefi-shim-cloud-$RELEASE
RELEASE_CHROOT=/var/cache/nova-uefi-shim/chroots/$SUITE   # scripts/nova-release.sh's, when built
RELEASE_CHROOT_STAMPS=/var/cache/nova-uefi-shim/chroots/$SUITE.stamps
HOSTS=(cmp1 cmp2)
addr_of() { case "$1" in cmp1) echo 127.0.0.2 ;; cmp2) echo 127.0.0.3 ;; *) die "unknown host $1" ;; esac; }
CTL=127.0.0.1
SSH_PORT=2202
SIDECAR_PORT=7780

PKGS=(mariadb-server rabbitmq-server keystone glance-api placement-api nova-api nova-conductor
  nova-scheduler nova-compute-qemu neutron-server python3-openstackclient python3-pymysql libvirt-daemon
  libvirt-daemon-driver-qemu libvirt-daemon-log libvirt-clients qemu-system-x86 qemu-utils ovmf
  openssh-server openssh-client sudo uwsgi-core uwsgi-plugin-python3 efi-shell-x64 efitools
  sbsigntool openssl dosfstools mtools python3-pip procps iproute2 curl
  python3-tempest)

in_c() { chroot "$C" "$@"; }

# ---------------------------------------------------------------- install
mirror() { # the Debian archive the host's own apt sources name
  local m
  m=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  [ -n "$m" ] || die "no Debian mirror in /etc/apt/sources.list.d/ or /etc/apt/sources.list"
  echo "$m"
}

APT=(env DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Check-Valid-Until=false)

install() {
  command -v debootstrap >/dev/null || { "${APT[@]}" update -qq; "${APT[@]}" install -y -qq --no-install-recommends debootstrap >/dev/null; }
  if [ ! -x "$C/usr/bin/apt-get" ] && [ -e "$RELEASE_CHROOT_STAMPS/debootstrap" ] && [ -x "$RELEASE_CHROOT/usr/bin/apt-get" ]; then
    # The same release's chroot that scripts/nova-release.sh built (Debian's Nova and its test
    # packages): a copy of it saves the debootstrap and most of the downloads. A copy, not the
    # chroot itself, so that the cloud's packages and services never change what that suite runs on.
    log "seeding $C from $RELEASE_CHROOT (scripts/nova-release.sh's $SUITE chroot)"
    mkdir -p "$(dirname "$C")"
    rm -rf "$C.partial"
    cp -a --one-file-system --reflink=auto "$RELEASE_CHROOT" "$C.partial"
    mv "$C.partial" "$C"
  fi
  if [ ! -x "$C/usr/bin/apt-get" ]; then
    log "debootstrap $SUITE into $C (a few minutes)"
    mkdir -p "$(dirname "$C")"
    rm -rf "$C.partial"
    debootstrap --variant=minbase "$SUITE" "$C.partial" "$(mirror)" >"$(dirname "$C")/debootstrap-$RELEASE.log" 2>&1 \
      || die "debootstrap failed; see $(dirname "$C")/debootstrap-$RELEASE.log"
    mv "$C.partial" "$C"
  fi
  echo "deb $(mirror) $SUITE main" >"$C/etc/apt/sources.list"
  # Package scripts must not start daemons: start/stop own them.
  printf '#!/bin/sh\nexit 101\n' >"$C/usr/sbin/policy-rc.d"
  chmod 0755 "$C/usr/sbin/policy-rc.d"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$C/etc/hosts"
  local missing=() p
  for p in "${PKGS[@]}"; do
    in_c dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing in the chroot: ${missing[*]}"
    # Mounted for the package scripts only, unmounted again (a running cloud's mounts are its own).
    local keep=$MOUNTS
    MOUNTS=$S/run/install-mounts
    mount_base
    in_c "${APT[@]}" update -qq
    local rc=0
    in_c "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >"$C/var/log/cloud-apt.log" 2>&1 || rc=$?
    unmount_all
    MOUNTS=$keep
    [ "$rc" = 0 ] || { tail -30 "$C/var/log/cloud-apt.log" >&2; die "apt-get install failed in the chroot"; }
  fi
  install_driver
  build_images
  log "installed: $(versions | tr '\n' ' ')"
}

versions() {
  local p
  for p in nova-common keystone glance-api placement-api mariadb-server rabbitmq-server libvirt-daemon qemu-system-x86 ovmf python3-openstackclient; do
    echo "$p=$(in_c dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo '?')"
  done
}

# The repository's Nova driver, into the chroot's Python next to nova (nova-driver/README.md).
install_driver() {
  local tmp=$C/tmp/nova-driver-src
  rm -rf "$tmp"
  mkdir -p "$tmp"
  (cd "$REPO/nova-driver" && tar --exclude=build --exclude='*.egg-info' --exclude=__pycache__ -cf - .) | tar -xf - -C "$tmp"
  in_c env DEB_PYTHON_INSTALL_LAYOUT=deb_system python3 -m pip install -q --no-deps --no-build-isolation \
    --break-system-packages --force-reinstall /tmp/nova-driver-src >/dev/null 2>"$C/var/log/cloud-pip.log" \
    || { cat "$C/var/log/cloud-pip.log" >&2; die "pip install of nova-driver failed"; }
  rm -rf "$tmp"
  [ -f "$C/usr/lib/python3/dist-packages/nova/virt/uefi_shim/driver.py" ] \
    || die "the driver did not land in the chroot's dist-packages (nova/virt/uefi_shim/driver.py)"
}

# ---------------------------------------------------------------- guest images
# Built in the chroot from Debian 13's own files, nothing downloaded. Both are a bare FAT file
# system (OVMF boots it as a disk) holding /EFI/BOOT/BOOTX64.EFI = Debian's UEFI shell and
# /startup.nsh, which the shell runs at every boot: it looks for the marker variable, writes it
# when it is missing (the first boot of a store), and prints which on the serial console:
#   NUS-MARKER written   (this boot found no marker: the store is new)
#   NUS-MARKER present   (the store this boot started with is the one the first boot wrote to)
# Each boot also prints the guest's clock (the shell's date and time) after "NUS-BOOT begin", so
# two boots never print the same text: a reader of Nova's console API, which only shows the log
# of the latest QEMU, tells a new boot from one it saw already.
# The Secure Boot image carries the same shell signed with a key of the cloud's own key set
# (keys/), which the sidecars enroll into the instance's db (image property
# os_secure_boot_keyset=nus-cloud); Microsoft's keys stay as the template has them.
MARKER_GUID=3a7b9c1e-1111-2222-3333-444455556666
startup_nsh() {
  cat <<EOF
@echo -off
echo "NUS-BOOT begin"
date
time
dmpstore NusMarker -guid $MARKER_GUID
if %lasterror% eq 0 then
  echo "NUS-MARKER present"
else
  setvar NusMarker -guid $MARKER_GUID -nv -bs =L"written at first boot"
  echo "NUS-MARKER written"
endif
echo "NUS-BOOT end"
EOF
}
build_images() {
  local d=$S/images
  mkdir -p "$d" "$S/keys"
  startup_nsh >"$d/startup.nsh.new"
  # Built again when the script changed (register() then uploads the new image).
  if [ -s "$d/uefi.img" ] && [ -s "$d/uefi-sb.img" ] && [ -s "$S/keys/db.crt" ] && cmp -s "$d/startup.nsh.new" "$d/startup.nsh"; then
    rm -f "$d/startup.nsh.new"
    return
  fi
  local shell
  shell=$(in_c dpkg -L efi-shell-x64 | grep -i 'shell.*x64.*\.efi$' | head -1)
  [ -n "$shell" ] || die "efi-shell-x64 ships no shell binary?"
  if [ ! -s "$S/keys/db.crt" ]; then
    in_c openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=nova-uefi-shim cloud db/" \
      -keyout "$IS/keys/db.key" -out "$IS/keys/db.crt" 2>/dev/null
    chmod 0600 "$S/keys/db.key"
  fi
  in_c sbsign --key "$IS/keys/db.key" --cert "$IS/keys/db.crt" --output "$IS/images/shell-signed.efi" "$shell" 2>/dev/null
  local img bin
  for img in uefi uefi-sb; do
    bin=$shell
    [ "$img" = uefi-sb ] && bin=$IS/images/shell-signed.efi
    rm -f "$d/$img.img.tmp"
    in_c mkfs.vfat -C "$IS/images/$img.img.tmp" 16384 >/dev/null
    in_c mmd -i "$IS/images/$img.img.tmp" ::/EFI ::/EFI/BOOT
    in_c mcopy -i "$IS/images/$img.img.tmp" "$bin" ::/EFI/BOOT/BOOTX64.EFI
    in_c mcopy -i "$IS/images/$img.img.tmp" "$IS/images/startup.nsh.new" ::/startup.nsh
    mv "$d/$img.img.tmp" "$d/$img.img"
  done
  mv "$d/startup.nsh.new" "$d/startup.nsh"
  log "guest images: $d/uefi.img, $d/uefi-sb.img"
}

# ---------------------------------------------------------------- mounts
MOUNTS=$S/run/mounts   # what start mounted, one path a line, in mount order
mounted() { mountpoint -q "$1"; }
record_mount() { mkdir -p "$S/run"; echo "$1" >>"$MOUNTS"; }
bind() { # bind SRC DST [ro]: record it so that stop unmounts it
  mounted "$2" && return 0
  if [ -d "$1" ]; then mkdir -p "$2"; else mkdir -p "$(dirname "$2")"; touch "$2"; fi
  mount --bind "$1" "$2"
  [ "${3:-}" = ro ] && mount -o remount,bind,ro "$2"
  record_mount "$2"
}
mount_base() {
  local d
  for d in proc sys dev dev/pts; do bind "/$d" "$C/$d"; done
  if ! mounted "$C/tmp"; then mount -t tmpfs -o mode=1777 tmpfs "$C/tmp"; record_mount "$C/tmp"; fi
}
mount_repo() { # the repository (read-only) at its own path, for the sidecars; the host's node binary
  bind "$REPO" "$C$REPO" ro
  local nm
  nm=$(readlink -f "$REPO/node_modules")
  [ "$nm" = "$REPO/node_modules" ] || bind "$nm" "$C$nm" ro
  bind "$(readlink -f "$(command -v node)")" "$C/usr/local/bin/node" ro
}
unmount_all() {
  [ -s "$MOUNTS" ] || return 0
  local m
  for m in $(tac "$MOUNTS"); do
    if mounted "$m"; then umount "$m" 2>/dev/null || umount -l "$m" || log "could not unmount $m"; fi
  done
  rm -f "$MOUNTS"
}

# ---------------------------------------------------------------- processes
pidf() { echo "$S/run/$1.pid"; }
alive() { # alive NAME: its PID file names a live process started from this chroot
  local f pid
  f=$(pidf "$1")
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && [ "$(readlink "/proc/$pid/root")" = "$C" ]
}
# run NAME [nsenter args --] CMD...: start CMD in the chroot in the background, its own session,
# output to $S/log/NAME.log; its PID in $S/run/NAME.pid. chroot and nsenter exec, so the PID is
# the service's own.
run() {
  local name=$1
  shift
  local pre=()
  if [ "$1" = --ns ]; then pre=(nsenter "--mount=$NS_DIR/$2.mnt" "--uts=$NS_DIR/$2.uts" --); shift 2; fi
  mkdir -p "$S/log" "$S/run"
  echo "---- $(date -u +%FT%TZ) start: $*" >>"$S/log/$name.log"
  setsid "${pre[@]}" chroot "$C" "$@" >>"$S/log/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidf "$name")"
}
stop_one() { # TERM, up to 30 s, then KILL
  local name=$1 pid i
  alive "$name" || { rm -f "$(pidf "$name")"; return 0; }
  pid=$(cat "$(pidf "$name")")
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then log "$name ($pid) ignored TERM, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$(pidf "$name")"
}
# wait_for NAME CHECK...: poll CHECK until it succeeds; fail with the log's tail if NAME dies or
# TIMEOUT passes.
wait_for() {
  local name=$1 t0=$SECONDS
  shift
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then tail -25 "$S/log/$name.log" >&2; die "$name exited; log: $S/log/$name.log"; fi
    if (( SECONDS - t0 > TIMEOUT )); then tail -25 "$S/log/$name.log" >&2; die "$name did not answer within $TIMEOUT s"; fi
    sleep 0.5
  done
  log "$name answers ($((SECONDS - t0)) s)"
}
http_ok() { curl -s -o /dev/null -m 30 -w '%{http_code}' "$1" | grep -Eq '^(200|300|401)$'; }

# ---------------------------------------------------------------- configuration
secret() { # one generated password for every service account (readable by root only)
  [ -s "$S/etc/secret" ] || { mkdir -p "$S/etc"; (umask 077; head -c 18 /dev/urandom | base64 | tr '+/' 'xy' >"$S/etc/secret"); }
  cat "$S/etc/secret"
}
DBURL() { echo "mysql+pymysql://$1:$(secret)@$CTL/${2:-$1}"; }
RABBIT() { echo "rabbit://openstack:$(secret)@$CTL:5672/"; }

auth_section() { # auth_section SECTION USER
  cat <<EOF
[$1]
auth_type = password
auth_url = http://$CTL:5000/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $(secret)
region_name = RegionOne
EOF
}

write_configs() {
  local pw
  pw=$(secret)
  mkdir -p "$S"/etc/{keystone,glance,placement,nova,neutron,rabbitmq,mysql} "$S"/log "$S"/run "$S"/glance/{images,staging,tasks}
  cat >"$S/etc/mysql/my.cnf" <<EOF
[mysqld]
datadir = $IS/mysql
socket = $IS/run/mysqld.sock
pid-file = $IS/run/mysqld.pidfile
bind-address = $CTL
port = 3306
max_connections = 1000
innodb_buffer_pool_size = 128M
skip-name-resolve
[client]
socket = $IS/run/mysqld.sock
EOF
  cat >"$S/etc/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $IS/log/keystone.log
[database]
connection = $(DBURL keystone)
[token]
provider = fernet
[fernet_tokens]
key_repository = $IS/keystone/fernet-keys
[credential]
key_repository = $IS/keystone/credential-keys
EOF
  cp "$C/etc/keystone/keystone-paste.ini" "$S/etc/keystone/" 2>/dev/null || true
  { cat <<EOF
[DEFAULT]
enabled_backends = fs:file
bind_host = $CTL
bind_port = 9292
log_file = $IS/log/glance-api.log
[database]
connection = $(DBURL glance)
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $IS/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $IS/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $IS/glance/tasks
[paste_deploy]
flavor = keystone
[oslo_policy]
enforce_new_defaults = true
EOF
    auth_section keystone_authtoken glance | sed '/^region_name/d'
    echo "www_authenticate_uri = http://$CTL:5000"
  } >"$S/etc/glance/glance-api.conf"
  cp "$C/etc/glance/glance-api-paste.ini" "$S/etc/glance/" 2>/dev/null || true
  { cat <<EOF
[DEFAULT]
log_file = $IS/log/placement.log
[placement_database]
connection = $(DBURL placement)
[api]
auth_strategy = keystone
EOF
    auth_section keystone_authtoken placement | sed '/^region_name/d'
    echo "www_authenticate_uri = http://$CTL:5000"
  } >"$S/etc/placement/placement.conf"
  { cat <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins = router,port_forwarding
bind_host = $CTL
bind_port = 9696
transport_url = $(RABBIT)
auth_strategy = keystone
api_workers = 1
rpc_workers = 0
rpc_state_report_workers = 0
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
log_file = $IS/log/neutron-server.log
[database]
connection = $(DBURL neutron)
[oslo_concurrency]
lock_path = $IS/neutron/lock
[ml2]
type_drivers = flat
tenant_network_types =
mechanism_drivers =
extension_drivers =
EOF
    auth_section keystone_authtoken neutron | sed '/^region_name/d'
    echo "www_authenticate_uri = http://$CTL:5000"
  } >"$S/etc/neutron/neutron.conf"
  cp "$C/usr/share/nova-common/api-paste.ini" "$S/etc/nova/api-paste.ini" 2>/dev/null || cp "$C/etc/nova/api-paste.ini" "$S/etc/nova/api-paste.ini"
  cp "$C/etc/nova/rootwrap.conf" "$S/etc/nova/rootwrap.conf" 2>/dev/null || true
  nova_common() { # nova_common MY_IP
    cat <<EOF
[DEFAULT]
my_ip = $1
transport_url = $(RABBIT)
state_path = /var/lib/nova
use_neutron = true
[api]
auth_strategy = keystone
[api_database]
connection = $(DBURL nova nova_api)
[database]
connection = $(DBURL nova)
[glance]
api_servers = http://$CTL:9292
[oslo_concurrency]
lock_path = /var/lib/nova/tmp
[vnc]
enabled = false
[spice]
enabled = false
[scheduler]
discover_hosts_in_cells_interval = 10
[filter_scheduler]
track_instance_changes = true
[wsgi]
api_paste_config = $IS/etc/nova/api-paste.ini
[oslo_messaging_notifications]
driver = noop
EOF
    auth_section keystone_authtoken nova | sed '/^region_name/d'
    echo "www_authenticate_uri = http://$CTL:5000"
    auth_section placement placement
    auth_section service_user nova
    echo "send_service_user_token = true"
    auth_section neutron neutron
  }
  nova_common $CTL >"$S/etc/nova/nova.conf"
  local h
  for h in "${HOSTS[@]}"; do compute_conf "$h" >"$S/etc/nova/nova-$h.conf"; sidecar_conf "$h" >"$S/etc/sidecar-$h.conf"; done
}

DRIVER_FILE() { echo "$S/etc/compute_driver"; }
current_driver() { cat "$(DRIVER_FILE)" 2>/dev/null || echo ours; }

compute_conf() {
  local h=$1 ip
  ip=$(addr_of "$h")
  local drv=uefi_shim.UEFIShimDriver
  [ "$(current_driver)" = stock ] && drv=libvirt.LibvirtDriver
  nova_common "$ip" | sed "s|^\[DEFAULT\]|[DEFAULT]\nhost = $h\ncompute_driver = $drv\ninstances_path = /var/lib/nova/instances\nlog_file = $IS/log/nova-compute-$h.log|"
  cat <<EOF
[libvirt]
virt_type = qemu
cpu_mode = none
live_migration_scheme = tcp
live_migration_inbound_addr = $ip
[uefi_shim]
url = http://$ip:$SIDECAR_PORT
auth_token = $(secret)
[workarounds]
disable_rootwrap = true
EOF
}

sidecar_conf() {
  local h=$1 ip peers
  ip=$(addr_of "$h")
  peers="cmp1=http://$(addr_of cmp1):$SIDECAR_PORT,cmp2=http://$(addr_of cmp2):$SIDECAR_PORT"
  cat <<EOF
[DEFAULT]
host = $h
[api]
host = $ip
port = $SIDECAR_PORT
auth_token = $(secret)
[hypervisor]
backend = nova
state_dir = /var/lib/nova-uefi-shim
[nvram]
nvram_dir = /var/lib/libvirt/qemu/nvram
owner = libvirt-qemu
group = libvirt-qemu
[peer]
hosts = $peers
shared_secret = $(secret)
[replica]
backend = directory
path = $IS/replicas
encryption_key_file = $IS/keys/replica.key
interval = 2
retry_interval = 1
[secure_boot_keyset:nus-cloud]
db = $IS/keys/db.crt
owner_guid = 6a3f2b1c-7e4d-4c2a-9b1e-5d6f7a8b9c0d
EOF
}

# ---------------------------------------------------------------- controller services
mysql_q() { in_c mariadb --defaults-file="$IS/etc/mysql/my.cnf" -uroot "$@"; }

start_mariadb() {
  alive mariadb && return
  if [ ! -d "$S/mysql/mysql" ]; then
    mkdir -p "$S/mysql"
    in_c chown mysql:mysql "$IS/mysql"
    in_c mariadb-install-db --defaults-file="$IS/etc/mysql/my.cnf" --user=mysql --auth-root-authentication-method=socket >"$S/log/mariadb-install.log" 2>&1 \
      || { tail "$S/log/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
  fi
  in_c chown mysql:mysql "$IS/run"
  run mariadb mariadbd --defaults-file="$IS/etc/mysql/my.cnf" --user=mysql
  wait_for mariadb mysql_q -e 'select 1'
}
databases() { # every service's database and account (idempotent)
  local db pw u
  pw=$(secret)
  for db in keystone glance placement nova_api nova nova_cell0 neutron; do
    mysql_q -e "CREATE DATABASE IF NOT EXISTS $db"
  done
  for u in keystone glance placement nova neutron; do
    mysql_q -e "CREATE USER IF NOT EXISTS '$u'@'%' IDENTIFIED BY '$pw'; ALTER USER '$u'@'%' IDENTIFIED BY '$pw'"
  done
  mysql_q -e "GRANT ALL ON keystone.* TO 'keystone'@'%'; GRANT ALL ON glance.* TO 'glance'@'%'; GRANT ALL ON placement.* TO 'placement'@'%';
    GRANT ALL ON nova_api.* TO 'nova'@'%'; GRANT ALL ON nova.* TO 'nova'@'%'; GRANT ALL ON nova_cell0.* TO 'nova'@'%'; GRANT ALL ON neutron.* TO 'neutron'@'%'; FLUSH PRIVILEGES"
}

RABBIT_ENV=(env HOME=$IS/rabbitmq RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=$CTL
  RABBITMQ_NODE_PORT=5672 RABBITMQ_DIST_PORT=25672 ERL_EPMD_ADDRESS=$CTL ERL_EPMD_PORT=4369
  RABBITMQ_MNESIA_BASE=$IS/rabbitmq/mnesia RABBITMQ_LOG_BASE=$IS/log/rabbitmq
  RABBITMQ_PID_FILE=$IS/run/rabbitmq.pidfile RABBITMQ_CONFIG_FILE=$IS/etc/rabbitmq/rabbitmq
  RABBITMQ_ENABLED_PLUGINS_FILE=$IS/etc/rabbitmq/enabled_plugins RABBITMQ_SERVER_START_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
rmqctl() { in_c "${RABBIT_ENV[@]}" setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmqctl "$@"; }
start_rabbitmq() {
  alive rabbitmq && return
  mkdir -p "$S/rabbitmq" "$S/log/rabbitmq"
  in_c chown -R rabbitmq:rabbitmq "$IS/rabbitmq" "$IS/log/rabbitmq"
  echo '[].' >"$S/etc/rabbitmq/enabled_plugins"
  printf 'listeners.tcp.default = %s:5672\nloopback_users = none\n' "$CTL" >"$S/etc/rabbitmq/rabbitmq.conf"
  [ -s "$S/rabbitmq/.erlang.cookie" ] || { head -c 20 /dev/urandom | base64 | tr -dc A-Za-z >"$S/rabbitmq/.erlang.cookie"; chmod 0400 "$S/rabbitmq/.erlang.cookie"; in_c chown rabbitmq:rabbitmq "$IS/rabbitmq/.erlang.cookie"; }
  # epmd in the foreground under our PID (else rabbitmq spawns a daemon nobody stops)
  alive epmd || run epmd env ERL_EPMD_ADDRESS=$CTL setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups epmd -port 4369
  run rabbitmq "${RABBIT_ENV[@]}" setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server
  wait_for rabbitmq rmqctl -q await_startup
  rmqctl -q add_user openstack "$(secret)" >/dev/null 2>&1 || rmqctl -q change_password openstack "$(secret)" >/dev/null
  rmqctl -q set_permissions openstack '.*' '.*' '.*' >/dev/null
}

uwsgi() { # uwsgi NAME ADDR:PORT WSGI_FILE [ENV=VALUE | --uwsgi-option VALUE]...
  local name=$1 addr=$2 file=$3
  shift 3
  local envs=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --*) envs+=("$1" "$2"); shift 2 ;;
      *) envs+=(--env "$1"); shift ;;
    esac
  done
  run "$name" uwsgi --plugin python3 --http-socket "$addr" --wsgi-file "$file" --master --processes "${UWSGI_PROCESSES:-1}" --threads "${UWSGI_THREADS:-8}" \
    --die-on-term --need-app --lazy-apps --buffer-size 65535 --add-header "Connection: close" "${envs[@]}"
}

os_admin() { in_c env $(admin_env | sed 's/^export //') openstack "$@"; }
# admin STEP ARGS...: scripts/cloud-admin.py (openstacksdk, one process) as the admin user
admin() { in_c env $(admin_env | sed 's/^export //') python3 "$REPO/scripts/cloud-admin.py" "$@"; }
admin_env() {
  cat <<EOF
export OS_AUTH_URL=http://$CTL:5000/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=admin
export OS_PASSWORD=$(secret)
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
EOF
}

start_keystone() {
  alive keystone && return
  local K=(--config-file "$IS/etc/keystone/keystone.conf")
  if [ ! -e "$S/keystone/.bootstrapped" ]; then
    mkdir -p -m 0700 "$S/keystone/fernet-keys" "$S/keystone/credential-keys"
    in_c keystone-manage "${K[@]}" db_sync
    in_c keystone-manage "${K[@]}" fernet_setup --keystone-user root --keystone-group root
    in_c keystone-manage "${K[@]}" credential_setup --keystone-user root --keystone-group root
    in_c keystone-manage "${K[@]}" bootstrap --bootstrap-password "$(secret)" --bootstrap-admin-url "http://$CTL:5000/v3/" \
      --bootstrap-internal-url "http://$CTL:5000/v3/" --bootstrap-public-url "http://$CTL:5000/v3/" --bootstrap-region-id RegionOne
    touch "$S/keystone/.bootstrapped"
  fi
  uwsgi keystone "$CTL:5000" /usr/bin/keystone-wsgi-public OS_KEYSTONE_CONFIG_FILES="$IS/etc/keystone/keystone.conf"
  wait_for keystone http_ok "http://$CTL:5000/v3"
}
keystone_accounts() { # the service project, users, services and endpoints (one SDK run, once)
  [ -e "$S/keystone/.accounts" ] && return
  admin accounts "$(secret)" "$CTL" >&2
  touch "$S/keystone/.accounts"
}

start_glance() {
  alive glance-api && return
  if [ ! -e "$S/glance/.synced" ]; then
    in_c glance-manage --config-file "$IS/etc/glance/glance-api.conf" db_sync >>"$S/log/glance-manage.log" 2>&1 || die "glance-manage db_sync failed; see $S/log/glance-manage.log"
    touch "$S/glance/.synced"
  fi
  # Nova uploads a snapshot (shelve) chunked, in glanceclient's 1 MiB parts; with uWSGI's default
  # chunked-input limit (1 MiB) Glance failed every such upload ("unable to receive chunked
  # part", HTTP 500: the shelve failed). A higher limit, and more than the default 4 s socket
  # timeout between two parts on a busy host.
  uwsgi glance-api "$CTL:9292" /usr/bin/glance-wsgi-api OS_GLANCE_CONFIG_DIR="$IS/etc/glance" \
    --chunked-input-limit $((64 * 1024 * 1024)) --chunked-input-timeout 300
  wait_for glance-api http_ok "http://$CTL:9292/versions"
}

start_placement() {
  alive placement && return
  in_c placement-manage --config-file "$IS/etc/placement/placement.conf" db sync
  uwsgi placement "$CTL:8778" /usr/bin/placement-api OS_PLACEMENT_CONFIG_DIR="$IS/etc/placement"
  wait_for placement http_ok "http://$CTL:8778/"
}

# Neutron: Nova's API asks it about every server's ports even with --nic none (servers here
# have none: ML2 without type, tenant or mechanism drivers, no agents).
start_neutron() {
  alive neutron-server && return
  mkdir -p "$S/neutron/lock"
  if [ ! -e "$S/neutron/.synced" ]; then
    in_c neutron-db-manage --config-file "$IS/etc/neutron/neutron.conf" upgrade heads >>"$S/log/neutron-db-manage.log" 2>&1 || die "neutron-db-manage failed; see $S/log/neutron-db-manage.log"
    touch "$S/neutron/.synced"
  fi
  # The WSGI entry point (Debian's neutron-api unit runs it under uWSGI too): neutron-server's
  # own eventlet API worker fails every port listing here ("type object 'Port' has no attribute
  # 'port_forwardings'"). No RPC server: there are no agents.
  uwsgi neutron-server "$CTL:9696" /usr/bin/neutron-api --pyargv "--config-file $IS/etc/neutron/neutron.conf"
  wait_for neutron-server http_ok "http://$CTL:9696/"
  # neutron 26.0.3: until some query has configured SQLAlchemy's mappers, a worker's first port
  # listing (Nova asks for one with every server it shows) fails with "type object 'Port' has no
  # attribute 'port_forwardings'". One network listing configures them.
  os_admin network list >/dev/null
}

NOVA=(--config-file "$IS/etc/nova/nova.conf")
start_nova_controller() {
  if [ ! -e "$S/etc/.nova-cells" ]; then
    in_c nova-manage "${NOVA[@]}" api_db sync
    in_c nova-manage "${NOVA[@]}" cell_v2 list_cells 2>/dev/null | grep -q ' cell0 ' \
      || in_c nova-manage "${NOVA[@]}" cell_v2 map_cell0 --database_connection "$(DBURL nova | sed 's|/nova$|/nova_cell0|')"
    in_c nova-manage "${NOVA[@]}" cell_v2 list_cells 2>/dev/null | grep -q ' cell1 ' \
      || in_c nova-manage "${NOVA[@]}" cell_v2 create_cell --name cell1
    in_c nova-manage "${NOVA[@]}" db sync
    touch "$S/etc/.nova-cells"
  fi
  mkdir -p "$C/var/lib/nova/tmp"
  # One thread per process: nova-api's eventlet-patched code hung a second
  # request that came in while the first was in a thread of the same process (two server creates
  # at once: the second never answered).
  alive nova-api || UWSGI_PROCESSES=3 UWSGI_THREADS=1 uwsgi nova-api "$CTL:8774" /usr/bin/nova-api-wsgi OS_NOVA_CONFIG_DIR="$IS/etc/nova"
  alive nova-conductor || run nova-conductor nova-conductor "${NOVA[@]}" --log-file "$IS/log/nova-conductor.log"
  alive nova-scheduler || run nova-scheduler nova-scheduler "${NOVA[@]}" --log-file "$IS/log/nova-scheduler.log"
  wait_for nova-api http_ok "http://$CTL:8774/"
}

# ---------------------------------------------------------------- compute hosts
ns_up() { [ -e "$NS_DIR/$1.mnt" ] && [ -e "$NS_DIR/$1.uts" ] && nsenter "--mount=$NS_DIR/$1.mnt" "--uts=$NS_DIR/$1.uts" true 2>/dev/null; }
make_ns() { # a persistent mount namespace for host H with its own libvirt and Nova directories
  local h=$1 H=$S/hosts/$1
  ns_up "$h" && return
  mkdir -p "$NS_DIR"
  if ! mounted "$NS_DIR"; then mount --bind "$NS_DIR" "$NS_DIR"; mount --make-private "$NS_DIR"; record_mount "$NS_DIR"; fi
  if [ ! -e "$H/.populated" ]; then
    mkdir -p "$H"/{run-libvirt,lib-libvirt,etc-libvirt,log-libvirt,cache-libvirt,lib-nova,lib-shim}
    cp -a "$C/var/lib/libvirt/." "$H/lib-libvirt/"
    cp -a "$C/etc/libvirt/." "$H/etc-libvirt/"
    rm -f "$H"/etc-libvirt/qemu/*.xml "$H"/etc-libvirt/qemu/networks/autostart/*.xml
    cp -a "$C/var/lib/nova/." "$H/lib-nova/" 2>/dev/null || true
    mkdir -p "$H/lib-nova/instances" "$H/lib-nova/tmp" "$H/lib-libvirt/qemu/nvram"
    local ip
    ip=$(addr_of "$h")
    cat >>"$H/etc-libvirt/qemu.conf" <<EOF

# nova-uefi-shim cloud host $h (a chroot without systemd, cgroups or namespaces of its own)
cgroup_controllers = [ ]
namespaces = [ ]
security_driver = "none"
migration_address = "$ip"
migration_host = "$ip"
EOF
    cat >>"$H/etc-libvirt/libvirtd.conf" <<EOF

# nova-uefi-shim cloud host $h
listen_tls = 0
listen_tcp = 1
listen_addr = "$ip"
auth_tcp = "none"
host_uuid = "$(cat /proc/sys/kernel/random/uuid)"
EOF
    touch "$H/.populated"
  fi
  # Its own host name too (a UTS namespace): Nova names the compute node, and Placement its
  # resource provider, after the host name libvirt reports; two hosts named alike collide there
  # (the second host gets no resource provider and the scheduler never picks it).
  touch "$NS_DIR/$h.uts"
  unshare "--uts=$NS_DIR/$h.uts" hostname "$h"
  touch "$NS_DIR/$h.mnt"
  unshare "--mount=$NS_DIR/$h.mnt" --propagation private /bin/sh -ec '
    C=$1 H=$2
    mount --bind "$H/run-libvirt" "$C/run/libvirt" 2>/dev/null || { mkdir -p "$C/run/libvirt"; mount --bind "$H/run-libvirt" "$C/run/libvirt"; }
    mount --bind "$H/lib-libvirt" "$C/var/lib/libvirt"
    mount --bind "$H/etc-libvirt" "$C/etc/libvirt"
    mount --bind "$H/log-libvirt" "$C/var/log/libvirt"
    mkdir -p "$C/var/cache/libvirt" "$C/var/lib/nova" "$C/var/lib/nova-uefi-shim"
    mount --bind "$H/cache-libvirt" "$C/var/cache/libvirt"
    mount --bind "$H/lib-nova" "$C/var/lib/nova"
    mount --bind "$H/lib-shim" "$C/var/lib/nova-uefi-shim"
  ' ns "$C" "$H"
}

ssh_setup() { # root's key for Nova's disk copies between the hosts (sshd on each host's address)
  mkdir -p "$C/root/.ssh" "$S/etc/ssh"
  chmod 0700 "$C/root/.ssh"
  [ -s "$C/root/.ssh/id_ed25519" ] || in_c ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519
  cp "$C/root/.ssh/id_ed25519.pub" "$C/root/.ssh/authorized_keys"
  cat >"$C/root/.ssh/config" <<EOF
Host $(addr_of cmp1) $(addr_of cmp2) cmp1 cmp2
  Port $SSH_PORT
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
EOF
  [ -s "$S/etc/ssh/host_ed25519" ] || in_c ssh-keygen -q -t ed25519 -N '' -f "$IS/etc/ssh/host_ed25519"
  mkdir -p "$C/run/sshd"
}

start_compute() { # start_compute H: libvirt (virtlogd, libvirtd), sshd, sidecar, nova-compute
  local h=$1 ip
  ip=$(addr_of "$h")
  make_ns "$h"
  alive "virtlogd-$h" || run "virtlogd-$h" --ns "$h" virtlogd -p /run/libvirt/virtlogd.pid
  if ! alive "libvirtd-$h"; then
    rm -f "$S/hosts/$h/run-libvirt/libvirt-sock"*
    run "libvirtd-$h" --ns "$h" env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/no-system-bus libvirtd --listen -p /run/libvirt/libvirtd.pid
  fi
  wait_for "libvirtd-$h" nsenter "--mount=$NS_DIR/$h.mnt" "--uts=$NS_DIR/$h.uts" chroot "$C" virsh -c qemu:///system -q version
  alive "sshd-$h" || run "sshd-$h" --ns "$h" /usr/sbin/sshd -D -e -p "$SSH_PORT" -o "ListenAddress=$ip" -h "$IS/etc/ssh/host_ed25519" -o PermitRootLogin=prohibit-password -o UsePAM=no
  wait_for "sshd-$h" in_c ssh -o BatchMode=yes -o ConnectTimeout=5 "$ip" true
  start_sidecar "$h"
  local since
  since=$(date +%s)
  alive "nova-compute-$h" || run "nova-compute-$h" --ns "$h" nova-compute --config-file "$IS/etc/nova/nova-$h.conf"
  # A host an evacuation forced down reads down until the operator unsets that, which Nova only
  # accepts once the returning nova-compute has cleaned up the evacuated instances: its first
  # report since this start is the sign it runs.
  wait_for "nova-compute-$h" compute_up "$h" "$since"
}
start_sidecar() {
  local h=$1
  alive "sidecar-$h" && return
  run "sidecar-$h" --ns "$h" sh -c "cd '$REPO' && exec /usr/local/bin/node --import tsx src/main.ts --config-file '$IS/etc/sidecar-$h.conf'"
  wait_for "sidecar-$h" http_ok "http://$(addr_of "$h"):$SIDECAR_PORT/healthz"
}
compute_up() { admin service-up nova-compute "$@"; }

stop_compute() {
  local h=$1 d
  stop_one "nova-compute-$h"
  if alive "libvirtd-$h"; then
    # Running guests would outlive their libvirtd (and keep the namespace's mounts busy).
    for d in $(nsenter "--mount=$NS_DIR/$h.mnt" "--uts=$NS_DIR/$h.uts" chroot "$C" virsh -c qemu:///system -q list --name 2>/dev/null); do
      nsenter "--mount=$NS_DIR/$h.mnt" "--uts=$NS_DIR/$h.uts" chroot "$C" virsh -c qemu:///system -q destroy "$d" >/dev/null 2>&1 || log "could not destroy $d on $h"
    done
  fi
  stop_one "sidecar-$h"
  stop_one "sshd-$h"
  stop_one "libvirtd-$h"
  stop_one "virtlogd-$h"
  # Guests whose libvirtd was already gone (killed for an evacuation) outlive all of the above:
  # whatever still runs in the host's mount namespace goes too, as with a host that fails.
  local left i
  left=$(leftovers_of "$h")
  if [ -n "$left" ]; then
    log "$h: stopping what outlived its services: $(ps -o comm= -p "$(echo $left | tr ' ' ',')" | sort -u | tr '\n' ' ')"
    kill $left 2>/dev/null || true
    for i in $(seq 1 30); do [ -z "$(leftovers_of "$h")" ] && break; sleep 1; done
    left=$(leftovers_of "$h")
    [ -z "$left" ] || kill -9 $left 2>/dev/null || true
  fi
}

leftovers_of() { # PIDs of the processes in host H's mount namespace
  local want p
  want=$(stat -L -c %i "$NS_DIR/$1.mnt" 2>/dev/null) || return 0
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "mnt:[$want]" ] && echo "${p#/proc/}"
  done
  return 0
}

# ---------------------------------------------------------------- images and flavors
register() { admin register "$IS/images" >&2; }

# ---------------------------------------------------------------- commands
start() {
  [ -x "$C/usr/bin/nova-compute" ] || die "not installed: run $0 install --release $RELEASE"
  local t0=$SECONDS
  mkdir -p "$S/run" "$S/log" "$S/replicas" "$S/keys"
  [ -s "$S/keys/replica.key" ] || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$S/keys/replica.key")
  mount_base
  mount_repo
  write_configs
  ssh_setup
  start_mariadb
  databases
  start_rabbitmq
  start_keystone
  keystone_accounts
  start_glance
  start_placement
  start_neutron
  start_nova_controller
  local h
  for h in "${HOSTS[@]}"; do start_compute "$h"; done
  in_c nova-manage "${NOVA[@]}" cell_v2 discover_hosts >/dev/null
  register
  log "cloud up in $((SECONDS - t0)) s (compute driver: $(current_driver))"
}

stop() {
  local h s
  for h in "${HOSTS[@]}"; do stop_compute "$h"; done
  for s in nova-scheduler nova-conductor nova-api neutron-server placement glance-api keystone rabbitmq epmd mariadb; do stop_one "$s"; done
  local f
  for h in "${HOSTS[@]}"; do
    for f in "$NS_DIR/$h.mnt" "$NS_DIR/$h.uts"; do [ -e "$f" ] && { umount "$f" 2>/dev/null || true; rm -f "$f"; }; done
  done
  unmount_all
  rmdir "$NS_DIR" 2>/dev/null || true
  log "stopped"
}

status() {
  local bad=0 s h state
  check() { # check NAME PROBE...
    local name=$1
    shift
    if ! alive "$name"; then state="not running"; bad=1
    elif "$@" >/dev/null 2>&1; then state="answers"
    else state="running (pid $(cat "$(pidf "$name")")) but does not answer"; bad=1; fi
    printf '%-22s %s\n' "$name" "$state"
  }
  check mariadb mysql_q -e 'select 1'
  check rabbitmq rmqctl -q status
  check keystone http_ok "http://$CTL:5000/v3"
  check glance-api http_ok "http://$CTL:9292/versions"
  check placement http_ok "http://$CTL:8778/"
  check neutron-server http_ok "http://$CTL:9696/"
  check nova-api http_ok "http://$CTL:8774/"
  check nova-conductor admin service-up nova-conductor
  check nova-scheduler admin service-up nova-scheduler
  for h in "${HOSTS[@]}"; do
    check "libvirtd-$h" nsenter "--mount=$NS_DIR/$h.mnt" "--uts=$NS_DIR/$h.uts" chroot "$C" virsh -c qemu:///system -q version
    check "sshd-$h" in_c ssh -o BatchMode=yes -o ConnectTimeout=5 "$(addr_of "$h")" true
    check "sidecar-$h" http_ok "http://$(addr_of "$h"):$SIDECAR_PORT/healthz"
    check "nova-compute-$h" compute_up "$h"
  done
  echo "compute_driver         $(current_driver)"
  return $((bad * 3))
}

case "$CMD" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) admin_env ;;
  versions) versions ;;
  driver)
    case "${ARGS[0]:-}" in stock|ours) ;; *) die "driver stock|ours" ;; esac
    echo "${ARGS[0]}" >"$(DRIVER_FILE)"
    # Every config file again (compute_conf needs write_configs' nova_common), then the restarts.
    write_configs
    for h in "${HOSTS[@]}"; do stop_one "nova-compute-$h"; done
    since=$(date +%s)
    for h in "${HOSTS[@]}"; do run "nova-compute-$h" --ns "$h" nova-compute --config-file "$IS/etc/nova/nova-$h.conf"; done
    # Each one's first report since this restart: until then it may still be in init_host.
    for h in "${HOSTS[@]}"; do wait_for "nova-compute-$h" compute_up "$h" "$since"; done
    ;;
  sidecar)
    h=${ARGS[1]:-}; addr_of "$h" >/dev/null
    case "${ARGS[0]:-}" in stop) stop_one "sidecar-$h" ;; start) start_sidecar "$h" ;; *) die "sidecar stop|start cmpN" ;; esac
    ;;
  compute)
    h=${ARGS[1]:-}; addr_of "$h" >/dev/null
    case "${ARGS[0]:-}" in stop) stop_compute "$h" ;; start) start_compute "$h" ;; *) die "compute stop|start cmpN" ;; esac
    ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
