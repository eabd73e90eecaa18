import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { walkDocuments } from '../../src/producer/document-walker.js';
import { DocumentAccess } from '../../src/shared/access/document-access.js';

async function collect(inputs: string[], maxBytes = 1e6) {
  const out = [];
  for await (const item of walkDocuments(inputs, maxBytes, await DocumentAccess.create())) out.push(item);
  return out;
}

describe('walkDocuments', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'walk-'));
  mkdirSync(path.join(dir, 'nested/deeper'), { recursive: true });
  writeFileSync(path.join(dir, 'a.txt'), 'alpha');
  writeFileSync(path.join(dir, 'nested/b.md'), '# beta');
  writeFileSync(path.join(dir, 'nested/deeper/c.PDF'), '%PDF-1.4');
  writeFileSync(path.join(dir, 'nested/skip.docx'), 'x');
  writeFileSync(path.join(dir, 'big.txt'), 'x'.repeat(2000));

  it('walks directories recursively, in order, keeping only documents', async () => {
    const items = await collect([dir], 1000);
    const names = items.map((i) =>
      'ref' in i ? path.relative(dir, i.ref.uri) : `refused:${path.basename(i.refused)}`,
    );
    expect(names).toEqual(['a.txt', 'refused:big.txt', 'nested/b.md', 'nested/deeper/c.PDF']);
  });

  it('hashes content, so equal bytes give equal hashes', async () => {
    writeFileSync(path.join(dir, 'copy.txt'), 'alpha');
    const [a, copy] = await collect([path.join(dir, 'a.txt'), path.join(dir, 'copy.txt')]);
    expect(a && 'ref' in a && copy && 'ref' in copy && a.ref.sha256 === copy.ref.sha256).toBe(true);
  });

  it('refuses what it cannot take, with a reason', async () => {
    const items = await collect([path.join(dir, 'nested/skip.docx'), path.join(dir, 'missing.pdf')]);
    const unsupported: unknown = expect.stringContaining('unsupported type');
    expect(items).toEqual([
      { refused: path.join(dir, 'nested/skip.docx'), reason: unsupported },
      { refused: path.join(dir, 'missing.pdf'), reason: 'no such file or directory' },
    ]);
  });

  it('reads links to files, refuses broken links, and does not follow links to directories', async () => {
    const linked = mkdtempSync(path.join(os.tmpdir(), 'walk-links-'));
    writeFileSync(path.join(linked, 'real.txt'), 'gamma');
    symlinkSync(path.join(linked, 'real.txt'), path.join(linked, 'link.txt'));
    symlinkSync(path.join(linked, 'gone.txt'), path.join(linked, 'broken.txt'));
    symlinkSync(dir, path.join(linked, 'loop'));
    const items = await collect([linked]);
    expect(
      items.map((i) => ('ref' in i ? path.basename(i.ref.name) : `refused:${path.basename(i.refused)}:${i.reason}`)),
    ).toEqual(['refused:broken.txt:cannot read: ENOENT', 'link.txt', 'real.txt']);
    const [link, real] = items.slice(1) as { ref: { sha256: string } }[];
    expect(link!.ref.sha256).toBe(real!.ref.sha256);
  });

  it('refuses a link that leads out of the directory submitted, as workers would', async () => {
    const submitted = mkdtempSync(path.join(os.tmpdir(), 'walk-escape-'));
    const secret = path.join(mkdtempSync(path.join(os.tmpdir(), 'walk-secret-')), 'secret.txt');
    writeFileSync(secret, 'password');
    symlinkSync(secret, path.join(submitted, 'innocent.txt'));
    const [item, ...rest] = await collect([submitted]);
    expect(rest).toEqual([]);
    expect(item && 'refused' in item && item.refused).toBe(path.join(submitted, 'innocent.txt'));
    expect(item && 'reason' in item && item.reason).toMatch(/outside/);
    // Named on its own, a link is what the submitter asked for.
    expect(await collect([path.join(submitted, 'innocent.txt')])).toMatchObject([{ ref: { bytes: 8 } }]);
  });

  it('streams files too large to read whole, with the same hash', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'walk-large-')), 'large.txt');
    const bytes = Buffer.alloc(5 * 1024 * 1024, 'contract ');
    writeFileSync(file, bytes);
    const [item] = await collect([file], 10 * 1024 * 1024);
    expect(item).toMatchObject({
      ref: { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') },
    });
  });
});
