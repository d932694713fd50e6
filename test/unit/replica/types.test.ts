/**
 * replica/types: object keys and claim owners are checked before any store sees them, so a key
 * can never climb out of the prefix (`..`) or name an absolute path.
 */
import { strict as assert } from 'node:assert';
import { checkKey, checkOwner } from '../../../src/replica/types';

describe('replica/types', () => {
  const keys: Array<[string, string, boolean]> = [
    ['a generation object', 'nova-uefi/0b7c/gen-000001', true],
    ['a single segment', 'index', true],
    ['dots, dashes and underscores inside a segment', 'a.b/c_d/e-f/..x', true],
    ['the empty key', '', false],
    ['a leading slash', '/a/b', false],
    ['a trailing slash', 'a/b/', false],
    ['two slashes in a row', 'a//b', false],
    ['a .. segment', 'a/../b', false],
    ['a . segment', 'a/./b', false],
    ['a space', 'a b', false],
    ['a backslash', 'a\\b', false],
    ['a non-ASCII letter', 'ä', false],
    ['a NUL', 'a\0b', false],
    ['901 characters', 'a'.repeat(901), false],
  ];
  for (const [title, key, ok] of keys) {
    it(`checkKey ${ok ? 'accepts' : 'refuses'} ${title}`, () => {
      if (ok) assert.equal(checkKey(key), key);
      else assert.throws(() => checkKey(key), { message: `invalid replica object key '${key}'` });
    });
  }

  it('checkKey accepts exactly 900 characters', () => assert.equal(checkKey('a'.repeat(900)).length, 900));

  const owners: Array<[string, string, boolean]> = [
    ['a host name', 'compute-1.example.org', true],
    ['255 characters', 'h'.repeat(255), true],
    ['256 characters', 'h'.repeat(256), false],
    ['the empty name', '', false],
    ['a slash', 'a/b', false],
    ['a colon', 'host:8080', false],
  ];
  for (const [title, owner, ok] of owners) {
    it(`checkOwner ${ok ? 'accepts' : 'refuses'} ${title}`, () => {
      if (ok) assert.equal(checkOwner(owner), owner);
      else assert.throws(() => checkOwner(owner), /invalid claim owner/);
    });
  }
});
