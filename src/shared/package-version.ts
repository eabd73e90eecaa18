import { readFileSync } from 'node:fs';

/**
 * The version in docfleet's package.json, read when asked: src/shared/ and dist/shared/ both sit two levels
 * under the package root, so the same relative path serves the built CLI and the sources under vitest.
 */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
