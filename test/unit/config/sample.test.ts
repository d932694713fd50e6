import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { renderSampleConfig } from '../../../src/config/sample';
import { OPTIONS } from '../../../src/config/schema';

describe('config sample', () => {
  it('matches etc/nova-uefi-shim.conf.sample (run `npm run gen:sample-config` when this fails)', () => {
    const committed = readFileSync(path.join(__dirname, '..', '..', '..', 'etc', 'nova-uefi-shim.conf.sample'), 'utf8');
    assert.equal(committed, renderSampleConfig());
  });
  it('documents every option', () => {
    const text = renderSampleConfig();
    for (const o of OPTIONS) assert.ok(text.includes(`#${o.key} = `), o.key);
  });
});
