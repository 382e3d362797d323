/**
 * Who may call the admin endpoint, and how a request is read and answered:
 * the bearer token (compared in constant time, never logged or echoed),
 * the refusal of cross-origin requests and of form content types for
 * actions, a JSON body with a size limit, and errors as JSON a person reads.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Largest request body an action takes. */
export const MAX_BODY_BYTES = 64 * 1024;

/** An answer with an HTTP status: the request was refused, with a message for a person. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Whether the Authorization header carries the token; true when no token is required. */
export function authorized(header: string | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const want = Buffer.from(`Bearer ${token}`);
  const got = Buffer.from(header ?? '');
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * Why a state-changing request is refused as cross-site, or null. A browser
 * tells where a request comes from (Sec-Fetch-Site, Origin): only the
 * page's own origin, or no browser at all (curl, scripts), may act.
 */
export function crossOriginRefusal(req: IncomingMessage): string | null {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `cross-origin request refused (Sec-Fetch-Site: ${site}): actions are taken only from the dashboard's own page or without a browser`;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let host: string | null = null;
    try {
      host = new URL(origin).host;
    } catch {
      // "null" (a sandboxed or file page) and garbage are not the page's origin
    }
    if (host === null || host !== req.headers.host) return `cross-origin request refused (Origin ${origin.slice(0, 100)} is not this server): actions are taken only from the dashboard's own page or without a browser`;
  }
  return null;
}

/** Reads a JSON object body of at most MAX_BODY_BYTES, sent as application/json (a form post is refused). */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    throw new HttpError(415, `actions take a JSON body with Content-Type: application/json (got ${type ? `"${type.slice(0, 60)}"` : 'none'}); form posts are refused`);
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    throw new HttpError(413, `request body of ${declared} bytes is over the limit of ${MAX_BODY_BYTES}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      req.resume();
      throw new HttpError(413, `request body is over the limit of ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `the body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

/** Common headers: nothing cached, nothing sniffed, never framed, no referrer. */
const BASE_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** Sends a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...BASE_HEADERS, 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
}

/** Sends a file's bytes with the page's security policy: its own scripts, styles and requests only. */
export function sendAsset(res: ServerResponse, type: string, body: Buffer | string): void {
  res
    .writeHead(200, {
      ...BASE_HEADERS,
      'content-type': type,
      'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
    })
    .end(body);
}
