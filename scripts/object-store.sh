#!/usr/bin/env bash
# A real object store for tests: an OpenStack Swift all-in-one from Debian 12's packages with the
# s3api and tempauth middlewares, on 127.0.0.1 only, without systemd, one replica on one "device"
# that is a plain directory.
#
#   object-store.sh install   apt-get install the Debian 12 packages (only the missing ones)
#   object-store.sh start     write the configs under the state dir, build the rings if missing, start
#                             memcached and the account, container, object and proxy servers bound
#                             to 127.0.0.1, wait until S3 answers; when already running, start nothing
#   object-store.sh stop      stop the processes this script started (pid files), nothing else
#   object-store.sh status    print the lines below and exit 0 when running, exit 3 when not
#
# `start` and `status` print KEY=VALUE lines on stdout (diagnostics go to stderr):
#   S3_ENDPOINT=http://127.0.0.1:PORT  S3 (path-style, SigV4) and the native Swift API
#                                      (GET /auth/v1.0 with X-Storage-User/X-Storage-Pass, /v1/AUTH_test)
#   S3_ACCESS_KEY=test:tester          the tempauth user (account:user)
#   S3_SECRET_KEY=testing
#   S3_REGION=us-east-1
# Environment:
#   NUS_OBJECT_STORE_DIR      state dir, default /var/tmp/nus-object-store: etc/ (configs, rings),
#                             srv/d1 (the device), run/ (pid files), log/ (one log per server)
#   NUS_OBJECT_STORE_PORT     proxy port (default 18480); the object, container and account servers
#                             and memcached use PORT+1..PORT+4 unless NUS_OBJECT_STORE_OBJECT_PORT,
#                             _CONTAINER_PORT, _ACCOUNT_PORT, _MEMCACHED_PORT say otherwise
#   NUS_OBJECT_STORE_TIMEOUT  seconds to wait for the endpoint to answer (default 60)
# While the store runs, `start` and `status` print the ports it was started with (etc/ports), whatever
# the environment says now. Under root the servers run as the `swift` user (with workers = 0 Swift
# does not drop privileges itself): every parent of the state dir must be searchable by it, and its
# filesystem must take user xattrs (ext4 does; tmpfs only from Linux 6.6). Without root they run as
# the caller. The hash path prefix/suffix come from /etc/swift/swift.conf, as the package ships it.
set -euo pipefail
export LC_ALL=C

DIR="${NUS_OBJECT_STORE_DIR:-/var/tmp/nus-object-store}"
TIMEOUT="${NUS_OBJECT_STORE_TIMEOUT:-60}"
ACCESS_KEY=test:tester
SECRET_KEY=testing
REGION=us-east-1
SERVERS=(account container object proxy) # start order; stop goes the other way
PKGS=(swift swift-proxy swift-account swift-container swift-object python3-swift memcached curl)
PY=/usr/bin/python3 # Debian's, with python3-swift (not whatever python3 comes first in PATH)

die() { echo "object-store: $*" >&2; exit 1; }
log() { echo "object-store: $*" >&2; }

# ---------------------------------------------------------------- packages
install_pkgs() { # idempotent: apt-get runs only when something is missing
  local missing=() p made_policy=
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then log "packages present: ${PKGS[*]}"; return; fi
  [ "$(id -u)" = 0 ] || die "must run as root to install ${missing[*]}"
  log "installing ${missing[*]}"
  # The packages' maintainer scripts must not start their own daemons (memcached on 11211, the
  # swift services, rsyslog): a policy-rc.d that exits 101 forbids it, for this install only.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# object-store.sh install: no daemons started by maintainer scripts\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || die "apt-get failed ($rc)"
}

# ---------------------------------------------------------------- layout and ports
paths() { # paths [create]
  if [ "${1:-}" = create ]; then mkdir -p "$DIR"; fi
  if [ -d "$DIR" ]; then DIR=$(cd "$DIR" && pwd -P); fi
  ETC=$DIR/etc SRV=$DIR/srv RUN=$DIR/run LOG=$DIR/log CACHE=$DIR/cache
}

env_ports() { # the ports asked for by the environment
  local base=${NUS_OBJECT_STORE_PORT:-18480}
  PROXY_PORT=$base
  OBJECT_PORT=${NUS_OBJECT_STORE_OBJECT_PORT:-$((base + 1))}
  CONTAINER_PORT=${NUS_OBJECT_STORE_CONTAINER_PORT:-$((base + 2))}
  ACCOUNT_PORT=${NUS_OBJECT_STORE_ACCOUNT_PORT:-$((base + 3))}
  MEMCACHED_PORT=${NUS_OBJECT_STORE_MEMCACHED_PORT:-$((base + 4))}
  local p
  for p in "$PROXY_PORT" "$OBJECT_PORT" "$CONTAINER_PORT" "$ACCOUNT_PORT" "$MEMCACHED_PORT"; do
    [[ "$p" =~ ^[0-9]+$ ]] && (( p > 0 && p < 65536 )) || die "bad port '$p'"
  done
}

ports_line() { echo "proxy=$PROXY_PORT object=$OBJECT_PORT container=$CONTAINER_PORT account=$ACCOUNT_PORT memcached=$MEMCACHED_PORT"; }

state_ports() { # the ports of the store as last started (etc/ports), into the same variables; 1 if none
  [ -s "$ETC/ports" ] || return 1
  local kv
  for kv in $(cat "$ETC/ports"); do
    case "${kv%%=*}" in
      proxy) PROXY_PORT=${kv#*=} ;; object) OBJECT_PORT=${kv#*=} ;; container) CONTAINER_PORT=${kv#*=} ;;
      account) ACCOUNT_PORT=${kv#*=} ;; memcached) MEMCACHED_PORT=${kv#*=} ;;
    esac
  done
}

port_of() {
  case "$1" in proxy) echo "$PROXY_PORT" ;; object) echo "$OBJECT_PORT" ;; container) echo "$CONTAINER_PORT" ;;
    account) echo "$ACCOUNT_PORT" ;; memcached) echo "$MEMCACHED_PORT" ;; esac
}

port_free() { # nothing accepts connections on 127.0.0.1:PORT
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

print_lines() {
  printf 'S3_ENDPOINT=http://127.0.0.1:%s\nS3_ACCESS_KEY=%s\nS3_SECRET_KEY=%s\nS3_REGION=%s\n' \
    "$PROXY_PORT" "$ACCESS_KEY" "$SECRET_KEY" "$REGION"
}

# ---------------------------------------------------------------- processes
lock() { # one start/stop at a time per state dir (the fd stays open until this script exits)
  exec 9>"$DIR/.lock" # launch() closes it for the servers
  flock -w "$((TIMEOUT + 30))" 9 || die "another object-store.sh holds $DIR/.lock"
}

marker() { # a string the process's command line must contain (guards against a recycled pid)
  case "$1" in memcached) echo "-p $MEMCACHED_PORT" ;; *) echo "$ETC/$1-server.conf" ;; esac
}

pid_of() { # pid_of NAME: print the pid when the pid file names a live (not zombie) process of ours
  local f=$RUN/$1.pid pid st cmd
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ] || return 1 # a killed server lingers as a zombie (~2 s here)
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ "$cmd" == *"$(marker "$1")"* ]] || return 1
  echo "$pid"
}

alive() { pid_of "$1" >/dev/null; }

gone() { # gone PID: exited or a zombie
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 0
  [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

stop_one() { # TERM, wait up to 10 s, then KILL; only the process the pid file names, if it is ours
  local name=$1 pid
  if pid=$(pid_of "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do gone "$pid" && break; sleep 0.25; done
    if ! gone "$pid"; then log "$name ($pid) ignored TERM, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
    for _ in $(seq 1 20); do gone "$pid" && break; sleep 0.25; done
    log "stopped $name ($pid)"
  fi
  rm -f "$RUN/$name.pid"
}

launch() { # launch NAME CMD...: detached (own session), as the server user (AS), output to log/NAME.log, pid in run/NAME.pid
  local name=$1 pidf=$RUN/$1.pid
  shift
  rm -f "$pidf"
  # The shell writes its own pid (root-owned file), then execs setpriv, which execs the server:
  # the pid in the file is the server's. setsid: not in the caller's process group or terminal.
  setsid /bin/bash -c 'echo $$ >"$0.tmp" && mv -f "$0.tmp" "$0" && exec "$@"' "$pidf" "${AS[@]}" "$@" \
    </dev/null >>"$LOG/$name.log" 2>&1 9>&- &
  for _ in $(seq 1 40); do [ -s "$pidf" ] && return 0; sleep 0.05; done
  die "$name did not start (see $LOG/$name.log)"
}

# ---------------------------------------------------------------- configs and rings
server_conf() { # server_conf TYPE PORT
  cat <<EOF
# written by scripts/object-store.sh start; rewritten on every start
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $2
workers = 0
user = $RUN_USER
swift_dir = $ETC
devices = $SRV
mount_check = false
recon_cache_path = $CACHE
log_name = $1-server
log_level = INFO

[pipeline:main]
pipeline = healthcheck $1-server

[app:$1-server]
use = egg:swift#$1

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
}

proxy_conf() {
  cat <<EOF
# written by scripts/object-store.sh start; rewritten on every start
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PROXY_PORT
workers = 0
user = $RUN_USER
swift_dir = $ETC
recon_cache_path = $CACHE
log_name = proxy-server
log_level = INFO

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl ratelimit s3api tempauth copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = $REGION

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = $SECRET_KEY .admin
storage_url_scheme = default

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MEMCACHED_PORT

[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
allow_object_versioning = true

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:ratelimit]
use = egg:swift#ratelimit
[filter:copy]
use = egg:swift#copy
[filter:container-quotas]
use = egg:swift#container_quotas
[filter:account-quotas]
use = egg:swift#account_quotas
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:symlink]
use = egg:swift#symlink
EOF
}

write_file() { # write_file PATH < content: replaced atomically
  cat >"$1.tmp" && chmod 0644 "$1.tmp" && mv -f "$1.tmp" "$1"
}

build_ring() { # build_ring TYPE: 2^8 partitions, 1 replica, one device d1 on 127.0.0.1:PORT; kept when it matches
  local type=$1 port want rc=0
  port=$(port_of "$type")
  want="127.0.0.1:$port/d1"
  if [ -s "$ETC/$type.ring.gz" ] && [ -s "$ETC/$type.builder" ] &&
     swift-ring-builder "$ETC/$type.builder" 2>/dev/null | grep -q " 127.0.0.1:$port .* d1 "; then
    return 0
  fi
  log "building the $type ring ($want)"
  rm -f "$ETC/$type.builder" "$ETC/$type.ring.gz"
  swift-ring-builder "$ETC/$type.builder" create 8 1 1 >/dev/null
  swift-ring-builder "$ETC/$type.builder" add "r1z1-$want" 100 >/dev/null
  # Exit status 1 is a warning ("balance off" etc.), 2 an error.
  swift-ring-builder "$ETC/$type.builder" rebalance >/dev/null || rc=$?
  (( rc <= 1 )) || die "swift-ring-builder $type rebalance failed ($rc)"
  [ -s "$ETC/$type.ring.gz" ] || die "no $ETC/$type.ring.gz after rebalance"
  chmod 0644 "$ETC/$type.ring.gz"
}

build_rings() { # the three in parallel (about 1.2 s each: Python start-ups)
  local type jobs=() j
  for type in object container account; do build_ring "$type" & jobs+=($!); done
  for j in "${jobs[@]}"; do wait "$j" || die "building the rings failed"; done
}

run_as_setup() { # who runs the servers: the swift user under root (workers = 0 does not drop privileges), else oneself
  if [ "$(id -u)" = 0 ]; then
    getent passwd swift >/dev/null || die "no 'swift' user (run: scripts/object-store.sh install)"
    RUN_USER=swift
    AS=(setpriv --reuid=swift --regid=swift --init-groups --)
  else
    RUN_USER=$(id -un)
    AS=()
  fi
}

need_bins() {
  local f
  for f in /usr/bin/swift-proxy-server /usr/bin/swift-object-server /usr/bin/swift-container-server \
           /usr/bin/swift-account-server /usr/bin/swift-ring-builder /usr/bin/memcached /usr/bin/curl "$PY"; do
    [ -x "$f" ] || die "$f missing (run: scripts/object-store.sh install)"
  done
  # The hash path prefix/suffix are read only from here (the swift package ships it).
  [ -r /etc/swift/swift.conf ] || die "/etc/swift/swift.conf missing (run: scripts/object-store.sh install)"
}

prepare() { # state dir, configs, rings; checks that the server user can use them
  mkdir -p "$ETC" "$SRV/d1" "$RUN" "$LOG" "$CACHE"
  chmod 0755 "$DIR" "$ETC" "$RUN" "$LOG"
  if [ "$RUN_USER" != "$(id -un)" ]; then
    chown -R "$RUN_USER:" "$SRV" "$CACHE"
    # Every parent of the state dir must be searchable by that user (a mktemp -d under /tmp is 0700).
    "${AS[@]}" test -x "$ETC" -a -w "$SRV/d1" ||
      die "$DIR is not usable by user $RUN_USER (a parent directory not searchable?); choose another NUS_OBJECT_STORE_DIR"
  fi
  # Swift keeps object metadata in user xattrs: refuse a filesystem without them (tmpfs before Linux 6.6).
  "${AS[@]}" "$PY" -c '
import os, sys
p = sys.argv[1] + "/.xattr-check"
open(p, "w").close()
try:
    os.setxattr(p, "user.swift.check", b"1")
finally:
    os.unlink(p)' "$SRV/d1" 2>/dev/null ||
    die "$SRV/d1: no user xattrs on this filesystem; choose another NUS_OBJECT_STORE_DIR"
  local t
  for t in object container account; do
    server_conf "$t" "$(port_of "$t")" | write_file "$ETC/$t-server.conf"
  done
  proxy_conf | write_file "$ETC/proxy-server.conf"
  build_rings
  ports_line | write_file "$ETC/ports"
}

# ---------------------------------------------------------------- readiness
CURL=(curl -sS -o /dev/null --noproxy '*' --max-time 5 -w '%{http_code}')

s3_answers() { # a SigV4-signed ListBuckets (through s3api, tempauth, the account server) answers 200
  # The access key has a colon, which curl's --user would split on: pass it through a netrc.
  # curl 7.88 does not send x-amz-content-sha256, which s3api requires: give it (sha256 of nothing).
  local body
  body=$(curl -sS --noproxy '*' --max-time 5 --fail --aws-sigv4 "aws:amz:$REGION:s3" \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
    --netrc-file <(printf 'machine 127.0.0.1 login %s password %s\n' "$ACCESS_KEY" "$SECRET_KEY") \
    "http://127.0.0.1:$PROXY_PORT/" 2>/dev/null) || return 1
  [[ "$body" == *ListAllMyBucketsResult* ]]
}

swift_auth_answers() { # native tempauth (needs memcached for its token) answers 200
  local code
  code=$("${CURL[@]}" -H "X-Storage-User: $ACCESS_KEY" -H "X-Storage-Pass: $SECRET_KEY" \
    "http://127.0.0.1:$PROXY_PORT/auth/v1.0" 2>/dev/null) || return 1
  [ "$code" = 200 ]
}

healthy() { # healthy PORT: a server's /healthcheck answers 200
  [ "$("${CURL[@]}" "http://127.0.0.1:$1/healthcheck" 2>/dev/null)" = 200 ]
}

all_alive() { local n; for n in memcached "${SERVERS[@]}"; do alive "$n" || return 1; done; }

answers() {
  healthy "$ACCOUNT_PORT" && healthy "$CONTAINER_PORT" && healthy "$OBJECT_PORT" && healthy "$PROXY_PORT" &&
    swift_auth_answers && s3_answers
}

wait_answer() {
  local t0=$SECONDS n
  while ! answers; do
    for n in memcached "${SERVERS[@]}"; do
      alive "$n" || die "$n exited; last lines of $LOG/$n.log:
$(tail -n 15 "$LOG/$n.log" 2>/dev/null)"
    done
    (( SECONDS - t0 < TIMEOUT )) || die "no answer from http://127.0.0.1:$PROXY_PORT within $TIMEOUT s; see $LOG"
    sleep 0.25
  done
  log "S3 and Swift answered after $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- commands
start() {
  need_bins
  paths create
  lock
  run_as_setup
  if state_ports && all_alive; then
    if answers; then print_lines; return; fi
  fi
  # Something is missing, or nothing runs. Ports asked for now; if a part still runs on other
  # ports (an earlier start with another environment), stop what this script started first.
  local old_ports=""
  state_ports && old_ports=$(ports_line)
  env_ports
  if [ -n "$old_ports" ] && [ "$old_ports" != "$(ports_line)" ]; then
    (state_ports; stop_all)
  fi
  # From here on a failure stops what this script started: no half-started store is left behind.
  trap 'stop_all; log "start failed; stopped what it had started"' EXIT
  prepare
  local n
  for n in memcached "${SERVERS[@]}"; do
    # Swift would retry a taken port for 30 s and then exit: say which one at once.
    alive "$n" || port_free "$(port_of "$n")" ||
      die "127.0.0.1:$(port_of "$n") (for $n) is taken by another process; set NUS_OBJECT_STORE_PORT (the base of all five) or NUS_OBJECT_STORE_<SERVER>_PORT"
  done
  if ! alive memcached; then
    # -U 0: no UDP. Runs as the server user, so no -u needed.
    launch memcached /usr/bin/memcached -l 127.0.0.1 -p "$MEMCACHED_PORT" -U 0 -m 64 -c 1024
  fi
  for n in "${SERVERS[@]}"; do
    # -v: log to stdout (our log file); there is no syslog on these machines.
    alive "$n" || launch "$n" "/usr/bin/swift-$n-server" "$ETC/$n-server.conf" -v
  done
  wait_answer
  trap - EXIT
  print_lines
}

stop_all() { local n; for n in proxy object container account memcached; do stop_one "$n"; done; }

stop() {
  paths
  [ -d "$RUN" ] || { log "nothing started in $DIR"; return 0; }
  lock
  state_ports || env_ports
  stop_all
}

status() {
  paths
  if state_ports && all_alive && answers; then print_lines; return 0; fi
  echo "object-store: not running (state dir $DIR)" >&2
  return 3
}

case "${1:-}" in
  install) install_pkgs ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) sed -n '2,30p' "$0" >&2; exit 2 ;;
esac
