#!/bin/bash
# Run the nova-uefi-shim driver's tests: functional ones on Nova's own framework,
# plus a few unit tests of seams the fake libvirt cannot reach.
#
#   nova-driver/run-functional.sh [--release 26|31|33|all] [--sidecar-ref REF]
#                                 [--concurrency N] [--conformance] [REGEX...]
#
# --conformance runs Nova's own tests instead (nova_uefi_shim_conformance):
# test_virt_drivers.LibvirtConnTestCase (BIOS and UEFI guests), the functional
# test_uefi.py and test_stateless_firmware.py (where the release has them),
# each with stock LibvirtDriver and with UEFIShimDriver plus real sidecars,
# and the wire-schema test; it prints "stock N passed/N failed/N skipped |
# driver ..." per class pair and every test whose outcome differs.
#
# --release runs the suite on that Nova release: 26 is this host's own
# python3-nova (the default), 31 and 33 run inside the release chroots that
# scripts/nova-release.sh builds (root; the sidecars run from this host's node,
# bind-mounted into the chroot). "all" runs the three one after the other and
# prints one "release R: N passed, N failed" line each, then the total.
# A release that is not installed is a skip with its reason, or a failure
# with NUS_REQUIRE_NOVA=1.
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
# not installed", a release that is not installed and any skipped test into
# failures (every skip is printed with its reason either way).

set -u

# The whole script is one function, read before it runs: editing this file
# while a run is under way does not change what that run executes.
main() {
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
PYTHON=${PYTHON:-/usr/bin/python3}
SIDECAR_REF=
CONCURRENCY=${NUS_TEST_CONCURRENCY:-1}
RELEASE=
CONFORMANCE=

while [ $# -gt 0 ]; do
    case "$1" in
        --release) RELEASE=$2; shift 2 ;;
        --release=*) RELEASE=${1#*=}; shift ;;
        --sidecar-ref) SIDECAR_REF=$2; shift 2 ;;
        --sidecar-ref=*) SIDECAR_REF=${1#*=}; shift ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --concurrency=*) CONCURRENCY=${1#*=}; shift ;;
        --conformance) CONFORMANCE=--conformance; shift ;;
        -h|--help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) break ;;
    esac
done

summary_of() {  # the last "N passed, N failed[, N skipped]" line of a file
    grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$1" | tail -1
}

# One release in its chroot (31, 33): this same script, run inside it.
run_release() {
    local release=$1
    shift
    if [ "$release" = 26 ]; then
        "$0" "$@"
        return
    fi
    local why=
    if [ "$(id -u)" != 0 ]; then
        why="release $release runs in a chroot, which needs root"
    elif ! "$REPO/scripts/nova-release.sh" status "$release" >/dev/null 2>&1; then
        why="release $release is not installed (scripts/nova-release.sh install $release)"
    fi
    if [ -n "$why" ]; then
        echo "$why"
        if [ "${NUS_REQUIRE_NOVA:-0}" = 1 ]; then
            echo "0 passed, 1 failed"
            return 1
        fi
        echo "0 passed, 0 failed, 1 skipped"
        return 0
    fi
    NOVA_UEFI_SHIM_NODE=/usr/local/bin/node PYTHON=/usr/bin/python3 \
        "$REPO/scripts/nova-release.sh" run "$release" -- \
        /bin/bash "$HERE/run-functional.sh" "$@"
}

case "$RELEASE" in
    ''|26) ;;
    31|33)
        run_release "$RELEASE" --concurrency "$CONCURRENCY" $CONFORMANCE "$@"
        exit $?
        ;;
    all)
        ALL=$(mktemp -d /tmp/nova-uefi-shim-releases.XXXXXX)
        trap 'rm -rf "$ALL"' EXIT
        tp=0; tf=0; ts=0; rc=0
        for r in 26 31 33; do
            echo "=== Nova release $r ==="
            r_started=$(date +%s)
            run_release "$r" --concurrency "$CONCURRENCY" $CONFORMANCE "$@" 2>&1 | tee "$ALL/$r"
            [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
            echo "release $r took $(( $(date +%s) - r_started ))s" >> "$ALL/lines"
            line=$(summary_of "$ALL/$r")
            [ -n "$line" ] || { line="0 passed, 1 failed"; rc=1; }
            echo "release $r: $line" >> "$ALL/lines"
            p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
            f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
            k=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped$/\1/p')
            tp=$(( tp + p )); tf=$(( tf + f )); ts=$(( ts + ${k:-0} ))
        done
        echo
        cat "$ALL/lines"
        total="$tp passed, $tf failed"
        [ "$ts" -gt 0 ] && total="$total, $ts skipped"
        echo "$total"
        [ "$rc" -eq 0 ] && [ "$tf" -eq 0 ]
        exit $?
        ;;
    *) echo "--release: 26, 31, 33 or all"; echo "0 passed, 1 failed"; exit 2 ;;
esac

if ! "$PYTHON" -c 'import nova.tests.functional.libvirt.base' 2>/dev/null; then
    echo "python3-nova (with its tests) is not importable by $PYTHON"
    if [ "${NUS_REQUIRE_NOVA:-0}" = 1 ]; then
        echo "0 passed, 1 failed"
        exit 1
    fi
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi

echo "Nova $("$PYTHON" -c 'from nova import version; print(version.version_string())' 2>/dev/null)" \
    "(python $("$PYTHON" -c 'import platform; print(platform.python_version())'))"
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
TEST_PATH=./nova_uefi_shim_tests
[ -n "$CONFORMANCE" ] && TEST_PATH=./nova_uefi_shim_conformance
started=$(date +%s)
"$PYTHON" -m stestr --test-path "$TEST_PATH" --top-dir ./ \
    --repo-url "$WORK/stestr" run --concurrency "$CONCURRENCY" "$@" \
    2>&1 | tee "$WORK/out"
stestr_rc=${PIPESTATUS[0]}
elapsed=$(( $(date +%s) - started ))

if [ -n "$CONFORMANCE" ]; then
    # stock against driver, pair by pair; its last line is the totals
    "$PYTHON" -m stestr --repo-url "$WORK/stestr" last --subunit \
        2>/dev/null | "$PYTHON" "$HERE/nova_uefi_shim_conformance/report.py" \
        > "$WORK/pairs"
    rc=$?
    cat "$WORK/pairs"
    echo "elapsed: ${elapsed}s"
    line=$(summary_of "$WORK/pairs")
    [ -n "$line" ] || { line="0 passed, 1 failed"; rc=1; }
    echo "$line"
    return $rc
fi

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
if [ "$stestr_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    # a worker that died (killed, crashed) leaves totals of what finished
    echo "stestr exited $stestr_rc with no failed test: the run did not finish"
    failed=1
fi
if [ "${skipped:-0}" -gt 0 ]; then
    # each skip with its reason, as stestr printed it
    grep -E '\.\.\. SKIPPED' "$WORK/out" | sed 's/^{[0-9]*} /skipped: /'
    if [ "${NUS_REQUIRE_NOVA:-0}" = 1 ]; then
        echo "NUS_REQUIRE_NOVA=1: a skipped test counts as failed"
        failed=$(( failed + skipped ))
    fi
fi
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
}

main "$@"
exit $?
