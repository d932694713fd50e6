/**
 * driver/nvramOps: the operator's view into a store. Reads are snapshots allowed while the
 * guest runs; every write needs the guest shut off (409 InstanceInvalidState), keeps the
 * size (a raw put of another size is InvalidInput naming the field) and is atomic; BIOS and
 * stateless guests have no store (404 NotFound).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EFI_GLOBAL_VARIABLE } from '../../../src/varstore/guids';
import type { ShimDriver } from '../../../src/driver';
import type { NovaImageMeta } from '../../../src/nova/objects';
import { tmpDir } from '../../support/firmwareFixture';
import {
  BIOS,
  STATELESS,
  UEFI,
  domainName,
  driverFirmware,
  fileBytes,
  makeWorld,
  markStore,
  newInstance,
  nova,
  type Host,
  type Inst,
  type World,
} from '../../support/driverHarness';

const VENDOR = '3c1b9d0e-5d1a-4a7e-9c5f-2f4f0b6a7c11';
type Op = (d: ShimDriver, uuid: string, size: number) => Promise<unknown>;

const WRITES: [string, Op][] = [
  ['a raw put', (d, u, size) => d.putNvram(u, Buffer.alloc(size, 0xff))],
  ['a variable write', (d, u) => d.putNvramVariable(u, VENDOR, 'Marker', { data: '01' })],
  ['a variable delete', (d, u) => d.deleteNvramVariable(u, EFI_GLOBAL_VARIABLE, 'BootOrder')],
  ['a boot order change', (d, u) => d.setNvramBoot(u, { boot_order: [0] })],
  ['a reset to the template', (d, u) => d.resetNvram(u)],
];

const READS: [string, Op][] = [
  ['the raw store', (d, u) => d.getNvram(u)],
  ['the decoded variables', (d, u) => d.listNvramVariables(u, 'decoded')],
  ['the v2 interchange form', (d, u) => d.listNvramVariables(u, 'v2')],
  ['the Secure Boot summary', (d, u) => d.nvramSecureBoot(u)],
];

describe('driver/nvramOps', () => {
  let w: World;
  let A: Host;
  beforeEach(async () => {
    w = await makeWorld();
    [A] = w.hosts;
  });
  afterEach(() => w.cleanup());

  const storeOf = (inst: Inst) => A.nvram.pathFor(domainName(inst));
  const size = () => fs.statSync(w.fw.files.vars).size;
  async function guest(image: NovaImageMeta = UEFI, running = true): Promise<Inst> {
    const inst = newInstance();
    await A.driver.spawn(inst.uuid, { instance: inst, image_meta: image, power_on: running });
    return inst;
  }

  describe('refuses every write while the guest runs (409 InstanceInvalidState), leaving the store as it was', () => {
    for (const [name, op] of WRITES) {
      it(name, async () => {
        const inst = await guest();
        const before = fileBytes(storeOf(inst));
        await assert.rejects(op(A.driver, inst.uuid, size()), nova('InstanceInvalidState', { code: 409, fragment: 'power_state running' }));
        assert.deepEqual(fileBytes(storeOf(inst)), before);
      });
    }
  });

  describe('reads while the guest runs', () => {
    for (const [name, op] of READS) {
      it(name, async () => {
        const inst = await guest();
        assert.ok(await op(A.driver, inst.uuid, size()));
      });
    }
  });

  describe('has no store for a guest without one (404 NotFound)', () => {
    const CASES: [string, NovaImageMeta, string][] = [
      ['a BIOS guest', BIOS, 'BIOS'],
      ['a stateless-firmware guest', STATELESS, 'stateless firmware'],
    ];
    for (const [name, image, why] of CASES) {
      for (const [opName, op] of [...READS, ...WRITES]) {
        it(`${name}: ${opName}`, async () => {
          const inst = await guest(image, false);
          await assert.rejects(op(A.driver, inst.uuid, size()), nova('NotFound', { code: 404, fragment: why }));
        });
      }
    }
  });

  it('a raw put of another size is InvalidInput naming the field; the store is unchanged', async () => {
    const inst = await guest(UEFI, false);
    const before = fileBytes(storeOf(inst));
    await assert.rejects(
      A.driver.putNvram(inst.uuid, Buffer.alloc(131072)),
      nova('InvalidInput', { code: 400, field: 'body', fragment: `must be ${size()} bytes, got 131072` }),
    );
    assert.deepEqual(fileBytes(storeOf(inst)), before);
  });

  it('a raw put of the same size while shut off replaces the store and answers its new digest', async () => {
    const inst = await guest(UEFI, false);
    const data = Buffer.from(fs.readFileSync(storeOf(inst)));
    data.write('operator-wrote-this', 0x2000);
    const info = await A.driver.putNvram(inst.uuid, data);
    assert.deepEqual(fileBytes(storeOf(inst)), data);
    assert.equal(info.size, data.length);
    assert.deepEqual((await A.driver.getNvram(inst.uuid)).data, data);
  });

  it('a variable write and delete while shut off keep the size', async () => {
    const inst = await guest(UEFI, false);
    const put = await A.driver.putNvramVariable(inst.uuid, VENDOR, 'Marker', { data: 'cafe' });
    assert.equal(put.variable?.data, 'cafe');
    assert.equal(put.nvram.size, size());
    const listed = await A.driver.listNvramVariables(inst.uuid, 'decoded');
    assert.ok('format' in listed && listed.variables.some((v) => v.name === 'Marker' && v.guid === VENDOR));
    const del = await A.driver.deleteNvramVariable(inst.uuid, VENDOR, 'Marker');
    assert.equal(del.nvram.size, size());
  });

  it('a reset brings back a fresh copy of the pinned template', async () => {
    const inst = await guest(UEFI, false);
    markStore(storeOf(inst), 'guest-variables');
    const r = await A.driver.resetNvram(inst.uuid);
    assert.equal(r.template, w.fw.files.vars);
    assert.deepEqual(fileBytes(storeOf(inst)), fs.readFileSync(w.fw.files.vars));
    assert.equal(r.nvram.size, size());
  });

  it('a reset whose pinned template is gone is Invalid (409), and the store stays', async () => {
    let w2: World | undefined;
    const root = tmpDir('nus-nvops-');
    try {
      const fw = driverFirmware(path.join(root, 'fw'));
      w2 = await makeWorld({ fw });
      const [H] = w2.hosts;
      const inst = newInstance();
      await H.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI, power_on: false });
      const bytes = markStore(H.nvram.pathFor(domainName(inst)), 'guest-variables');
      fs.rmSync(fw.files.vars);
      await assert.rejects(H.driver.resetNvram(inst.uuid), nova('Invalid', { code: 409, fragment: 'no longer exists' }));
      assert.deepEqual(fileBytes(H.nvram.pathFor(domainName(inst))), bytes);
    } finally {
      w2?.cleanup();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('an instance this host does not know is InstanceNotFound', async () => {
    await assert.rejects(A.driver.getNvram(newInstance().uuid), nova('InstanceNotFound', { code: 404 }));
  });
});
