#!/usr/bin/env node
// Adds lock entries for platform-specific optional dependencies (macOS, Windows, riscv…) that the
// package registry reachable here does not serve. `npm install` silently leaves them out of
// package-lock.json, and `npm ci` (npm ≥ 11) then refuses the lock as out of sync. The entries carry
// the package's os/cpu, so npm ci on Linux x64 skips them without downloading anything.
// Run after every `npm install` that changes the lock: node scripts/lock-foreign-optionals.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const platformOf = (name) => {
  const os = /darwin|mac/.test(name) ? 'darwin' : /win/.test(name) ? 'win32' : 'linux';
  const cpu = /arm64/.test(name)
    ? 'arm64'
    : /riscv64/.test(name)
      ? 'riscv64'
      : /-arm(?!64)|armv7l/.test(name)
        ? 'arm'
        : 'x64';
  return { os: [os], cpu: [cpu] };
};
let added = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `${path ? `${path}/` : ''}node_modules/${name}`;
    if (lock.packages[key] || lock.packages[`node_modules/${name}`]) continue;
    lock.packages[`node_modules/${name}`] = {
      version: range.replace(/^[\^~]/, ''),
      ...platformOf(name),
      optional: true,
    };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`added ${added} foreign optional packages to package-lock.json`);
