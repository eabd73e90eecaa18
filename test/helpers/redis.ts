import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { startLocalRedis, type LocalRedis, type LocalRedisOptions } from '../../src/shared/local-redis.js';

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
