import { serve, text, type HttpEndpoint } from '../shared/http-endpoint.js';
import type { WorkerMetrics } from './worker-metrics.js';

export interface HealthServerOptions {
  port: number;
  host?: string;
  metrics: WorkerMetrics;
  /** True once the model is loaded and every Redis connection is up; a throw counts as not ready. Must not wait on Redis. */
  ready: () => Promise<boolean> | boolean;
}

/**
 * /metrics for Prometheus, /healthz for the liveness probe (answers while the event loop runs),
 * /readyz for the readiness probe.
 */
export function startHealthServer(opts: HealthServerOptions): Promise<HttpEndpoint> {
  return serve(
    {
      '/metrics': async () => ({
        status: 200,
        contentType: opts.metrics.contentType,
        body: await opts.metrics.metrics(),
      }),
      '/healthz': () => Promise.resolve(text(200, 'ok')),
      '/readyz': async () => {
        const ready = await Promise.resolve()
          .then(opts.ready)
          .catch(() => false);
        return ready ? text(200, 'ready') : text(503, 'not ready');
      },
    },
    opts.port,
    opts.host,
  );
}
