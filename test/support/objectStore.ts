/**
 * The Swift all-in-one of `scripts/object-store.sh` for replica tests: reused when it already
 * runs, started otherwise (and then stopped by `release()` at the end of the suite that started
 * it). Skips with the reason where the packages are missing; NUS_REQUIRE_OBJECT_STORE=1 (CI)
 * turns a skip into a failure. `stop()`/`start()` let fault tests take the store away and back.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SCRIPT = path.resolve(__dirname, '../../scripts/object-store.sh');

export interface S3Endpoint {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
}

function run(arg: 'start' | 'stop' | 'status'): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('/bin/bash', [SCRIPT, arg], { timeout: 150_000, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function parse(stdout: string): S3Endpoint {
  const kv: Record<string, string> = {};
  for (const m of stdout.matchAll(/^(S3_[A-Z_]+)=(.*)$/gm)) kv[m[1]] = m[2];
  return { endpoint: kv.S3_ENDPOINT, accessKey: kv.S3_ACCESS_KEY, secretKey: kv.S3_SECRET_KEY, region: kv.S3_REGION ?? 'us-east-1' };
}

function missing(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  for (const f of ['/usr/bin/swift-proxy-server', '/usr/bin/swift-object-server', '/usr/bin/memcached', '/etc/swift/swift.conf']) {
    if (!fs.existsSync(f)) return `${f} missing (run: scripts/object-store.sh install)`;
  }
  return null;
}

export class ObjectStore {
  startedHere = false;
  endpoint!: S3Endpoint;

  /** In a `before` hook: the running store, or one started now; skips (or fails on CI) when it cannot be had. */
  async acquire(ctx: Mocha.Context): Promise<S3Endpoint> {
    const why = missing();
    if (why) this.skipOrFail(ctx, why);
    const st = await run('status');
    if (st.code === 0) return (this.endpoint = parse(st.stdout));
    const r = await run('start');
    if (r.code !== 0) this.skipOrFail(ctx, `object-store.sh start exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
    this.startedHere = true;
    return (this.endpoint = parse(r.stdout));
  }

  /** Take the store away (fault tests); `start` brings it back. */
  async stop(): Promise<void> {
    const r = await run('stop');
    if (r.code !== 0) throw new Error(`object-store.sh stop: ${r.stderr}`);
  }

  async start(): Promise<void> {
    const r = await run('start');
    if (r.code !== 0) throw new Error(`object-store.sh start: ${r.stderr}`);
    this.endpoint = parse(r.stdout);
  }

  /** In an `after` hook: stop the store only when this suite started it. */
  async release(): Promise<void> {
    if (this.startedHere) await run('stop');
  }

  private skipOrFail(ctx: Mocha.Context, why: string): never {
    if (process.env.NUS_REQUIRE_OBJECT_STORE === '1') throw new Error(`the Swift object store is required here (NUS_REQUIRE_OBJECT_STORE=1) but: ${why}`);
    console.log(`      skipped: ${why}`);
    ctx.skip();
  }
}
