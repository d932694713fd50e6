/**
 * Write the generated reference pages: docs/configuration.md from the config schema and
 * docs/api.md from the OpenAPI document. With `--check` nothing is written: the run fails,
 * naming each page, when a committed page is not what it would write (`npm test` runs the
 * check, like the one for the generated OpenAPI types).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderApiReference } from './docs/api';
import { renderConfigurationReference } from './docs/configuration';

const pages: [string, () => string][] = [
  ['docs/configuration.md', renderConfigurationReference],
  ['docs/api.md', () => renderApiReference('openapi/nova-uefi-shim.yaml')],
];

const check = process.argv.includes('--check');
let stale = 0;
for (const [file, render] of pages) {
  const fresh = render().trimEnd() + '\n';
  if (!check) {
    writeFileSync(file, fresh);
    console.log(`wrote ${file}`);
    continue;
  }
  let committed = '';
  try {
    committed = readFileSync(file, 'utf8');
  } catch {
    // a missing page is as stale as an old one
  }
  if (committed !== fresh) {
    console.error(`${file} is stale: run \`npm run gen:docs\` and commit the result`);
    stale++;
  }
}
if (check && stale === 0) console.log('generated docs are up to date');
process.exitCode = stale ? 1 : 0;
