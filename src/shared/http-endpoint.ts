import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from './errors.js';

export interface HttpEndpoint {
  /** The port listened on (the ephemeral one when 0 was asked for). */
  port: number;
  close(): Promise<void>;
}

export interface Reply {
  status: number;
  contentType: string;
  body: string;
}

export type Routes = Record<string, () => Promise<Reply>>;

const TEXT = 'text/plain; charset=utf-8';

export function text(status: number, body: string): Reply {
  return { status, contentType: TEXT, body: `${body}\n` };
}

/**
 * A GET-only HTTP server for probes and scrapes. `host` unset listens on every interface, as a pod
 * must for the kubelet and Prometheus to reach it.
 */
export async function serve(routes: Routes, port: number, host?: string): Promise<HttpEndpoint> {
  const server = createServer((req, res) => {
    const route = routes[new URL(req.url ?? '/', 'http://x').pathname];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, text(405, 'method not allowed'));
      return;
    }
    if (!route) {
      send(res, text(404, 'not found'));
      return;
    }
    route().then(
      (reply) => send(res, reply),
      (err: unknown) => send(res, text(500, err instanceof Error ? err.message : String(err))),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Prometheus keeps scrape connections alive; without this close() waits for them to time out.
        server.closeAllConnections();
      }),
  };
}

/** A port taken by another process, said in one line naming the option that sets it; other errors unchanged. */
export function inUse(err: unknown, option: string, port: number): unknown {
  if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') return err;
  return new ConfigError(
    `${option} ${port}: the port is in use by another process; choose a free one (${option} 0 picks one)`,
    { cause: err },
  );
}

function send(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, { 'content-type': reply.contentType, 'cache-control': 'no-store' });
  res.end(reply.body);
}
