import { z } from 'zod';
import { integer, setting } from './setting.js';
import { producerSettings } from './producer-settings.js';

/** Settings of `docfleet console`: a producer's (it reads batches, cancels and retries) and where it listens. */
export const consoleSettings = {
  ...producerSettings,
  consolePort: setting(
    '--port',
    'port',
    'DOCFLEET_CONSOLE_PORT',
    integer(0, 65535).default(8080),
    'Port of the web console; 0 picks a free one and prints it.',
  ),
  consoleHost: setting(
    '--host',
    'address',
    'DOCFLEET_CONSOLE_HOST',
    z.string().min(1).default('127.0.0.1'),
    'Address the console listens on; any but a loopback address needs --token.',
  ),
  consoleToken: setting(
    '--token',
    'token',
    'DOCFLEET_CONSOLE_TOKEN',
    z.string().min(16, { error: 'expected at least 16 characters' }).optional(),
    'Secret every request to the console must carry (Authorization: Bearer, or once as ?token= which sets a cookie); prefer the variable, which shows in no process list.',
  ),
};
