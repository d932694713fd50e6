/**
 * The baselines' "small script": write a file as durably as the sidecar does (temp file,
 * fsync, rename, fsync the directory), dense, without any of the sidecar's code. Used by the
 * spawn baseline (atomic template copy), the bare transfer receiver and the footprint
 * baseline (dense copies).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

export async function durableWrite(target: string, data: Buffer): Promise<void> {
  const tmp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
  const fh = await fsp.open(tmp, 'wx', 0o600);
  try {
    await fh.write(data, 0, data.length, 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, target);
  const d = await fsp.open(path.dirname(target), 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
