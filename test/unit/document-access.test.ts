import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyAddress } from '../../src/shared/access/address-class.js';
import { DocumentAccess } from '../../src/shared/access/document-access.js';
import { fetchDocument } from '../../src/shared/access/guarded-fetch.js';
import { categoryOf, ConfigError } from '../../src/shared/errors.js';

async function refusal(promise: Promise<unknown>): Promise<{ category: string; message: string }> {
  return promise.then(
    () => expect.fail('expected a refusal'),
    (err: unknown) => ({ category: categoryOf(err), message: (err as Error).message }),
  );
}

describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['2606:4700::1111', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fd00:ec2::254', 'link-local'],
    ['100.100.100.200', 'link-local'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['::ffff:10.0.0.1', 'private'],
    ['0.0.0.0', 'reserved'],
    ['::', 'reserved'],
    ['224.0.0.1', 'reserved'],
    ['64:ff9b::a9fe:a9fe', 'reserved'],
  ])('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it('rejects what is not an address', () => {
    expect(() => classifyAddress('example.com')).toThrow(TypeError);
  });
});

describe('DocumentAccess: files', () => {
  // Real paths: the temporary directory may itself be reached through a link (macOS).
  const base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'access-')));
  const root = path.join(base, 'root');
  const submitted = path.join(root, 'submitted');
  const sibling = path.join(root, 'sibling');
  const outside = path.join(base, 'outside');
  for (const dir of [submitted, sibling, outside]) mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(submitted, 'contract.txt'), 'terms');
  writeFileSync(path.join(submitted, 'no-extension'), 'terms');
  writeFileSync(path.join(sibling, 'other.txt'), 'other');
  writeFileSync(path.join(outside, 'secret.txt'), 'password');
  symlinkSync(path.join(outside, 'secret.txt'), path.join(submitted, 'innocent.txt'));
  symlinkSync(path.join(sibling, 'other.txt'), path.join(submitted, 'neighbour.txt'));
  symlinkSync(path.join(submitted, 'contract.txt'), path.join(submitted, 'alias.txt'));
  symlinkSync(outside, path.join(root, 'escape'));
  symlinkSync(submitted, path.join(base, 'mounted-elsewhere'));

  it('reads a file under a root, and a link that stays inside, by its real path', async () => {
    const access = await DocumentAccess.create({ roots: [root] });
    expect(await access.resolveFile(path.join(submitted, 'contract.txt'))).toBe(path.join(submitted, 'contract.txt'));
    expect(await access.resolveFile(path.join(submitted, 'alias.txt'))).toBe(path.join(submitted, 'contract.txt'));
  });

  it('refuses a link that leads out of the roots, as a file or through a directory', async () => {
    const access = await DocumentAccess.create({ roots: [root] });
    const viaFile = await refusal(access.resolveFile(path.join(submitted, 'innocent.txt')));
    expect(viaFile.category).toBe('forbidden');
    expect(viaFile.message).toContain(path.join(outside, 'secret.txt'));
    expect(viaFile.message).toContain('--documents-root');
    expect((await refusal(access.resolveFile(path.join(root, 'escape/secret.txt')))).category).toBe('forbidden');
    expect((await refusal(access.resolveFile(path.join(submitted, '../../outside/secret.txt')))).category).toBe(
      'forbidden',
    );
  });

  it("refuses a file outside the batch's directories, even under the worker's root", async () => {
    const access = await DocumentAccess.create({ roots: [root] });
    const batchRoots = Promise.resolve([submitted]);
    expect(await access.resolveFile(path.join(submitted, 'contract.txt'), batchRoots)).toBeTruthy();
    const linked = await refusal(access.resolveFile(path.join(submitted, 'neighbour.txt'), batchRoots));
    expect(linked.category).toBe('forbidden');
    expect(linked.message).toContain('batch');
    expect((await refusal(access.resolveFile(path.join(sibling, 'other.txt'), [submitted]))).category).toBe(
      'forbidden',
    );
    // The batch's roots are resolved on the worker: the producer may have reached the folder through a link.
    expect(await access.resolveFile(path.join(submitted, 'contract.txt'), [path.join(base, 'mounted-elsewhere')])).toBe(
      path.join(submitted, 'contract.txt'),
    );
    expect(
      (await refusal(access.resolveFile(path.join(submitted, 'contract.txt'), [path.join(base, 'gone')]))).category,
    ).toBe('forbidden');
    // A batch without recorded roots (references submitted without them) has the worker's roots only.
    expect(await access.resolveFile(path.join(sibling, 'other.txt'), Promise.resolve(undefined))).toBeTruthy();
  });

  it('reads no file at all without roots, and says which flag to set', async () => {
    const access = await DocumentAccess.create();
    const r = await refusal(access.resolveFile(path.join(submitted, 'contract.txt')));
    expect(r.category).toBe('forbidden');
    expect(r.message).toContain('--documents-root');
  });

  it('refuses names without a document extension; missing and relative paths are not found', async () => {
    const access = await DocumentAccess.create({ roots: [root] });
    expect((await refusal(access.resolveFile(path.join(submitted, 'no-extension')))).category).toBe('forbidden');
    expect((await refusal(access.resolveFile(path.join(submitted, 'missing.txt')))).category).toBe('not-found');
    expect((await refusal(access.resolveFile('submitted/contract.txt'))).category).toBe('not-found');
  });

  it('rejects a root that does not exist and a prefix that is not an http(s) URL, naming the flag', async () => {
    await expect(DocumentAccess.create({ roots: [path.join(base, 'nowhere')] })).rejects.toThrow(ConfigError);
    await expect(DocumentAccess.create({ roots: [path.join(base, 'nowhere')] })).rejects.toThrow(/--documents-root/);
    await expect(DocumentAccess.create({ urlPrefixes: ['ftp://example.com/'] })).rejects.toThrow(/--allow-url-prefix/);
    await expect(DocumentAccess.create({ urlPrefixes: ['https://u:p@example.com/'] })).rejects.toThrow(ConfigError);
  });
});

describe('DocumentAccess: URL prefixes', () => {
  it.each([
    ['https://docs.example.com/contracts/a.pdf', true],
    ['https://docs.example.com/contracts', true],
    ['https://docs.example.com/contracts?page=2', true],
    ['https://docs.example.com/contracts-old/a.pdf', false],
    ['https://docs.example.com/other/a.pdf', false],
    ['https://docs.example.com/contracts/../secret', false],
    ['https://docs.example.com/contracts/%2e%2e/secret', false],
    ['https://docs.example.com.evil.net/contracts/a.pdf', false],
    ['https://docs.example.com@evil.net/contracts/a.pdf', false],
    ['https://user@docs.example.com/contracts/a.pdf', false],
    ['http://docs.example.com/contracts/a.pdf', false],
    ['https://docs.example.com:8443/contracts/a.pdf', false],
    ['https://archive.example.org/any/thing.pdf', true],
    ['file:///etc/passwd', false],
  ])('%s allowed: %s', async (url, allowed) => {
    const access = await DocumentAccess.create({
      urlPrefixes: ['https://docs.example.com/contracts', 'https://archive.example.org'],
    });
    if (allowed) expect(access.checkUrl(url).href).toBe(new URL(url).href);
    else expect(() => access.checkUrl(url)).toThrow(expect.objectContaining({ category: 'forbidden' }));
  });

  it('fetches no URL without prefixes', async () => {
    const access = await DocumentAccess.create();
    expect(() => access.checkUrl('https://docs.example.com/a.pdf')).toThrow(/--allow-url-prefix/);
  });
});

describe('fetchDocument', () => {
  let server: Server;
  let origin: string;
  const body = 'MUTUAL NON-DISCLOSURE AGREEMENT';

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/docs/nda.txt') res.end(body);
      else if (url.pathname === '/docs/hop') res.writeHead(302, { location: '/docs/nda.txt' }).end();
      else if (url.pathname === '/docs/escape') res.writeHead(302, { location: '/internal/secret.txt' }).end();
      else if (url.pathname === '/docs/metadata')
        res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      else if (url.pathname === '/docs/loop') res.writeHead(301, { location: '/docs/loop' }).end();
      else if (url.pathname === '/docs/endless') {
        // No content-length: the limit must hold on what arrives.
        res.writeHead(200, { 'content-type': 'text/plain' });
        const timer = setInterval(() => res.write('x'.repeat(64 * 1024)), 1);
        res.on('close', () => clearInterval(timer));
      } else if (url.pathname === '/internal/secret.txt') res.end('password');
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function text(url: string, access: DocumentAccess, maxBytes = 1024 * 1024): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of fetchDocument(url, access, { maxBytes })) chunks.push(chunk);
    return Buffer.concat(chunks).toString();
  }

  const allowed = () => DocumentAccess.create({ urlPrefixes: [`${origin}/docs/`], allowPrivateAddresses: true });

  it('fetches under a prefix, following redirects that stay under it', async () => {
    expect(await text(`${origin}/docs/nda.txt`, await allowed())).toBe(body);
    expect(await text(`${origin}/docs/hop`, await allowed())).toBe(body);
  });

  it('never follows a redirect out of the prefixes, nor to a metadata address', async () => {
    const escape = await refusal(text(`${origin}/docs/escape`, await allowed()));
    expect(escape.category).toBe('forbidden');
    expect(escape.message).toContain('/internal/secret.txt');
    const metadata = await refusal(
      text(
        `${origin}/docs/metadata`,
        await DocumentAccess.create({ urlPrefixes: [origin, 'http://169.254.169.254'], allowPrivateAddresses: true }),
      ),
    );
    expect(metadata.category).toBe('forbidden');
    expect(metadata.message).toContain('link-local');
    expect((await refusal(text(`${origin}/docs/loop`, await allowed()))).category).toBe('not-found');
  });

  it('refuses loopback, by address and by name, unless private addresses are allowed', async () => {
    const strict = await DocumentAccess.create({ urlPrefixes: [`${origin}/docs/`] });
    const byAddress = await refusal(text(`${origin}/docs/nda.txt`, strict));
    expect(byAddress.category).toBe('forbidden');
    expect(byAddress.message).toContain('--allow-private-addresses');
    const port = new URL(origin).port;
    const byName = await DocumentAccess.create({ urlPrefixes: [`http://localhost:${port}/docs/`] });
    expect((await refusal(text(`http://localhost:${port}/docs/nda.txt`, byName))).category).toBe('forbidden');
    const named = await DocumentAccess.create({
      urlPrefixes: [`http://localhost:${port}/docs/`],
      allowPrivateAddresses: true,
    });
    expect(await text(`http://localhost:${port}/docs/nda.txt`, named)).toBe(body);
  });

  it('stops a download at the size limit, whatever the server declares', async () => {
    const r = await refusal(text(`${origin}/docs/endless`, await allowed(), 256 * 1024));
    expect(r.category).toBe('too-large');
  });

  it('reports a missing document as not found', async () => {
    expect((await refusal(text(`${origin}/docs/missing.txt`, await allowed()))).category).toBe('not-found');
  });
});
