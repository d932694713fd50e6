# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Stock against driver, class pair by class pair, from a subunit v2 stream.

    stestr last --subunit | python3 report.py

A pair is ``Stock<Name>`` and ``UEFIShim<Name>`` of one module; other classes
(the wire test) are counted on their own. Prints, per pair, ``stock N
passed/N failed/N skipped`` against ``driver ...``, then every test whose
outcome differs (or that only one side has), and ends with the totals line
``N passed, N failed[, N skipped]`` over every test run.
"""

import sys

import subunit
import testtools

OUTCOMES = ('passed', 'failed', 'skipped')


def outcomes(stream):
    """test id -> 'passed' | 'failed' | 'skipped'."""
    found = {}

    def on_test(test):
        status = test['status']
        if status in ('success', 'xfail'):
            found[test['id']] = 'passed'
        elif status == 'skip':
            found[test['id']] = 'skipped'
        elif status in ('fail', 'uxsuccess'):
            found[test['id']] = 'failed'

    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    try:
        subunit.ByteStreamToStreamResult(
            stream, non_subunit_name='stdout').run(result)
    finally:
        result.stopTestRun()
    return found


def split(test_id):
    """(module, class, method) of a test id (scenario suffix kept)."""
    head, method = test_id.rsplit('.', 1)
    module, cls = head.rsplit('.', 1)
    return module.rsplit('.', 1)[-1], cls, method.split('(')[0]


def main(stream):
    found = outcomes(stream)
    groups = {}  # (module, pair name) -> {'stock'|'driver'|'own': {m: o}}
    for test_id, outcome in found.items():
        module, cls, method = split(test_id)
        for side, prefix in (('stock', 'Stock'), ('driver', 'UEFIShim')):
            if cls.startswith(prefix):
                name = cls[len(prefix):]
                break
        else:
            side, name = 'own', cls
        groups.setdefault((module, name), {}).setdefault(side, {})[
            method] = outcome

    def counts(tests):
        return '/'.join('%d %s' % (
            sum(1 for o in tests.values() if o == k), k) for k in OUTCOMES)

    print('\n=== Nova\'s own tests: stock LibvirtDriver against '
          'UEFIShimDriver ===')
    for (module, name), sides in sorted(groups.items()):
        if 'own' in sides:
            print('%s.%s: %s' % (module, name, counts(sides['own'])))
            continue
        stock, driver = sides.get('stock', {}), sides.get('driver', {})
        print('%s.%s: stock %s | driver %s' % (
            module, name, counts(stock), counts(driver)))
        for method in sorted(set(stock) | set(driver)):
            a, b = stock.get(method, 'absent'), driver.get(method, 'absent')
            if a != b:
                print('  differs: %s: stock %s, driver %s' % (method, a, b))
    total = {k: sum(1 for o in found.values() if o == k) for k in OUTCOMES}
    line = '%d passed, %d failed' % (total['passed'], total['failed'])
    if total['skipped']:
        line += ', %d skipped' % total['skipped']
    print(line)
    return 0 if total['failed'] == 0 else 1


if __name__ == '__main__':
    sys.exit(main(sys.stdin.buffer))
