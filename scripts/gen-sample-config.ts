import { writeFileSync } from 'node:fs';
import { renderSampleConfig } from '../src/config/sample';
writeFileSync('etc/nova-uefi-shim.conf.sample', renderSampleConfig());
console.log('wrote etc/nova-uefi-shim.conf.sample');
