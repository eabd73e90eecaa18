import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import { redactRedisError } from './redis-redaction.js';

export type { Logger };

/**
 * JSON lines for machines (Kubernetes, Loki); pretty output only when a person is watching:
 * LOG_FORMAT=pretty, or LOG_FORMAT unset and stdout a terminal.
 */
export function createLogger(level: string, name: string, fd: 1 | 2 = 1): Logger {
  const stream = fd === 1 ? process.stdout : process.stderr;
  const format = process.env.LOG_FORMAT ?? (stream.isTTY ? 'pretty' : 'json');
  const pretty = format === 'pretty' && prettyAvailable();
  // Redis errors are cleaned where they arise; this catches any that took another road to a log line.
  const serializers = { err: (err: Error) => pino.stdSerializers.err(redactRedisError(err)) };
  const options = { name, level, base: { pid: process.pid }, serializers };
  if (pretty)
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, destination: fd } } });
  return pino(options, pino.destination({ fd, sync: fd === 2 }));
}

function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}
