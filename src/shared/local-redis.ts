import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** A throwaway `redis-server` on a free loopback port, keeping nothing on disk (demo and tests). */
export interface LocalRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Starts it again on the same port (tests use this to simulate a Redis outage). */
  restart(): Promise<void>;
}

export interface LocalRedisOptions {
  /** More `redis-server` arguments (TLS ports and certificates, `--replicaof`, …). */
  args?: string[];
  /** Sets `requirepass`; `url` stays without it. */
  password?: string;
}

export async function startLocalRedis(opts: LocalRedisOptions = {}): Promise<LocalRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const auth = opts.password ? ['--requirepass', opts.password] : [];
  const probeUrl = opts.password ? `redis://:${encodeURIComponent(opts.password)}@127.0.0.1:${port}` : url;
  let child: ReturnType<typeof spawn> | undefined;
  const start = async () => {
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        ...auth,
        ...(opts.args ?? []),
      ],
      { stdio: 'ignore' },
    );
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
  await start();
  return { url, port, stop, restart: async () => (await stop(), start()) };
}

export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
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
