/**
 * driver/peerAnswers: what a host tells its peer about an instance during a migration (through
 * the driver, as the peer routes call it): the source's record, XML, power state, the store's
 * size and, when asked, the store itself; the digest of the store an arriving guest uses.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeNvram, decodeImage } from '../../../src/peer/transfer';
import { UEFI, makeWorld, newInstance, nova, type Host, type World } from '../../support/driverHarness';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('driver/peerAnswers', () => {
  let w: World;
  let A: Host;
  beforeEach(async () => {
    w = await makeWorld({ hosts: ['compute1'] });
    [A] = w.hosts;
  });
  afterEach(() => w.cleanup());

  it("answers an instance's state: its record and XML, its store's size, and the store only when asked", async () => {
    const inst = newInstance();
    const view = await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
    const file = path.join(A.nvramDir, `${view.instance_name}_VARS.fd`);
    const bytes = fs.readFileSync(file);

    const bare = await A.driver.peerState(inst.uuid, false);
    assert.equal(bare.record.uuid, inst.uuid);
    assert.equal(bare.record.name, view.instance_name);
    assert.match(bare.domain_xml ?? '', new RegExp(`<name>${view.instance_name}</name>`));
    assert.equal(bare.nvram_size, bytes.length);
    assert.equal(bare.nvram, null);

    const full = await A.driver.peerState(inst.uuid, 'whole');
    assert.ok(full.nvram);
    assert.equal(full.nvram.sha256, sha256(bytes));
    assert.equal(full.nvram.runs, undefined);
    assert.deepEqual(decodeNvram(full.nvram), bytes);

    // As runs: the same store, rebuilt from its runs with zeros between them.
    const runs = await A.driver.peerState(inst.uuid, 'runs');
    assert.ok(runs.nvram?.runs);
    assert.equal(runs.nvram.sha256, sha256(bytes));
    const image = decodeImage(runs.nvram);
    const rebuilt = Buffer.alloc(image.size);
    for (const s of image.segments) s.data.copy(rebuilt, s.offset);
    assert.deepEqual(rebuilt, bytes);
  });

  it('refuses the state of an instance this host does not hold (InstanceNotFound)', async () => {
    await assert.rejects(A.driver.peerState(newInstance().uuid, false), nova('InstanceNotFound'));
  });

  it("answers the digest of the store by the domain's name, and nulls for a store that is not there", async () => {
    const inst = newInstance();
    const view = await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
    const bytes = fs.readFileSync(path.join(A.nvramDir, `${view.instance_name}_VARS.fd`));
    assert.deepEqual(await A.driver.peerNvramDigest(inst.uuid, view.instance_name), { sha256: sha256(bytes), size: bytes.length });
    const other = newInstance();
    assert.deepEqual(await A.driver.peerNvramDigest(other.uuid, 'instance-0000beef'), { sha256: null, size: null });
  });
});
