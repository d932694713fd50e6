#!/usr/bin/env bash
# Tempest (Debian's python3-tempest, the release that matches the cloud) against the cloud that
# scripts/cloud.sh runs, with this repository's Tempest plugin (tempest-plugin/).
#
#   tempest.sh all [--stock]      start the cloud if it is not up, install, config, run all
#   tempest.sh install            install the plugin into the cloud's chroot (idempotent; root)
#   tempest.sh config             `tempest init` a workspace and write its tempest.conf from the
#                                 running cloud (images, flavors, the sidecars, feature flags)
#   tempest.sh list [api|plugin]  the tests a run would select
#   tempest.sh run [api|plugin|all] [--stock]
#                                 run the selected set (default all), two tests at a time; with
#                                 --stock, on the stock LibvirtDriver (the computes are switched
#                                 back to ours afterwards). Keeps the subunit v2 stream, reads it
#                                 back with Debian's subunit tools and ends with
#                                 "N passed, N failed, N skipped".
#
# The workspace and its streams are under the cloud's state directory (tempest/); a run's stream
# is tempest/<set>-<driver>.subunit. Environment: TEMPEST_CONCURRENCY (default 2).
set -euo pipefail
export LC_ALL=C.UTF-8 PYTHONIOENCODING=utf-8

die() { echo "tempest: $*" >&2; exit 1; }
log() { echo "tempest: $*" >&2; }
[ "$(id -u)" = 0 ] || die "must run as root"

REPO=$(cd "$(dirname "$0")/.." && pwd -P)
CLOUD=(bash "$REPO/scripts/cloud.sh")
C=/var/cache/nova-uefi-shim/cloud-31
IS=/srv/cloud
S=$C$IS
W=$IS/tempest/workspace      # the workspace as the chroot sees it
in_c() { chroot "$C" "$@"; }
os_env() { "${CLOUD[@]}" env | sed 's/^export //'; }
os_admin() { in_c env $(os_env) openstack "$@"; }

# The selected set of Tempest's own compute tests: create, the server actions (reboot,
# stop/start, rebuild, resize + confirm/revert, shelve/unshelve), cold and live migration.
# Rebuild is ServerActionsTestOtherA's test_rebuild_server_in_stop_state: ServerActionsTestJSON's
# test_rebuild_server waits for a floating IP whatever [validation] says (Tempest 43 reads
# validation_resources['floating_ip'] unconditionally), and this cloud's Neutron has no agents.
API_REGEX='^tempest\.api\.compute\.(servers\.test_create_server\.ServersTestJSON\.|servers\.test_server_actions\.ServerActionsTestJSON\.test_(reboot_server_hard|resize_server_confirm|resize_server_revert|stop_start_server)\b|servers\.test_server_actions\.ServerActionsTestOtherA\.test_rebuild_server_in_stop_state\b|servers\.test_server_actions\.ServerActionsTestOtherB\.test_(resize_server_confirm_from_stopped|shelve_unshelve_server)\b|admin\.test_migrations\.|admin\.test_live_migration\.LiveMigrationTest\.)'
PLUGIN_REGEX='^nova_uefi_shim_tempest\.'

regex_of() {
  case "$1" in
    api) echo "$API_REGEX" ;;
    plugin) echo "$PLUGIN_REGEX" ;;
    all) echo "($API_REGEX|$PLUGIN_REGEX)" ;;
    *) die "unknown set $1 (api|plugin|all)" ;;
  esac
}

install() {
  [ -x "$C/usr/bin/tempest" ] || die "no tempest in $C: run scripts/cloud.sh install"
  rm -rf "$S/tempest/plugin-src"
  mkdir -p "$S/tempest"
  cp -r "$REPO/tempest-plugin" "$S/tempest/plugin-src"
  # Offline, from the copied source only; Debian's pip wants the override for a system install.
  in_c python3 -m pip install --quiet --no-index --no-deps --no-build-isolation --break-system-packages \
    --root-user-action=ignore --upgrade "$IS/tempest/plugin-src" >/dev/null
  in_c python3 -c 'import importlib.metadata as m; eps=[e.name for e in m.entry_points(group="tempest.test_plugins")]; assert "nova-uefi-shim" in eps, eps'
  log "plugin installed in $C"
}

id_of() { # id_of image|flavor NAME
  local id
  id=$(os_admin "$1" show "$2" -f value -c id 2>/dev/null) || true
  [ -n "$id" ] || die "the cloud has no $1 $2: is it started (scripts/cloud.sh start)?"
  echo "$id"
}

config() {
  "${CLOUD[@]}" status >/dev/null || die "the cloud is not fully up (scripts/cloud.sh status)"
  local uefi uefi_sb secret token_file
  uefi=$(id_of image nus-uefi)
  uefi_sb=$(id_of image nus-uefi-sb)
  secret=$(os_env | sed -n 's/^OS_PASSWORD=//p')
  token_file=$IS/tempest/sidecar.token
  (umask 077; cp "$S/etc/secret" "$S/tempest/sidecar.token")
  [ -d "$S/tempest/workspace/etc" ] || in_c tempest init --name nus-cloud "$W" >/dev/null
  cat >"$S/tempest/workspace/etc/tempest.conf" <<CONF
[DEFAULT]
log_file = $W/tempest.log
debug = True

[auth]
admin_username = admin
admin_password = $secret
admin_project_name = admin
admin_domain_name = Default
use_dynamic_credentials = True
create_isolated_networks = False

[identity]
uri_v3 = http://127.0.0.1:5000/v3
auth_version = v3
region = RegionOne

[identity-feature-enabled]
api_v2 = False

[compute]
image_ref = $uefi
image_ref_alt = $uefi
flavor_ref = nus.small
flavor_ref_alt = nus.medium
min_compute_nodes = 2
min_microversion = 2.1
max_microversion = latest
build_interval = 2
build_timeout = 900
# As the cloud's Nova: shelve offloads at once (Nova's default [DEFAULT] shelved_offload_time = 0).
shelved_offload_time = 0

[compute-feature-enabled]
resize = True
cold_migration = True
live_migration = True
block_migration_for_live_migration = True
shelve = True
shelve_migrate = True
console_output = True
rescue = False
stable_rescue = False
pause = True
suspend = False
snapshot = False
change_password = False
interface_attach = False
attach_encrypted_volume = False
serial_console = False
spice_console = False
vnc_console = False
config_drive = False
personality = False

[validation]
run_validation = False

[service-clients]
# Nova reads a console log through libvirt and privsep: on a busy 2-core host that takes longer
# than the 60 s default.
http_timeout = 300

[service_available]
nova = True
glance = True
# neutron-server runs (its API, ML2 without agents): Tempest's compute base classes that ask for
# a default network (LiveMigrationTest) skip without it. create_isolated_networks = False above,
# so no test makes a network: the servers have no ports.
neutron = True
cinder = False
swift = False

[image-feature-enabled]
api_v1 = False

[uefi_shim]
enabled = True
sidecar_endpoints = cmp1:http://127.0.0.2:7780,cmp2:http://127.0.0.3:7780
sidecar_token_file = $token_file
image_ref = $uefi
secure_boot_image_ref = $uefi_sb
secure_boot_keyset = nus-cloud
secure_boot_db_subject = nova-uefi-shim cloud db
boot_timeout = 900
CONF
  chmod 0600 "$S/tempest/workspace/etc/tempest.conf"
  # The stock comparison: the same, but the plugin judges a store by the guest's boot only.
  sed 's/^\[uefi_shim\]$/[uefi_shim]\ncompute_driver = stock/' "$S/tempest/workspace/etc/tempest.conf" \
    >"$S/tempest/workspace/etc/tempest-stock.conf"
  chmod 0600 "$S/tempest/workspace/etc/tempest-stock.conf"
  log "wrote $S/tempest/workspace/etc/tempest.conf and tempest-stock.conf"
}

list() {
  local set=${1:-all}
  in_c sh -c "cd '$W' && tempest run --list-tests --regex '$(regex_of "$set")'" | grep -E '^(tempest|nova_uefi_shim_tempest)\.' || true
}

run() {
  local set=all driver=ours
  while [ $# -gt 0 ]; do
    case "$1" in
      --stock) driver=stock ;;
      api|plugin|all) set=$1 ;;
      *) die "run [api|plugin|all] [--stock]" ;;
    esac
    shift
  done
  local before
  before=$("${CLOUD[@]}" status | awk '$1=="compute_driver"{print $2}')
  if [ "$driver" != "$before" ]; then "${CLOUD[@]}" driver "$driver"; fi
  local stream=$S/tempest/$set-$driver.subunit t0=$SECONDS rc=0
  log "running the $set set on the $driver driver (stream: $stream)"
  in_c sh -c "cd '$W' && tempest run --config-file '$W/etc/tempest$([ "$driver" = stock ] && echo -stock).conf' --concurrency ${TEMPEST_CONCURRENCY:-2} --regex '$(regex_of "$set")' --subunit" \
    >"$stream" || rc=$?
  if [ "$driver" != "$before" ]; then "${CLOUD[@]}" driver "$before"; fi
  # Read the stream back with Debian's subunit tools (the same consumer the tempest-compat check uses).
  subunit2pyunit <"$stream" 2>&1 | tail -n 40 || true
  local counts
  counts=$(/usr/bin/python3 - "$stream" <<'PY'
import sys, subunit, testtools
stream = open(sys.argv[1], 'rb')
result = testtools.StreamSummary()
case = subunit.ByteStreamToStreamResult(stream, non_subunit_name='stdout')
result.startTestRun(); case.run(result); result.stopTestRun()
skipped = len(result.skipped)
failed = len(result.errors) + len(result.failures)
passed = result.testsRun - failed - skipped
for t, reason in result.skipped:
    print('skipped: %s: %s' % (t.id(), str(reason).strip()[:200]), file=sys.stderr)
print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
PY
)
  log "$set on $driver: $counts in $((SECONDS - t0)) s"
  echo "$counts"
  [ "$rc" = 0 ] && ! grep -q ' [1-9][0-9]* failed' <<<"$counts"
}

CMD=${1:-}
shift || true
case "$CMD" in
  install) install ;;
  config) config ;;
  list) list "$@" ;;
  run) run "$@" ;;
  all)
    "${CLOUD[@]}" status >/dev/null 2>&1 || "${CLOUD[@]}" start
    install
    config
    run all "$@"
    ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
