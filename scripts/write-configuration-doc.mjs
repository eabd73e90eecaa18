// `npm run docs`: writes docs/configuration.md from the setting tables (built into dist/ first).
import { writeFileSync } from 'node:fs';
import { configurationReference } from '../dist/shared/settings/configuration-reference.js';

const target = new URL('../docs/configuration.md', import.meta.url);
writeFileSync(target, configurationReference());
console.log(`wrote ${target.pathname}`);
