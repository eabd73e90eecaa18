import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';

/** A throwaway `redis-server` on a free loopback port (demo and tests). */
export interface LocalRedis {
  url: string;
  port: number;
  /** Stops the server (it stays stopped until `restart`); with `appendOnly`, its data survives to the restart. */
  stop(): Promise<void>;
  /** Starts it again on the same port (tests use this to simulate a Redis outage). */
  restart(): Promise<void>;
}

export interface LocalRedisOptions {
  /**
   * Keep the data in an append-only file in a temporary folder, written on every command, so that a `restart`
   * finds what was there (as a production Redis with AOF would); otherwise nothing is kept on disk.
   * @defaultValue false
   */
  appendOnly?: boolean;
  /** More `redis-server` arguments (TLS ports and certificates, `--replicaof`, …). */
  args?: string[];
  /** Sets `requirepass`; `url` stays without it. */
  password?: string;
}

export async function startLocalRedis(opts: LocalRedisOptions = {}): Promise<LocalRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const dir = opts.appendOnly ? mkdtempSync(path.join(tmpdir(), 'docfleet-redis-')) : undefined;
  const persistence = dir ? ['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const auth = opts.password ? ['--requirepass', opts.password] : [];
  const probeUrl = opts.password ? `redis://:${encodeURIComponent(opts.password)}@127.0.0.1:${port}` : url;
  let child: ReturnType<typeof spawn> | undefined;
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, ...auth];
    const proc = spawn('redis-server', [...args, ...(opts.args ?? [])], { stdio: 'ignore' });
    child = proc;
    await new Promise((resolve, reject) => {
      proc.once('error', (err) =>
        reject(new Error(`cannot start redis-server (install the redis-server package): ${err.message}`)),
      );
      proc.once('spawn', resolve);
    });
    const deadline = Date.now() + 10_000;
    while (!(await redisAnswers(probeUrl))) {
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  // The data must outlive `stop` for a `restart`; it goes with the process that made it.
  if (dir) process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  await start();
  return { url, port, stop, restart: async () => (await stop(), start()) };
}

export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    // Whatever listens on the port may not be Redis, whatever ping()'s type promises.
    const reply: string = await client.ping();
    return reply === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
