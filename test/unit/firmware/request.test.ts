import { strict as assert } from 'node:assert';
import { resolveBootRequest } from '../../../src/firmware/request';
import { novaError, request } from './helpers';

describe('firmware/request: resolveBootRequest', () => {
  const invalid: { name: string; props: Record<string, unknown>; flavor?: Record<string, string>; field: string }[] = [
    {
      name: "rejects hw_firmware_type 'efi' with Invalid naming the field",
      props: { hw_firmware_type: 'efi' },
      field: 'image_meta.properties.hw_firmware_type',
    },
    { name: "rejects os_secure_boot 'maybe' with Invalid naming the field", props: { os_secure_boot: 'maybe' }, field: 'image_meta.properties.os_secure_boot' },
    {
      name: "rejects flavor os:secure_boot 'optional' (flavors only take required/disabled) with Invalid naming the field",
      props: {},
      flavor: { 'os:secure_boot': 'optional' },
      field: 'flavor.extra_specs.os:secure_boot',
    },
  ];
  for (const c of invalid) {
    it(c.name, () => {
      assert.throws(
        () => request(c.props, { flavor: c.flavor }),
        (e: Error & { type?: string; code?: number; details?: Record<string, unknown> }) => {
          assert.equal(e.type, 'Invalid');
          assert.equal(e.code, 400);
          assert.equal(e.details?.field, c.field);
          assert.ok(e.message.includes(c.field), e.message);
          return true;
        },
      );
    });
  }

  it('rejects a non-boolean hw_firmware_stateless with InvalidInput naming the field', () => {
    assert.throws(
      () => request({ hw_firmware_type: 'uefi', hw_firmware_stateless: 'sometimes' }),
      novaError('InvalidInput', 'image_meta.properties.hw_firmware_stateless'),
    );
  });

  it('rejects an architecture with illegal characters with InvalidInput', () => {
    assert.throws(() => request({ hw_architecture: 'x86 64' }), novaError('InvalidInput', 'hw_architecture'));
  });

  it('names hw_emulation_architecture when that is the malformed one', () => {
    assert.throws(() => request({ hw_emulation_architecture: 'arm 64' }), novaError('InvalidInput', 'hw_emulation_architecture'));
  });

  const defaults: {
    name: string;
    hostArch: string;
    props: Record<string, unknown>;
    type: 'bios' | 'uefi';
    machine: string;
    defaults?: Record<string, string>;
  }[] = [
    {
      name: 'defaults aarch64 to UEFI on the virt machine when hw_firmware_type is unset',
      hostArch: 'aarch64',
      props: {},
      type: 'uefi',
      machine: 'virt',
      defaults: {},
    },
    { name: 'defaults x86_64 to BIOS on the pc machine when nothing is configured', hostArch: 'x86_64', props: {}, type: 'bios', machine: 'pc', defaults: {} },
    {
      name: 'takes the machine from [libvirt] hw_machine_type when the image has none',
      hostArch: 'x86_64',
      props: { hw_firmware_type: 'uefi' },
      type: 'uefi',
      machine: 'q35',
      defaults: { x86_64: 'q35' },
    },
    {
      name: 'prefers the image hw_machine_type over the configured default',
      hostArch: 'x86_64',
      props: { hw_machine_type: 'pc-q35-7.2' },
      type: 'bios',
      machine: 'pc-q35-7.2',
      defaults: { x86_64: 'q35' },
    },
    {
      name: 'uses hw_architecture over the host architecture',
      hostArch: 'x86_64',
      props: { hw_architecture: 'AArch64' },
      type: 'uefi',
      machine: 'virt',
      defaults: {},
    },
    {
      name: 'uses hw_emulation_architecture over hw_architecture and the host architecture, as Nova does',
      hostArch: 'x86_64',
      props: { hw_architecture: 'x86_64', hw_emulation_architecture: 'aarch64' },
      type: 'uefi',
      machine: 'virt',
      defaults: {},
    },
  ];
  for (const c of defaults) {
    it(c.name, () => {
      const r = request(c.props, { hostArch: c.hostArch, defaults: c.defaults });
      assert.equal(r.firmwareType, c.type);
      assert.equal(r.machine, c.machine);
    });
  }

  it('ignores hw_firmware_stateless for BIOS with a warning', () => {
    const r = request({ hw_firmware_type: 'bios', hw_firmware_stateless: true });
    assert.equal(r.firmwareType, 'bios');
    assert.equal(r.stateless, false);
    assert.deepEqual(r.warnings, ['hw_firmware_stateless is ignored for BIOS guests']);
  });

  it('gives no warning for stateless UEFI', () => {
    const r = request({ hw_firmware_type: 'uefi', hw_firmware_stateless: true });
    assert.equal(r.stateless, true);
    assert.deepEqual(r.warnings, []);
  });

  it('refuses required Secure Boot for a BIOS guest with SecureBootNotSupported', () => {
    assert.throws(() => request({ hw_firmware_type: 'bios', os_secure_boot: 'required' }), novaError('SecureBootNotSupported', 'UEFI'));
  });

  it('turns optional Secure Boot off for a BIOS guest', () => {
    assert.equal(request({ hw_firmware_type: 'bios', os_secure_boot: 'optional' }).secureBoot, 'disabled');
  });

  it('refuses UEFI on an architecture with no known machine type with UEFINotSupported', () => {
    assert.throws(
      () => resolveBootRequest({ imageProps: { hw_firmware_type: 'uefi' }, hostArch: 's390x', machineDefaults: {} }),
      novaError('UEFINotSupported', 's390x'),
    );
  });

  const stateless: [unknown, boolean][] = [
    [true, true],
    [false, false],
    ['true', true],
    ['false', false],
    ['yes', true],
    ['no', false],
    [undefined, false],
  ];
  for (const [v, want] of stateless) {
    it(`reads hw_firmware_stateless ${JSON.stringify(v)} as ${want}`, () => {
      assert.equal(request({ hw_firmware_type: 'uefi', hw_firmware_stateless: v }).stateless, want);
    });
  }

  const secure: { name: string; image?: string; flavor?: string; want: string | { conflict: [string, string] } }[] = [
    { name: 'defaults Secure Boot to disabled when neither flavor nor image sets it', want: 'disabled' },
    { name: 'takes optional Secure Boot from the image alone', image: 'optional', want: 'optional' },
    { name: 'accepts flavor and image that agree on required', image: 'required', flavor: 'required', want: 'required' },
    { name: 'takes disabled from the flavor alone', flavor: 'disabled', want: 'disabled' },
    {
      name: 'refuses flavor required with image optional as FlavorImageConflict',
      image: 'optional',
      flavor: 'required',
      want: { conflict: ['required', 'optional'] },
    },
  ];
  for (const c of secure) {
    it(c.name, () => {
      const run = () =>
        request(
          { hw_firmware_type: 'uefi', ...(c.image ? { os_secure_boot: c.image } : {}) },
          { flavor: c.flavor ? { 'os:secure_boot': c.flavor } : undefined },
        );
      if (typeof c.want === 'string') assert.equal(run().secureBoot, c.want);
      else {
        const [flavorVal, imageVal] = c.want.conflict;
        assert.throws(run, (e: Error & { type?: string; details?: Record<string, unknown> }) => {
          assert.equal(e.type, 'FlavorImageConflict');
          assert.deepEqual(e.details, { setting: 'os_secure_boot', flavor_val: flavorVal, image_val: imageVal });
          return true;
        });
      }
    });
  }

  it('falls back to the configured machine when the image sets an empty hw_machine_type', () => {
    assert.equal(request({ hw_firmware_type: 'uefi', hw_machine_type: '' }, { defaults: { x86_64: 'pc-q35-7.2' } }).machine, 'pc-q35-7.2');
  });

  it('uses an empty machine for BIOS on an architecture with no known machine type', () => {
    const r = resolveBootRequest({ imageProps: {}, hostArch: 's390x', machineDefaults: {} });
    assert.deepEqual(r, { firmwareType: 'bios', arch: 's390x', machine: '', secureBoot: 'disabled', stateless: false, warnings: [] });
  });

  it('resolves a full aarch64 request from the host architecture', () => {
    const r = resolveBootRequest({ imageProps: { os_secure_boot: 'required' }, hostArch: 'aarch64', machineDefaults: {} });
    assert.deepEqual(r, { firmwareType: 'uefi', arch: 'aarch64', machine: 'virt', secureBoot: 'required', stateless: false, warnings: [] });
  });
});
