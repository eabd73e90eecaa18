import { urlAccessSettings } from './access-settings.js';
import { connectionSettings } from './connection-settings.js';
import { jobSettings } from './job-settings.js';
import { integer, setting } from './setting.js';

/** Settings of `submit` and the other producer commands (`status`, `batches`, `results`, `queues`, …). */
export const producerSettings = { ...connectionSettings, ...jobSettings, ...urlAccessSettings };

/** Settings of `docfleet exporter`. */
export const exporterSettings = {
  ...connectionSettings,
  port: setting(
    '--port',
    'port',
    'DOCFLEET_EXPORTER_PORT',
    integer(1, 65535).default(9465),
    'Port of the queue exporter’s /metrics and /healthz.',
  ),
};
