/**
 * replica/keys: key files of 64 hex characters, ids derived from the key (never the key
 * itself), and a keyring that finds old keys by id with the current one among them.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { keyId, loadKeyring, makeKeyring, parseKey } from '../../../src/replica/keys';

const HEX_A = 'a1'.repeat(32);
const HEX_B = '0F'.repeat(32);

describe('replica/keys', () => {
  it('keyId is 16 hex characters of sha256 over the label, a NUL and the key', () => {
    const key = Buffer.from(HEX_A, 'hex');
    const want = createHash('sha256')
      .update(Buffer.concat([Buffer.from('nova-uefi-shim replica key id\0'), key]))
      .digest('hex')
      .slice(0, 16);
    assert.equal(keyId(key), want);
    assert.match(keyId(key), /^[0-9a-f]{16}$/);
    assert.ok(!HEX_A.includes(keyId(key)), 'the id does not reveal the key');
  });

  it('different keys have different ids, the same key the same id', () => {
    assert.notEqual(keyId(Buffer.from(HEX_A, 'hex')), keyId(Buffer.from(HEX_B, 'hex')));
    assert.equal(keyId(Buffer.from(HEX_B, 'hex')), keyId(Buffer.from(HEX_B.toLowerCase(), 'hex')));
  });

  it('parseKey reads 64 hex characters in either case, ignoring surrounding white space', () => {
    const k = parseKey(`  ${HEX_B}\n`, 'f');
    assert.deepEqual(k.key, Buffer.alloc(32, 0x0f));
    assert.equal(k.id, keyId(Buffer.alloc(32, 0x0f)));
  });

  const bad: Array<[string, string]> = [
    ['63 characters', HEX_A.slice(1)],
    ['65 characters', `${HEX_A}0`],
    ['a non-hex character', `${HEX_A.slice(1)}g`],
    ['base64 of 32 bytes', Buffer.alloc(32, 1).toString('base64')],
    ['an empty file', ''],
    ['two keys on one line', `${HEX_A} ${HEX_A}`],
  ];
  for (const [title, text] of bad) {
    it(`parseKey refuses ${title}, naming where and the length found`, () => {
      assert.throws(
        () => parseKey(text, '[replica] encryption_key_file /k'),
        (e: Error) =>
          e.message.startsWith('[replica] encryption_key_file /k: expected 64 hex characters') && e.message.includes(`got ${text.trim().length} characters`),
      );
    });
  }

  it('makeKeyring holds the current key and the old ones by id', () => {
    const cur = parseKey(HEX_A, 'a');
    const old = parseKey(HEX_B, 'b');
    const ring = makeKeyring(cur, [old]);
    assert.equal(ring.current, cur);
    assert.deepEqual([...ring.byId.keys()].sort(), [cur.id, old.id].sort());
    assert.equal(ring.byId.get(old.id), old);
    assert.equal(makeKeyring(cur).byId.size, 1);
  });

  it('makeKeyring keeps the current key when an old file holds the same key', () => {
    const cur = parseKey(HEX_A, 'a');
    const same = parseKey(HEX_A, 'old');
    const ring = makeKeyring(cur, [same]);
    assert.equal(ring.byId.size, 1);
    assert.equal(ring.byId.get(cur.id), cur);
  });

  describe('loadKeyring', () => {
    let dir: string;
    beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-keys-'))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, text: string) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, text, { mode: 0o600 });
      return f;
    };

    it('reads the current and old key files', () => {
      const ring = loadKeyring(write('cur', `${HEX_A}\n`), [write('old', HEX_B)]);
      assert.equal(ring.current.id, keyId(Buffer.from(HEX_A, 'hex')));
      assert.ok(ring.byId.has(keyId(Buffer.from(HEX_B, 'hex'))));
    });

    it('names the option and file of a missing key file, with the errno', () => {
      const missing = path.join(dir, 'nope');
      assert.throws(() => loadKeyring(missing, []), { message: `[replica] encryption_key_file ${missing}: ENOENT` });
      const cur = write('cur', HEX_A);
      assert.throws(() => loadKeyring(cur, [missing]), { message: `[replica] old_key_files ${missing}: ENOENT` });
    });

    it('names the option and file of a malformed key', () => {
      const cur = write('cur', HEX_A);
      const old = write('old', 'short');
      assert.throws(() => loadKeyring(cur, [old]), new RegExp(`^Error: \\[replica\\] old_key_files ${old}: expected 64 hex characters`));
    });
  });
});
