import { accessSettings } from './access-settings.js';
import { consoleSettings } from './console-settings.js';
import { connectionSettings } from './connection-settings.js';
import { jobSettings } from './job-settings.js';
import { exporterSettings, producerSettings } from './producer-settings.js';
import type { SettingTable } from './setting.js';
import { workerSettings } from './worker-settings.js';

export interface SettingGroup {
  title: string;
  /** Which commands take the group's settings. */
  commands: string;
  settings: SettingTable;
}

/**
 * Every setting once, grouped as the configuration reference lists them. Imports nothing but zod, so that static
 * checks (of the Kubernetes manifests, of the docs) can read the settings without loading the application.
 */
export const settingGroups: SettingGroup[] = [
  {
    title: 'Connection',
    commands:
      'every command that talks to Redis: `submit`, `status`, `batches`, `failures`, `results`, `cancel`, `retry`, ' +
      '`queues`, `pause`, `resume`, `worker`, `exporter`, `console`',
    settings: connectionSettings,
  },
  {
    title: 'Jobs',
    commands: '`submit` (and the other producer commands: `status`, `results`, `queues`, …) and `worker`',
    settings: jobSettings,
  },
  {
    title: 'Document access',
    commands: '`worker`; `--allow-url-prefix` and `--allow-private-addresses` also `submit`',
    settings: accessSettings,
  },
  {
    title: 'Worker',
    commands: '`worker`',
    settings: omit(workerSettings, [connectionSettings, jobSettings, accessSettings]),
  },
  { title: 'Exporter', commands: '`exporter`', settings: omit(exporterSettings, [connectionSettings]) },
  { title: 'Console', commands: '`console`', settings: omit(consoleSettings, [producerSettings]) },
];

function omit(table: SettingTable, shown: SettingTable[]): SettingTable {
  return Object.fromEntries(Object.entries(table).filter(([key]) => !shown.some((t) => key in t)));
}
