import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { settingGroups } from '../../src/shared/settings/all-settings.js';
import { configurationReference } from '../../src/shared/settings/configuration-reference.js';
import { ROOT } from '../helpers/paths.js';

describe('docs/configuration.md', () => {
  it('is what `npm run docs` generates from the setting tables (run it after changing a setting)', () => {
    const committed = readFileSync(path.join(ROOT, 'docs/configuration.md'), 'utf8');
    expect(committed).toBe(configurationReference());
  });

  it('lists every setting once, each variable unique, each flag unique within its group', () => {
    const all = settingGroups.flatMap((g) => Object.values(g.settings));
    expect(new Set(all.map((s) => s.env)).size).toBe(all.length);
    // Commands of different groups may share a flag name (`exporter --port`, `console --port`), never a variable.
    for (const g of settingGroups) {
      const flags = Object.values(g.settings).map((s) => s.flag);
      expect(new Set(flags).size, g.title).toBe(flags.length);
    }
    for (const s of all) expect(configurationReference()).toContain(`\`${s.env}\``);
  });
});
