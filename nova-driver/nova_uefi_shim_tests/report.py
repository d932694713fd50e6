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

"""Print the functional suite's report (JSON lines) as plain tables."""

import json
import sys

#: table name -> (title, columns)
TABLES = {
    'seams': ('Seams of this Nova the driver uses (init_host)',
              ('result',)),
    'operations': ('Operation by operation (after each: marker on the '
                   'owner, nothing on the other host, XML names the '
                   "sidecar's loader and store)",
                   ('server', 'step', 'host', 'marker', 'ms')),
    'xml': ('Domain XML validated against domain.rng',
            ('server', 'validated')),
    'faults': ('Bad input and faults', ('case', 'result')),
    'replicas': ('Shelve-offload, unshelve and evacuate (replicas in a '
                 'store every host shares)', ('operation', 'result')),
    'nova-test_uefi': ("Nova's own test_uefi.py with UEFIShimDriver",
                       ('result',)),
}


def main(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                row = json.loads(line)
                rows.setdefault(row['table'], []).append(row)
    print('\n=== nova-uefi-shim functional report ===')
    for table, (title, columns) in TABLES.items():
        if table not in rows:
            continue
        print('\n%s' % title)
        print(' | '.join(columns))
        for row in rows[table]:
            print(' | '.join(str(row.get(c, '')) for c in columns))
    print()


if __name__ == '__main__':
    main(sys.argv[1])
