import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { loadProducerConfig } from '../../src/shared/config.js';
import { RedisConnection } from '../../src/shared/redis-connection.js';
import {
  freePort,
  redisAnswers,
  startLocalRedis,
  type LocalRedis,
  type LocalRedisOptions,
} from '../../src/shared/local-redis.js';

/**
 * The one way tests get a Redis: their own server on a free port, so a test can stop and restart it.
 * A testcontainers container where a Docker engine is reachable, otherwise a `redis-server` process.
 */
export type TestRedis = Omit<LocalRedis, 'url' | 'port'> & { url: string; port: number };

/**
 * With `appendOnly`, `stop` then `restart` brings the same server back on the same port with its data, as a
 * production Redis with AOF restarts (a container restart keeps its data too).
 */
export async function startRedis(opts: LocalRedisOptions = {}): Promise<TestRedis> {
  return dockerReachable() ? startContainer() : startLocalRedis(opts);
}

/** A fresh key prefix per test, so tests never see each other's queues or results. */
export function freshPrefix(name = 't'): string {
  return `${name}-${randomBytes(4).toString('hex')}`;
}

function dockerReachable(): boolean {
  const host = process.env.DOCKER_HOST;
  if (host) return !host.startsWith('unix://') || existsSync(host.slice('unix://'.length));
  return existsSync('/var/run/docker.sock');
}

async function startContainer(): Promise<TestRedis> {
  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer('redis:7-alpine').start();
  return {
    url: container.getConnectionUrl(),
    port: container.getPort(),
    stop: async () => {
      await container.stop();
    },
    restart: async () => {
      await container.restart();
    },
  };
}

/** A `redis-server` process with options a container would not take as they are (password, TLS, replication). */
export function startConfiguredRedis(opts: LocalRedisOptions): Promise<TestRedis> {
  return startLocalRedis(opts);
}

/** A self-signed CA, a server certificate for 127.0.0.1 signed by it, and a client certificate (PEM files). */
export interface TestCertificates {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** Made with `openssl` into a fresh temporary folder, as an operator would make their own. */
export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(path.join(tmpdir(), 'docfleet-tls-'));
  const at = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=docfleet test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  );
  writeFileSync(at('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const who of ['server', 'client']) {
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${who}`,
      '-keyout',
      `${who}.key`,
      '-out',
      `${who}.csr`,
    );
    const ext = who === 'server' ? ['-extfile', 'server.ext'] : [];
    openssl(
      'x509',
      '-req',
      '-in',
      `${who}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      `${who}.crt`,
      ...ext,
    );
  }
  return {
    dir,
    ca: at('ca.crt'),
    serverCert: at('server.crt'),
    serverKey: at('server.key'),
    clientCert: at('client.crt'),
    clientKey: at('client.key'),
  };
}

/**
 * A Redis that speaks TLS on `tlsPort` (and plain on `port`, for the test's own setup), asking clients for a
 * certificate signed by the CA when `clientCertificates` is set.
 */
export async function startTlsRedis(
  certs: TestCertificates,
  opts: { password?: string; clientCertificates?: boolean } = {},
): Promise<TestRedis & { tlsUrl: string }> {
  const tlsPort = await freePort();
  const redis = await startLocalRedis({
    password: opts.password,
    args: [
      '--tls-port',
      String(tlsPort),
      '--tls-cert-file',
      certs.serverCert,
      '--tls-key-file',
      certs.serverKey,
      '--tls-ca-cert-file',
      certs.ca,
      '--tls-auth-clients',
      opts.clientCertificates ? 'yes' : 'no',
    ],
  });
  return { ...redis, tlsUrl: `rediss://127.0.0.1:${tlsPort}` };
}

/** A primary, one replica and one Sentinel watching them, all on loopback; the Sentinel fails over in seconds. */
export interface SentinelGroup {
  primary: TestRedis;
  replica: TestRedis;
  /** `host:port` of the Sentinel, as REDIS_SENTINELS takes it. */
  sentinels: string;
  name: string;
  /** The primary's address as the Sentinel names it now. */
  primaryAddress(): Promise<string>;
  stop(): Promise<void>;
}

export async function startSentinelGroup(name = 'docfleet'): Promise<SentinelGroup> {
  const dir = mkdtempSync(path.join(tmpdir(), 'docfleet-sentinel-'));
  // A replica's first sync starts at once rather than after the default 5 s wait for more replicas; the
  // replica's copy of the data goes to the temporary folder, not the working directory.
  const sync = ['--repl-diskless-sync-delay', '0', '--dir', dir];
  const primary = await startLocalRedis({ args: sync });
  const replica = await startLocalRedis({ args: [...sync, '--replicaof', '127.0.0.1', String(primary.port)] });
  const sentinelPort = await freePort();
  const conf = path.join(dir, 'sentinel.conf');
  // The Sentinel rewrites its configuration file as it learns, so it gets its own.
  writeFileSync(
    conf,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      '',
    ].join('\n'),
  );
  const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const client = new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 200 });
  client.on('error', () => {});
  const ask = async (...args: string[]) => (await client.call('SENTINEL', ...args)) as string[] | string[][];
  const primaryAddress = async () => (await ask('get-master-addr-by-name', name)).join(':');
  const group: SentinelGroup = {
    primary,
    replica,
    sentinels: `127.0.0.1:${sentinelPort}`,
    name,
    primaryAddress,
    stop: async () => {
      client.disconnect();
      sentinel.kill('SIGKILL');
      await Promise.all([primary.stop(), replica.stop()]);
    },
  };
  try {
    const started = Date.now();
    while (!(await redisAnswers(`redis://127.0.0.1:${sentinelPort}`))) {
      if (Date.now() - started > 10_000) throw new Error('the Sentinel did not answer within 10 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    await client.connect();
    // Ready for a failover once the replica holds the primary's data and the Sentinel has found it.
    const deadline = Date.now() + 30_000;
    const replicaClient = new Redis(replica.port, '127.0.0.1');
    try {
      while (!(await replicaClient.info('replication')).includes('master_link_status:up')) {
        if (Date.now() > deadline) throw new Error('the replica did not sync within 30 s');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      replicaClient.disconnect();
    }
    while ((await ask('replicas', name).catch(() => [])).length === 0) {
      if (Date.now() > deadline) throw new Error('the Sentinel did not find the replica within 30 s');
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (err) {
    await group.stop();
    throw err;
  }
  return group;
}

/** A worker-style client of `url` (retries forever, as BullMQ needs), for tests that drive BullMQ directly. */
export function connectTo(url: string): Redis {
  return new RedisConnection(loadProducerConfig({ REDIS_URL: url }), 'service').client;
}
