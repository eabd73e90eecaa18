import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { freePort } from '../../src/shared/local-redis.js';
import { ROOT } from '../helpers/paths.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * The Redis alerts of deploy/prometheus/alerts.yml name metrics of redis_exporter (the sidecar of k8s/base/redis.yaml,
 * the redis-exporter service of deploy/compose.yaml). A real redis_exporter (Debian `prometheus-redis-exporter`,
 * scripts/test-deps.sh) against a real Redis must export every one of them, the OOM error counter included once
 * Redis has refused a write at maxmemory.
 */

const alerts = parse(readFileSync(path.join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8')) as {
  groups: { rules: { expr: string }[] }[];
};
const exprs = alerts.groups.flatMap((g) => g.rules.map((r) => r.expr)).join('\n');
const redisMetrics = [...new Set([...exprs.matchAll(/\bredis_[a-z_]+/g)].map((m) => m[0]))];

let redis: TestRedis;
let client: Redis;
let exporter: ChildProcess;
let metricsUrl: string;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  const port = await freePort();
  metricsUrl = `http://127.0.0.1:${port}/metrics`;
  exporter = spawn(
    'prometheus-redis-exporter',
    ['-redis.addr', redis.url, '-web.listen-address', `127.0.0.1:${port}`],
    {
      stdio: 'ignore',
    },
  );
  await new Promise<void>((resolve, reject) => {
    exporter.once('spawn', resolve);
    exporter.once('error', (err) =>
      reject(new Error(`cannot start prometheus-redis-exporter (scripts/test-deps.sh installs it): ${err.message}`)),
    );
  });
});

/* eslint-disable @typescript-eslint/no-unnecessary-condition -- a hook above may have failed before setting all of these; what was started is still stopped */
afterAll(async () => {
  exporter?.kill('SIGTERM');
  client?.disconnect();
  await redis?.stop();
});
/* eslint-enable @typescript-eslint/no-unnecessary-condition */

async function scrape(): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(metricsUrl);
      if (res.ok) return await res.text();
    } catch (err) {
      if (i > 50) throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('redis_exporter', () => {
  it('exports every redis_ metric the alerts use', async () => {
    expect(redisMetrics).toEqual(
      expect.arrayContaining(['redis_up', 'redis_memory_used_bytes', 'redis_memory_max_bytes', 'redis_errors_total']),
    );
    // A write refused at maxmemory under noeviction, as a full fleet Redis would refuse it.
    await client.config('SET', 'maxmemory-policy', 'noeviction');
    await client.config('SET', 'maxmemory', '1');
    await expect(client.set('docfleet-test-oom', 'x')).rejects.toThrow(/OOM/);
    await client.config('SET', 'maxmemory', '0');

    const text = await scrape();
    const exported = new Set([...text.matchAll(/^(redis_[a-z_]+)/gm)].map((m) => m[1]));
    expect(redisMetrics.filter((m) => !exported.has(m))).toEqual([]);
    expect(text).toMatch(/^redis_errors_total\{err="OOM"\} [1-9]/m);
    expect(text).toMatch(/^redis_up 1$/m);
  });
});
