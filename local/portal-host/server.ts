/**
 * The portal's static site on `npm start` (http://127.0.0.1:8080): files from dist/portal/site, with
 * `config.json` read from the stack's own file at each request (the stack writes it once it knows
 * where the identity provider and the API listen). Headers as the site should get them in Azure: a
 * Content-Security-Policy that lets scripts come only from the site and connections go only to the
 * authority and the API, no referrer, no framing.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import { listenOn } from '../process/ports.js';

export interface PortalHostOptions {
  siteDir: string;
  /** The configuration to serve as /config.json; without it, the site's own file. */
  configFile?: string;
  port?: number;
  host?: string;
}

export interface PortalHost {
  url: string;
  port: number;
  close(): Promise<void>;
}

export const DEFAULT_PORTAL_PORT = 8080;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** The origins the pages talk to, from the configuration (authority and API). */
function connectOrigins(config: unknown): string[] {
  const { authority, apiBaseUrl } = (config ?? {}) as { authority?: unknown; apiBaseUrl?: unknown };
  return [authority, apiBaseUrl]
    .filter((value): value is string => typeof value === 'string' && URL.canParse(value))
    .map((value) => new URL(value).origin);
}

function securityHeaders(origins: string[]): Record<string, string> {
  const others = origins.join(' ');
  return {
    'Content-Security-Policy':
      `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ${others}; ` +
      `frame-src ${others || "'none'"}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'`,
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  };
}

export async function startPortalHost(options: PortalHostOptions): Promise<PortalHost> {
  const siteDir = path.resolve(options.siteDir);
  const configFile = options.configFile ?? path.join(siteDir, 'config.json');

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://portal').pathname);
    } catch {
      response.writeHead(400).end();
      return;
    }
    if (pathname.endsWith('/')) pathname += 'index.html';
    const configText = await readFile(configFile, 'utf8').catch(() => '{}');
    let config: unknown;
    try {
      config = JSON.parse(configText);
    } catch {
      config = {};
    }
    const headers = securityHeaders(connectOrigins(config));
    if (pathname === '/config.json') {
      response.writeHead(200, { ...headers, 'Content-Type': TYPES['.json']! });
      response.end(request.method === 'HEAD' ? undefined : configText);
      return;
    }
    const file = path.join(siteDir, path.normalize(pathname));
    const type = TYPES[path.extname(file)];
    const found =
      file.startsWith(`${siteDir}${path.sep}`) && type ? await stat(file).catch(() => undefined) : undefined;
    if (!found?.isFile()) {
      response.writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
      response.end(request.method === 'HEAD' ? undefined : 'Not found');
      return;
    }
    response.writeHead(200, { ...headers, 'Content-Type': type!, 'Content-Length': found.size });
    if (request.method === 'HEAD') response.end();
    else createReadStream(file).pipe(response);
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  const host = options.host ?? '127.0.0.1';
  const port = await listenOn(server, options.port ?? DEFAULT_PORTAL_PORT, host);
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
