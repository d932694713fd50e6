// Writes openapi/nova-uefi-shim.json from the YAML (the document the sidecar reads at start-up:
// JSON.parse instead of a YAML parse). `--check` exits 1 when the committed copy is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';

const SRC = 'openapi/nova-uefi-shim.yaml';
const OUT = 'openapi/nova-uefi-shim.json';
const fresh = JSON.stringify(parse(readFileSync(SRC, 'utf8'))) + '\n';
if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(OUT, 'utf8');
  } catch {
    // missing: stale
  }
  if (committed !== fresh) {
    console.error(`${OUT} is stale: run \`npm run gen:types\` and commit the result`);
    process.exit(1);
  }
  console.log(`${OUT} is up to date`);
} else {
  writeFileSync(OUT, fresh);
}
