/**
 * Classification table: the stderr texts are what virsh/libvirt 9.0 printed on Debian 12
 * (captured with `virsh -c qemu:///system -q ...`), not paraphrases.
 */
import { strict as assert } from 'node:assert';
import { classifyLibvirtError, classifyLibvirtMessage, libvirtMessage, type LibvirtErrorKind } from '../../../src/hypervisor/libvirtErrors';
import { HypervisorError } from '../../../src/errors';

const cases: [string, { stderr: string; want: LibvirtErrorKind }][] = [
  ['a lookup of an unknown name is no-domain', { stderr: "error: failed to get domain 'nope-3946'\n", want: 'no-domain' }],
  ['the driver-level "Domain not found" is no-domain', { stderr: "error: Domain not found: no domain with matching name 'x'\n", want: 'no-domain' }],
  [
    'destroy of a shut-off domain is not-running',
    { stderr: "error: Failed to destroy domain 'd'\nerror: Requested operation is not valid: domain is not running\n", want: 'not-running' },
  ],
  [
    'shutdown of a shut-off domain is not-running',
    { stderr: "error: Failed to shutdown domain 'd'\nerror: Requested operation is not valid: domain is not running\n", want: 'not-running' },
  ],
  ['virsh start of an active domain is already-running', { stderr: 'error: Domain is already active\n', want: 'already-running' }],
  [
    'the driver\'s "is already running" is already-running',
    { stderr: 'error: Requested operation is not valid: domain is already running\n', want: 'already-running' },
  ],
  ['"domain \'x\' is already active" is already-running', { stderr: "error: operation failed: domain 'x' is already active\n", want: 'already-running' }],
  [
    'plain undefine of a domain with NVRAM is nvram',
    { stderr: "error: Failed to undefine domain 'd'\nerror: Requested operation is not valid: cannot undefine domain with nvram\n", want: 'nvram' },
  ],
  ['both NVRAM flags at the driver is nvram', { stderr: 'error: Requested operation is not valid: cannot both keep and delete nvram\n', want: 'nvram' }],
  ['both NVRAM flags refused by virsh itself is nvram', { stderr: 'error: Options --nvram and --keep-nvram are mutually exclusive\n', want: 'nvram' }],
  [
    'a missing daemon socket is connect',
    {
      stderr: "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/nonexistent/sock': No such file or directory\n",
      want: 'connect',
    },
  ],
  ['a daemon that went away mid-call is connect', { stderr: 'error: End of file while reading data: Input/output error\n', want: 'connect' }],
  [
    'another invalid operation is operation-invalid',
    { stderr: 'error: Requested operation is not valid: domain has no snapshots\n', want: 'operation-invalid' },
  ],
  [
    'a redefinition with another UUID is other',
    {
      stderr:
        "error: Failed to define domain from /tmp/x.xml\nerror: operation failed: domain 'd' already exists with uuid 82edb0a6-9b01-4798-8f54-ebb2382f191b\n",
      want: 'other',
    },
  ],
  [
    'an unsupported configuration is other',
    { stderr: 'error: Failed to define domain from /tmp/x.xml\nerror: unsupported configuration: UEFI requires ACPI on this architecture\n', want: 'other' },
  ],
];

describe('hypervisor/libvirtErrors', () => {
  for (const [name, { stderr, want }] of cases) {
    it(`classifies: ${name}`, () => {
      assert.equal(classifyLibvirtMessage(libvirtMessage(stderr)), want);
      const e = classifyLibvirtError(stderr, ['destroy', 'd']);
      assert.ok(e instanceof HypervisorError);
      assert.equal(e.kind, want);
    });
  }

  it('puts the virsh command and libvirt\'s own words in the message, without "error:" prefixes', () => {
    const e = classifyLibvirtError("error: Failed to undefine domain 'd'\nerror: Requested operation is not valid: cannot undefine domain with nvram\n", [
      'undefine',
      'd',
      '--keep-nvram',
    ]);
    assert.equal(
      e.message,
      "virsh undefine d --keep-nvram: Failed to undefine domain 'd'; Requested operation is not valid: cannot undefine domain with nvram",
    );
    assert.equal(e.type, 'InternalError');
  });

  it('keeps the cause', () => {
    const cause = new Error('exit 1');
    assert.equal(classifyLibvirtError('', ['list'], cause).cause, cause);
  });
});
