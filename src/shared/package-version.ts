import { readFileSync } from 'node:fs';

let version: string | undefined;

/** docfleet's version, from its package.json (two levels up from both src/shared and dist/shared). */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
    .version;
  return version;
}
