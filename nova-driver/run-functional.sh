#!/bin/bash
# Run the nova-uefi-shim driver's tests: functional ones on Nova's own framework,
# plus a few unit tests of seams the fake libvirt cannot reach.
#
#   nova-driver/run-functional.sh [--sidecar-ref REF] [--concurrency N] [REGEX...]
#
# Needs Debian's python3-nova and its test dependencies (see docs/testing.md), node
# and this repository's node_modules (tsx), and ovmf. The driver is not
# installed: nova_uefi_shim_tests puts this tree's nova/virt on nova.virt's
# package path. Each test starts its own sidecar processes from the
# repository's TypeScript sources; --sidecar-ref REF runs them from a
# snapshot of that git revision instead of the work tree (git archive; the
# work tree is not touched).
#
# The last line is "N passed, N failed" (", N skipped" when some were).
# Environment: PYTHON (default /usr/bin/python3, Debian's interpreter, since
# pyenv shims may shadow python3), NUS_REQUIRE_NOVA=1 turns "python3-nova is
# not installed" from a skip into a failure.

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
PYTHON=${PYTHON:-/usr/bin/python3}
SIDECAR_REF=
CONCURRENCY=${NUS_TEST_CONCURRENCY:-1}

while [ $# -gt 0 ]; do
    case "$1" in
        --sidecar-ref) SIDECAR_REF=$2; shift 2 ;;
        --sidecar-ref=*) SIDECAR_REF=${1#*=}; shift ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --concurrency=*) CONCURRENCY=${1#*=}; shift ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) break ;;
    esac
done

if ! "$PYTHON" -c 'import nova.tests.functional.libvirt.base' 2>/dev/null; then
    echo "python3-nova (with its tests) is not importable by $PYTHON"
    if [ "${NUS_REQUIRE_NOVA:-0}" = 1 ]; then
        echo "0 passed, 1 failed"
        exit 1
    fi
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi

WORK=$(mktemp -d /tmp/nova-uefi-shim-functional.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if [ -n "$SIDECAR_REF" ]; then
    mkdir -p "$WORK/sidecar"
    if ! git -C "$REPO" archive "$SIDECAR_REF" src package.json tsconfig.json openapi \
            | tar -x -C "$WORK/sidecar"; then
        echo "cannot snapshot $SIDECAR_REF of $REPO"
        echo "0 passed, 1 failed"
        exit 1
    fi
    ln -s "$REPO/node_modules" "$WORK/sidecar/node_modules"
    export NOVA_UEFI_SHIM_REPO="$WORK/sidecar"
fi

export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
cd "$HERE" || exit 1

mkdir -p "$WORK/stestr"
# Each test appends what it saw (operation by operation) here; printed below.
export NOVA_UEFI_SHIM_REPORT="$WORK/report.jsonl"
started=$(date +%s)
"$PYTHON" -m stestr --test-path ./nova_uefi_shim_tests --top-dir ./ \
    --repo-url "$WORK/stestr" run --concurrency "$CONCURRENCY" "$@" \
    2>&1 | tee "$WORK/out"
elapsed=$(( $(date +%s) - started ))

count() {
    sed -n "s/^ - $1: \([0-9]*\)$/\1/p" "$WORK/out" | tail -1
}
passed=$(count Passed)
failed=$(count Failed)
skipped=$(count Skipped)
unexpected=$(count 'Unexpected Success')
if [ -z "$passed" ] || [ -z "$failed" ]; then
    echo "stestr produced no totals (see above)"
    echo "0 passed, 1 failed"
    exit 1
fi
failed=$(( failed + ${unexpected:-0} ))
if [ -s "$NOVA_UEFI_SHIM_REPORT" ]; then
    "$PYTHON" "$HERE/nova_uefi_shim_tests/report.py" "$NOVA_UEFI_SHIM_REPORT"
fi
echo "elapsed: ${elapsed}s"
line="$passed passed, $failed failed"
if [ "${skipped:-0}" -gt 0 ]; then
    line="$line, $skipped skipped"
fi
echo "$line"
[ "$failed" -eq 0 ]
