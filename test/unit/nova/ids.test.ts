import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { MAX_INSTANCE_ID, validateInstanceId, validateUuid } from '../../../src/nova/ids';
import { RequestValidator } from '../../../src/api/requestValidator';
import { INSTANCE_METHODS } from '../../../src/api/methods';

/** The methods that take an InstanceToDestroy (only the uuid required). */
const TOLERANT = new Set(['destroy', 'cleanup']);

describe('nova/ids', () => {
  describe('instance.id must be an integer from 1 to 2^53 - 1', () => {
    // Parsed from JSON text, as the API sees them: 2^64 and 2^53 + 1 arrive rounded.
    const refused: [string, string][] = [
      ['2^64 (arrives as 18446744073709552000)', '18446744073709551616'],
      ['2^53 + 1 (arrives as 2^53)', '9007199254740993'],
      ['zero', '0'],
      ['a negative id', '-5'],
      ['a fraction', '1.5'],
    ];
    const v = new RequestValidator();
    for (const [name, text] of refused) {
      it(`refuses ${name} with InvalidInput naming instance.id, in the driver's check and in the request schema of every method that needs the id`, () => {
        const id: unknown = JSON.parse(text);
        assert.throws(
          () => validateInstanceId(id),
          (e: Error & { type?: string; details?: { field?: string } }) => e.type === 'InvalidInput' && e.details?.field === 'instance.id',
        );
        for (const method of Object.keys(INSTANCE_METHODS)) {
          const body = JSON.parse(`{"instance": {"uuid": "${randomUUID()}", "id": ${text}}}`) as unknown;
          if (TOLERANT.has(method)) {
            // Destroy and cleanup need only the uuid: an unusable id is left out, never refused.
            assert.doesNotThrow(() => v.validate(method, body), method);
            continue;
          }
          assert.throws(
            () => v.validate(method, body),
            (e: Error & { details?: { field?: string } }) => e.details?.field === 'instance.id',
            method,
          );
        }
      });
    }
    it('accepts 1 and 2^53 - 1, and an absent id', () => {
      assert.equal(validateInstanceId(1), 1);
      assert.equal(validateInstanceId(MAX_INSTANCE_ID), 9007199254740991);
      assert.equal(validateInstanceId(undefined), undefined);
    });
  });

  it('validateUuid lower-cases a UUID and names the field of anything else', () => {
    assert.equal(validateUuid('6F9619FF-8B86-D011-B42D-00C04FC964FF'), '6f9619ff-8b86-d011-b42d-00c04fc964ff');
    assert.throws(() => validateUuid('../etc/passwd', 'uuid'), /Invalid input received: uuid: /);
  });
});
