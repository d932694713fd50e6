#!/usr/bin/env bash
# Runs tempest-compat against a "deployment": two sidecars started by hand from their own
# conf files (as an operator would, here on loopback, embedded backend, real Debian firmware
# descriptors), and a tempest.conf that names them. Skips when Debian's OVMF is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f /usr/share/OVMF/OVMF_CODE_4M.fd ]; then echo "tempest-deployment-check: skipped (no ovmf)"; exit 0; fi
work=$(mktemp -d); chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }
p1=$(port); p2=$(port)
for n in 1 2; do
  p=$([ $n = 1 ] && echo "$p1" || echo "$p2")
  mkdir -p "$work/compute$n"
  cat >"$work/compute$n/shim.conf" <<CONF
[DEFAULT]
host = compute$n
[api]
host = 127.0.0.1
port = $p
auth_token = deploy-token-0123456789
[hypervisor]
backend = embedded
state_dir = $work/compute$n/state
[nvram]
nvram_dir = $work/compute$n/nvram
[libvirt]
hw_machine_type = x86_64=q35
[peer]
hosts = compute1=http://127.0.0.1:$p1,compute2=http://127.0.0.1:$p2
shared_secret = deploy-secret-0123456789
CONF
  node --import tsx src/main.ts --config-file "$work/compute$n/shim.conf" >"$work/compute$n/log" 2>&1 &
  pids+=($!)
done
for n in 1 2; do
  for _ in $(seq 1 100); do grep -q '"msg":"listening"' "$work/compute$n/log" && break; sleep 0.2; done
  grep -q '"msg":"listening"' "$work/compute$n/log" || { echo "sidecar compute$n did not start"; cat "$work/compute$n/log"; exit 1; }
done
cat >"$work/tempest.conf" <<CONF
[compute]
build_interval = 0.2
build_timeout = 60
min_compute_nodes = 2
[compute-feature-enabled]
uefi_boot = True
uefi_secure_boot = True
resize = True
cold_migration = True
live_migration = True
stateless_firmware = False
rescue = True
firmware_reconfiguration = False
[uefi]
hosts = compute1=http://127.0.0.1:$p1,compute2=http://127.0.0.1:$p2
auth_token = deploy-token-0123456789
shared_secret = deploy-secret-0123456789
expected_machine = q35
expected_loader = /usr/share/OVMF/OVMF_CODE_4M.fd
expected_nvram_template = /usr/share/OVMF/OVMF_VARS_4M.fd
expected_secure_loader = /usr/share/OVMF/OVMF_CODE_4M.ms.fd
expected_secure_nvram_template = /usr/share/OVMF/OVMF_VARS_4M.ms.fd
CONF
node --import tsx tempest-compat/run.ts --config-file "$work/tempest.conf"
