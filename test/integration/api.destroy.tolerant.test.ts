/**
 * destroy and cleanup are never refused for a field they do not need: only the instance's
 * uuid is. Every other field of Instance, missing, null or ill-formed (walked from the
 * schema's own Instance properties), is ignored with a warning naming it, and the store still
 * goes. An instance that cannot be deleted is worse than one with a wrong field.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { startTestSidecar, instance, UEFI_Q35, type TestSidecar } from '../support/sidecar';
import { loadOpenApi } from '../../src/api/requestValidator';

/** Values no Instance field of the schema accepts all of: each field gets each in turn. */
const ODD: unknown[] = [null, 0, -1, 2 ** 60, 1.5, '', 'x'.repeat(300), true, [], { k: 1 }, '../etc'];

function instanceFields(): string[] {
  const doc = loadOpenApi() as unknown as { components: { schemas: { Instance: { properties: Record<string, unknown> } } } };
  return Object.keys(doc.components.schemas.Instance.properties).filter((f) => f !== 'uuid');
}

for (const backend of ['embedded', 'nova'])
  describe(`destroy and cleanup take any instance with a uuid (backend ${backend})`, function () {
    let sc: TestSidecar;
    before(async () => {
      sc = await startTestSidecar({ hypervisor: { backend } });
    });
    after(async () => {
      await sc.stop();
    });

    async function spawned() {
      const inst = instance();
      const r = await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: UEFI_Q35 });
      assert.equal(r.status, 200, JSON.stringify(r.data));
      return { inst, store: r.data.nvram.path as string };
    }

    it('walks every Instance field of the schema (the walk below is not empty)', () => {
      const fields = instanceFields();
      for (const f of ['id', 'name', 'host', 'task_state', 'vm_state', 'flavor', 'system_metadata']) assert.ok(fields.includes(f), f);
    });

    for (const method of ['destroy', 'cleanup']) {
      it(`${method}: an instance carrying only its uuid deletes the store`, async () => {
        const { inst, store } = await spawned();
        const r = await sc.http.post(`/v1/instances/${inst.uuid}/${method}`, { instance: { uuid: inst.uuid }, destroy_disks: true });
        assert.equal(r.status, 200, JSON.stringify(r.data));
        assert.equal(fs.existsSync(store), false);
        assert.equal((await sc.http.get(`/v1/instances/${inst.uuid}`)).status, 404);
      });

      it(`${method}: every other field odd, null or of the wrong type at once (plain and versioned object)`, async () => {
        for (const wrap of [false, true]) {
          const { inst, store } = await spawned();
          const odd: Record<string, unknown> = { uuid: inst.uuid, not_a_nova_field: { deep: [1] } };
          instanceFields().forEach((f, i) => (odd[f] = ODD[i % ODD.length]));
          const body = wrap ? { 'nova_object.name': 'Instance', 'nova_object.namespace': 'nova', 'nova_object.version': '2.7', 'nova_object.data': odd } : odd;
          const before = sc.lines.length;
          const r = await sc.http.post(`/v1/instances/${inst.uuid}/${method}`, { instance: body, destroy_disks: true });
          assert.equal(r.status, 200, JSON.stringify(r.data));
          assert.equal(fs.existsSync(store), false, 'the store is gone');
          const warned = sc.lines.slice(before).find((l) => /ill-formed instance fields ignored/.test(JSON.stringify(l)));
          assert.ok(warned, 'a warning names the ignored fields');
          assert.match(JSON.stringify(warned), /instance\.id/);
        }
      });

      it(`${method}: each field alone, with each odd value, never refuses (unknown instance)`, async () => {
        for (const field of instanceFields()) {
          for (const value of ODD) {
            const uuid = randomUUID();
            const r = await sc.http.post(`/v1/instances/${uuid}/${method}`, { instance: { uuid, [field]: value }, destroy_disks: true });
            assert.equal(r.status, 200, `${field} = ${JSON.stringify(value)}: ${JSON.stringify(r.data)}`);
          }
        }
      });

      it(`${method}: still refused without a uuid, with another instance's uuid, or with destroy_disks not a boolean`, async () => {
        const uuid = randomUUID();
        const none = await sc.http.post(`/v1/instances/${uuid}/${method}`, { instance: { id: 1 } });
        assert.equal(none.status, 400);
        assert.match(JSON.stringify(none.data), /instance\.uuid/);
        const other = await sc.http.post(`/v1/instances/${uuid}/${method}`, { instance: { uuid: randomUUID() } });
        assert.equal(other.status, 400, JSON.stringify(other.data));
        const flag = await sc.http.post(`/v1/instances/${uuid}/${method}`, { instance: { uuid }, destroy_disks: 'yes' });
        assert.equal(flag.status, 400);
        assert.match(JSON.stringify(flag.data), /destroy_disks/);
      });
    }

    it('a well-formed field is still read: task_state deleting on a known instance with an odd id', async () => {
      const { inst, store } = await spawned();
      const r = await sc.http.post(`/v1/instances/${inst.uuid}/destroy`, { instance: { uuid: inst.uuid, id: 'not-an-id', task_state: 'deleting' } });
      assert.equal(r.status, 200, JSON.stringify(r.data));
      assert.equal(fs.existsSync(store), false);
    });

    it('spawn, which needs the id, still refuses an instance without one, naming the field', async () => {
      const uuid = randomUUID();
      const r = await sc.http.post(`/v1/instances/${uuid}/spawn`, { instance: { uuid }, image_meta: UEFI_Q35 });
      assert.equal(r.status, 400);
      assert.match(JSON.stringify(r.data), /instance\.id/);
    });
  });
