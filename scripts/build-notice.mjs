// `npm start` runs this before `tsc -b`: one line on stderr, so that the first build (about
// 40 s, nothing else printed) is not mistaken for a hang. Run from the package root.
import { existsSync } from 'node:fs';

const first = !existsSync('dist/.tsbuildinfo') || !existsSync('dist/main.js');
process.stderr.write(
  first
    ? 'nova-uefi-shim: first start: compiling src/ into dist/ with tsc (about 40 s; later starts rebuild only what changed)...\n'
    : 'nova-uefi-shim: bringing dist/ up to date (tsc -b)...\n',
);
