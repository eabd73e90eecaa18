import type { AddressInfo } from 'node:net';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyError } from 'fastify';
import type { ConsoleConfig } from '../../shared/config.js';
import { ConfigError, UserError } from '../../shared/errors.js';
import { inUse } from '../../shared/http-endpoint.js';
import type { Logger } from '../../shared/logger.js';
import { BatchNotFoundError } from '../batch-control.js';
import { Producer } from '../producer.js';
import { batchRoutes } from './batch-page.js';
import { batchesRoutes } from './batches-page.js';
import { consoleAuth, isLoopback } from './console-auth.js';
import { fleetRoutes } from './fleet-page.js';
import { queuesBoard } from './queues-board.js';
import { resultRoutes } from './result-page.js';

export interface ConsoleServer {
  /** Where it listens, e.g. `http://127.0.0.1:8080`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The web console: server-rendered pages over the batch index, the result store, the worker heartbeats and
 * bull-board. Nothing is logged per request, so that no document name or token reaches a log.
 */
export async function startConsole(config: ConsoleConfig, log: Logger): Promise<ConsoleServer> {
  if (!isLoopback(config.consoleHost) && config.consoleToken === undefined)
    throw new ConfigError(
      `--host ${config.consoleHost}: other machines could reach the console; pass --token (or DOCFLEET_CONSOLE_TOKEN) to require a secret, or bind 127.0.0.1`,
    );
  // A service: it waits out a Redis outage instead of exiting.
  const producer = new Producer(config, 'service');
  const app = Fastify({ logger: false });
  try {
    await app.register(formbody);
    await consoleAuth(app, config.consoleToken);
    // Before the routes: each takes the error handler in force when it is added.
    app.setErrorHandler((err: FastifyError, _req, reply) => {
      if (err instanceof BatchNotFoundError) return reply.code(404).type('text/plain').send(`${err.message}\n`);
      if (err instanceof UserError) return reply.code(400).type('text/plain').send(`${err.message}\n`);
      log.error({ err }, 'console request failed');
      return reply
        .code(err.statusCode ?? 500)
        .type('text/plain')
        .send(`${err.message}\n`);
    });
    batchesRoutes(app, producer);
    batchRoutes(app, producer);
    resultRoutes(app, producer);
    fleetRoutes(app, producer);
    await queuesBoard(app, producer);
    await app.listen({ port: config.consolePort, host: config.consoleHost }).catch((err: unknown) => {
      throw inUse(err, '--port', config.consolePort);
    });
  } catch (err) {
    await app.close();
    await producer.close();
    throw err;
  }
  const { port } = app.server.address() as AddressInfo;
  const host =
    config.consoleHost.includes(':') && !config.consoleHost.startsWith('[')
      ? `[${config.consoleHost}]`
      : config.consoleHost;
  return {
    url: `http://${host}:${port}`,
    port,
    close: async () => {
      await app.close();
      await producer.close();
    },
  };
}
