#!/usr/bin/env bash
# Proves tempest-compat's subunit v2 stream with real consumers (Debian python3-subunit):
# runs `npm run tempest -- --subunit`, pipes the stream through subunit2junitxml and
# subunit-ls, and fails when a consumer fails or its counts disagree with the runner's summary.
# Usage: scripts/tempest-subunit-check.sh [extra tempest args, e.g. --config-file FILE]
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v subunit2junitxml >/dev/null || need+=(subunit python3-subunit)
python3 -c 'import junitxml' 2>/dev/null || /usr/bin/python3 -c 'import junitxml' 2>/dev/null || need+=(python3-junitxml)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y --no-install-recommends "${need[@]}" >&2 || { $SUDO apt-get update >&2 && $SUDO apt-get install -y --no-install-recommends "${need[@]}" >&2; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
set +e
if npm run 2>/dev/null | grep -qE '^  tempest$'; then
  npm run --silent tempest -- --subunit "$@" >"$work/stream.bin" 2>"$work/human.txt"
else
  node --import tsx tempest-compat/run.ts --subunit "$@" >"$work/stream.bin" 2>"$work/human.txt"
fi
run_rc=$?
set -e
tail -n 3 "$work/human.txt" >&2
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$work/human.txt" | tail -1)
[ -n "$summary" ] || { echo "FAIL: no summary line from the runner (rc=$run_rc)" >&2; cat "$work/human.txt" >&2; exit 1; }
read -r passed _ failed _ skipped _ <<<"$summary"
total=$((passed + failed + skipped))

# The subunit filters exit 1 when the stream contains failed tests; anything else is a crash.
# A malformed packet does not crash them: it appears as a failed test "subunit.parser",
# which the check below rejects.
set +e
subunit2junitxml <"$work/stream.bin" >"$work/junit.xml"; j_rc=$?
subunit-ls <"$work/stream.bin" >"$work/ls.txt"; l_rc=$?
set -e
[ $j_rc -le 1 ] || { echo "FAIL: subunit2junitxml crashed (rc=$j_rc)" >&2; exit 1; }
[ $l_rc -le 1 ] || { echo "FAIL: subunit-ls crashed (rc=$l_rc)" >&2; exit 1; }
if grep -q '^subunit.parser' "$work/ls.txt"; then echo "FAIL: subunit-ls reports a parser error" >&2; exit 1; fi
ls_count=$(wc -l <"$work/ls.txt")

/usr/bin/python3 - "$work/junit.xml" "$total" "$failed" "$skipped" "$ls_count" <<'PY'
import sys, xml.etree.ElementTree as ET
path, total, failed, skipped, ls_count = sys.argv[1], *map(int, sys.argv[2:])
root = ET.parse(path).getroot()
cases = root.findall('.//testcase')
j_failed = sum(1 for c in cases if c.find('failure') is not None or c.find('error') is not None)
j_skipped = sum(1 for c in cases if c.find('skipped') is not None)
print(f"junit: tests={len(cases)} failures={j_failed} skipped={j_skipped}; subunit-ls: {ls_count}; runner: total={total} failed={failed} skipped={skipped}", file=sys.stderr)
bad = []
if len(cases) != total: bad.append("test count")
if j_failed != failed: bad.append("failure count")
if j_skipped != skipped: bad.append("skip count")
if ls_count != total: bad.append("subunit-ls count")
for c in cases:
    if c.get('classname') == 'subunit' and c.get('name') == 'parser':
        bad.append("subunit parser error (malformed packet)")
    s = c.find('skipped')
    if s is not None and not (s.text or '').strip():
        bad.append(f"skip without reason: {c.get('name')}")
if bad:
    print("FAIL: consumer disagrees: " + ", ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
[ -n "${TEMPEST_JUNIT_OUT:-}" ] && cp "$work/junit.xml" "$TEMPEST_JUNIT_OUT"
echo "subunit stream OK: $summary" >&2
exit "$run_rc"
