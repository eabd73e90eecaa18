import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, PermanentError } from '../errors.js';
import { classifyAddress } from './address-class.js';

/** The file names documents may have: what `submit` walks and what a worker reads. */
export const DOCUMENT_EXTENSIONS = ['.pdf', '.txt', '.md', '.markdown'];

export interface DocumentAccessOptions {
  /**
   * Directories whose files may be read, symbolic links resolved; none means no local file may be read.
   * @defaultValue `[]`
   */
  roots?: readonly string[];
  /**
   * URL prefixes (`https://docs.example.com/contracts/`) documents may be fetched from, redirects included;
   * none means no URL may be fetched.
   * @defaultValue `[]`
   */
  urlPrefixes?: readonly string[];
  /** Whether URLs may lead to loopback and private addresses (never to link-local ones). @defaultValue `false` */
  allowPrivateAddresses?: boolean;
}

/**
 * Where documents may be read or fetched from. Whoever can write a job to Redis names the document a worker
 * opens, so a worker opens only what its operator allowed: files under its roots (after resolving symbolic
 * links, so a link cannot lead out) and URLs under its prefixes that resolve to public addresses. Every
 * refusal is a PermanentError of category `forbidden`.
 */
export class DocumentAccess {
  /** Reads any file and fetches any URL: for local tools reading their own files, never for a worker. */
  static readonly unrestricted = new DocumentAccess(undefined, undefined, true);

  /** Real paths of batches' roots on this machine: a batch's jobs ask again and again. */
  private readonly realRoots = new Map<string, Promise<string | undefined>>();

  private constructor(
    /** Real paths; undefined means any. */
    private readonly roots: readonly string[] | undefined,
    private readonly urlPrefixes: readonly URL[] | undefined,
    readonly allowPrivateAddresses: boolean,
  ) {}

  /** Resolves the roots to their real paths once; a root that does not exist is a configuration error. */
  static async create(options: DocumentAccessOptions = {}): Promise<DocumentAccess> {
    const roots = await Promise.all(
      (options.roots ?? []).map((root) =>
        realpath(path.resolve(root)).catch((err: unknown) => {
          const reason = (err as NodeJS.ErrnoException).code ?? String(err);
          throw new ConfigError(`--documents-root / DOCUMENTS_ROOTS: cannot use ${root} (${reason})`);
        }),
      ),
    );
    const prefixes = (options.urlPrefixes ?? []).map((prefix) => {
      const url = URL.canParse(prefix) ? new URL(prefix) : undefined;
      if (!url || !/^https?:$/.test(url.protocol) || url.username || url.password || url.search || url.hash)
        throw new ConfigError(`--allow-url-prefix: ${prefix} is not an http(s) URL without credentials or query`);
      return url;
    });
    return new DocumentAccess(roots, prefixes, options.allowPrivateAddresses ?? false);
  }

  get fetchesUrls(): boolean {
    return this.urlPrefixes === undefined || this.urlPrefixes.length > 0;
  }

  /**
   * The real path of a document file if it may be read: an absolute path with a document's extension whose
   * real path lies under one of these roots and, when the batch recorded the directories it was submitted
   * from, under one of those too. The batch's roots arrive as a promise so that they can be read from Redis
   * while the path is resolved.
   */
  async resolveFile(
    file: string,
    batchRoots?: Promise<readonly string[] | undefined> | readonly string[],
  ): Promise<string> {
    if (!path.isAbsolute(file))
      throw new PermanentError('not-found', `not an absolute path or an http(s) URL: ${file}`);
    if (this.roots?.length === 0) {
      throw forbidden(`${file}: this worker reads no local files (start it with --documents-root <dir>)`);
    }
    if (this.roots && !isDocumentName(file)) {
      throw forbidden(`${file}: not a document's name (${DOCUMENT_EXTENSIONS.join(', ')})`);
    }
    const real = await realpath(file).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new PermanentError('not-found', `no such file: ${file}`);
      throw err;
    });
    if (this.roots && !isUnder(real, this.roots)) {
      throw forbidden(`${file}${shownTarget(file, real)} is outside the documents roots (--documents-root)`);
    }
    const recorded = await batchRoots;
    if (recorded && recorded.length > 0 && !isUnder(real, await this.realPaths(recorded))) {
      throw forbidden(`${file}${shownTarget(file, real)} is outside the directories its batch was submitted from`);
    }
    return real;
  }

  /**
   * The batch's roots resolved here, not where they were submitted: the producer may see the same volume
   * through other links. A root missing here holds no file.
   */
  private async realPaths(roots: readonly string[]): Promise<string[]> {
    // Bounded: a long-running worker sees many batches, each usually with the same few roots.
    if (this.realRoots.size > 1_000) this.realRoots.clear();
    const resolved = await Promise.all(
      roots.map((root) => {
        let real = this.realRoots.get(root);
        if (!real) {
          real = realpath(root).catch(() => undefined);
          this.realRoots.set(root, real);
        }
        return real;
      }),
    );
    return resolved.filter((root) => root !== undefined);
  }

  /** The URL, parsed, if it is http(s) and under an allowed prefix. */
  checkUrl(url: string | URL): URL {
    const parsed = typeof url === 'string' && URL.canParse(url) ? new URL(url) : url;
    if (typeof parsed === 'string' || !/^https?:$/.test(parsed.protocol))
      throw forbidden(`${String(url)}: not an http(s) URL`);
    if (this.urlPrefixes === undefined) return parsed;
    if (this.urlPrefixes.length === 0) {
      throw forbidden(`${parsed.href}: fetching URLs is off (allow prefixes with --allow-url-prefix)`);
    }
    if (!this.urlPrefixes.some((prefix) => isUnderPrefix(parsed, prefix))) {
      throw forbidden(`${parsed.href} is under no allowed URL prefix (--allow-url-prefix)`);
    }
    return parsed;
  }

  /** Throws unless a connection to this IP address may be made. */
  checkAddress(address: string, host: string): void {
    const kind = classifyAddress(address);
    if (kind === 'public') return;
    if ((kind === 'private' || kind === 'loopback') && this.allowPrivateAddresses) return;
    const hint = kind === 'private' || kind === 'loopback' ? ' (allow with --allow-private-addresses)' : '';
    throw forbidden(`${host} is at ${address}, a ${kind} address${hint}`);
  }
}

export function isDocumentName(file: string): boolean {
  return DOCUMENT_EXTENSIONS.includes(path.extname(file).toLowerCase());
}

export function forbidden(message: string): PermanentError {
  return new PermanentError('forbidden', message);
}

/** Whether a real path is one of the roots or lies inside one. */
export function isUnder(real: string, roots: readonly string[]): boolean {
  return roots.some((root) => {
    const rel = path.relative(root, real);
    return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
  });
}

/**
 * Same scheme, host and port, no credentials, and the path continues the prefix's at a segment boundary, so
 * that `https://docs.example.com/a` allows `/a/b` but neither `/ab` nor `docs.example.com.evil.net`. URL
 * parsing has already removed `..` segments, encoded ones included.
 */
function isUnderPrefix(url: URL, prefix: URL): boolean {
  if (url.origin !== prefix.origin || url.username || url.password) return false;
  const base = prefix.pathname;
  if (base.endsWith('/')) return url.pathname.startsWith(base);
  return url.pathname === base || url.pathname.startsWith(`${base}/`);
}

function shownTarget(file: string, real: string): string {
  return real === file ? '' : ` (links to ${real})`;
}
