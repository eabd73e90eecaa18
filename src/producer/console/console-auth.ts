import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import cookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Loopback addresses, and `localhost`: only processes of this machine reach them. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '[::1]';
}

/** The cookie a browser keeps the token in after visiting `/?token=…` once. */
export const TOKEN_COOKIE = 'docfleet_console_token';

function sameSecret(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(token));
}

function bearer(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
}

/**
 * Guards every route, bull-board's included. With a token, a request carries it as `Authorization: Bearer …` or in
 * the cookie; a browser gets the cookie by opening any page once with `?token=…`, and is sent on to the same page
 * without it, so the token stays out of the address bar and history. Anything else is refused with 401.
 * With or without a token, a form posted from another site is refused: no page elsewhere can cancel a batch
 * through an operator's browser. Without a token (a console on loopback), a request must also name a loopback host:
 * a page elsewhere whose name was made to resolve to 127.0.0.1 (DNS rebinding) cannot read the console either.
 */
export async function consoleAuth(app: FastifyInstance, token: string | undefined): Promise<void> {
  await app.register(cookie);
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method === 'POST' && !sameOrigin(req))
      return reply.code(403).type('text/plain').send('refused: a form posted from another site\n');
    if (token === undefined) {
      if (isLoopback(hostName(req.headers.host))) return;
      return reply
        .code(403)
        .type('text/plain')
        .send('refused: a console without a token answers loopback names only\n');
    }
    if (sameSecret(bearer(req), token) || sameSecret(req.cookies[TOKEN_COOKIE], token)) return;
    const url = new URL(req.url, 'http://console');
    if (req.method === 'GET' && sameSecret(url.searchParams.get('token') ?? undefined, token)) {
      url.searchParams.delete('token');
      return reply
        .setCookie(TOKEN_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'strict' })
        .redirect(url.pathname + url.search, 303);
    }
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .type('text/plain')
      .send('401: this console needs its token: open it once as /?token=… or send Authorization: Bearer …\n');
  });
}

/** A browser names the page a form was posted from; clients that name none (curl, scripts) are not browsers. */
function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return origin === undefined;
  try {
    // A proxy in front may pass its upstream's name as Host and the browser's in X-Forwarded-Host.
    const host = new URL(origin).host;
    return host === req.headers.host || host === req.headers['x-forwarded-host'];
  } catch {
    return false;
  }
}

/** The name or address of a Host header, without its port. */
function hostName(header: string | undefined): string {
  if (!header) return '';
  return header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.replace(/:\d+$/, '');
}
