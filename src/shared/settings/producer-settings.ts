import { urlAccessSettings } from './access-settings.js';
import { connectionSettings } from './connection-settings.js';
import { jobSettings } from './job-settings.js';
import { integer, setting } from './setting.js';

/** Settings of `submit`, `status`, `results`, `cancel` and `retry`. */
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
