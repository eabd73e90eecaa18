import { lookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { PermanentError, TransientError } from '../errors.js';
import type { DocumentAccess } from './document-access.js';
import { forbidden } from './document-access.js';

export interface FetchLimits {
  /** Bytes beyond which the download stops with `too-large`. */
  maxBytes: number;
  /** A server that stops sending must not hold a job slot forever. @defaultValue 60000 */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * The body of a document URL, chunk by chunk, fetched as `access` allows: every URL of the redirect chain is
 * checked against the allowed prefixes before it is requested, and every address connected to is checked after
 * DNS resolution (the addresses checked are the ones connected to, so a name that resolves differently the
 * second time gains nothing). Failures are PermanentError (`forbidden`, `not-found`, `too-large`) or
 * TransientError (`fetch-failed`); the caller's abort rethrows its reason.
 */
export async function* fetchDocument(url: string, access: DocumentAccess, limits: FetchLimits): AsyncGenerator<Buffer> {
  const timeoutMs = limits.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = limits.signal ? AbortSignal.any([limits.signal, timeout]) : timeout;
  try {
    const res = await follow(access.checkUrl(url), access, signal);
    const declared = Number(res.headers['content-length']);
    if (declared > limits.maxBytes) {
      res.destroy();
      throw tooLarge(declared, limits.maxBytes);
    }
    let total = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      total += chunk.byteLength;
      // The declared length can lie or be missing; the cap holds on what actually arrives.
      if (total > limits.maxBytes) {
        res.destroy();
        throw tooLarge(total, limits.maxBytes, 'at least ');
      }
      yield chunk;
    }
  } catch (err) {
    if (err instanceof PermanentError || err instanceof TransientError) throw err;
    if (limits.signal?.aborted) throw limits.signal.reason;
    const why = timeout.aborted ? `no complete response within ${timeoutMs} ms` : describe(err);
    throw new TransientError('fetch-failed', `cannot fetch ${url}: ${why}`, { cause: err });
  }
}

/** Requests the URL and follows redirects by hand, each one only to a URL the policy allows. */
async function follow(first: URL, access: DocumentAccess, signal: AbortSignal): Promise<IncomingMessage> {
  let url = first;
  for (let hop = 0; ; hop++) {
    const res = await get(url, access, signal);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (REDIRECTS.has(status) && location) {
      res.resume();
      if (hop === MAX_REDIRECTS)
        throw new PermanentError('not-found', `${first.href}: more than ${MAX_REDIRECTS} redirects`);
      const next = URL.canParse(location, url.href) ? new URL(location, url) : undefined;
      if (!next) throw new TransientError('fetch-failed', `${url.href} redirects to an invalid URL: ${location}`);
      url = access.checkUrl(next);
      continue;
    }
    if (status >= 200 && status < 300) return res;
    res.resume();
    const message = `HTTP ${status} for ${url.href}`;
    throw status === 404 || status === 410
      ? new PermanentError('not-found', message)
      : new TransientError('fetch-failed', message);
  }
}

function get(url: URL, access: DocumentAccess, signal: AbortSignal): Promise<IncomingMessage> {
  // A literal address is connected to without a lookup, so it is checked here.
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal)) access.checkAddress(literal, url.hostname);
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).get(url, {
      signal,
      lookup: guardedLookup(access, url.hostname),
      // No pooled sockets: each connection is made, and checked, for this policy and this URL.
      agent: false,
      headers: { accept: '*/*', 'user-agent': 'docfleet' },
    });
    request.once('response', resolve);
    request.once('error', reject);
    // Belt and braces: the address the socket actually reached, whatever resolved it.
    request.once('socket', (socket) =>
      socket.once('connect', () => {
        try {
          access.checkAddress(socket.remoteAddress ?? '', url.hostname);
        } catch (err) {
          request.destroy(err as Error);
        }
      }),
    );
  });
}

/** dns.lookup that keeps only the addresses the policy allows, and fails `forbidden` when none is left. */
function guardedLookup(access: DocumentAccess, host: string): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true } as LookupAllOptions, (err, addresses: LookupAddress[]) => {
      if (err) {
        callback(err, '', 0);
        return;
      }
      let refusal: unknown;
      const allowed = addresses.filter(({ address }) => {
        try {
          access.checkAddress(address, host);
          return true;
        } catch (e) {
          refusal ??= e;
          return false;
        }
      });
      if (allowed.length === 0) {
        callback((refusal ?? forbidden(`${host}: no address`)) as Error, '', 0);
        return;
      }
      // Node passes `all: true` when its caller asked for every address, whatever the declared type says.
      if ((options as { all?: boolean }).all) {
        (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      } else callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
}

/** Network failures carry the useful part in `cause` or `code`. */
function describe(err: unknown): string {
  const e = err as Error & { code?: string; cause?: Error & { code?: string } };
  if (e.cause) return `${e.message} (${e.cause.code ?? e.cause.message})`;
  return e.code && !e.message.includes(e.code) ? `${e.message} (${e.code})` : e.message;
}

export function tooLarge(bytes: number, maxBytes: number, qualifier = ''): PermanentError {
  return new PermanentError(
    'too-large',
    `document is ${qualifier}${bytes} bytes, more than the limit of ${maxBytes} (--max-document-mb)`,
  );
}
