import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../helpers/paths.js';

describe('docfleet --version', () => {
  it("prints package.json's version from the built CLI, without Redis", () => {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    for (const flag of ['--version', '-V'])
      expect(execFileSync(process.execPath, [CLI, flag], { encoding: 'utf8' })).toBe(`${version}\n`);
  });
});
