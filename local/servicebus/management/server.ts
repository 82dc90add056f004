/**
 * The management API (ATOM over HTTPS, api-version 2021-05) as `ServiceBusAdministrationClient` uses it:
 * `GET|PUT|DELETE /{queue}`, `GET /$Resources/Queues`, `GET /$namespaceinfo`. Each request carries a
 * SAS token (`Authorization`) that must hold Manage on the resource.
 *
 * The emulator's own `GET /.emulator/stats` (Manage on the namespace) answers the broker's counters as
 * JSON (stats/broker-stats.ts). No entity can be named so: entity names start with a letter or digit.
 */
import http from 'node:http';
import https from 'node:https';
import { Duplex } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { parseXML } from '@azure/core-xml';
import { EntraAccessError, type EntraAccess } from '../auth/entra-access.js';
import { SasError, grantAllows, verifySasToken, type Grant } from '../auth/sas.js';
import { BrokerError, Condition } from '../entities/errors.js';
import type { Namespace } from '../entities/namespace.js';
import { defaultQueueProperties, InvalidQueuePropertyError } from '../entities/queue-properties.js';
import { queueDescriptionXml, queuePropertiesFromXml } from './queue-description.js';
import { topicPathKind, topicsNotEmulatedMessage } from '../entities/topics-not-emulated.js';
import { element, escapeXml, parent } from './xml.js';
import { readBody, sendJson } from '../../http/messages.js';
import { listenOn } from '../../process/ports.js';

const ATOM_NS = 'http://www.w3.org/2005/Atom';
const MAX_BODY_BYTES = 1024 * 1024;
const STATS_PATH = '.emulator/stats';

export interface ManagementServerOptions {
  namespace: Namespace;
  host: string;
  port: number;
  certPem: string;
  keyPem: string;
  /** Checks Entra ID bearer tokens; undefined: only SAS tokens are accepted. */
  entra?: EntraAccess;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function statusOf(error: BrokerError): number {
  switch (error.condition) {
    case Condition.notFound:
      return 404;
    case Condition.unauthorized:
      return 401;
    case Condition.notAllowed:
      return 409;
    case Condition.resourceLimitExceeded:
      return 403;
    default:
      return 400;
  }
}

export class ManagementServer {
  readonly server: https.Server;
  /** Serves HTTP on TLS sessions another listener established (the AMQPS port). */
  private readonly decrypted: http.Server;

  constructor(private readonly options: ManagementServerOptions) {
    const onRequest = (request: IncomingMessage, response: ServerResponse) => {
      this.handle(request, response).catch((error: unknown) => {
        console.error('[servicebus] management request failed:', error);
        if (!response.headersSent) this.sendError(response, 500, 'Internal error.');
        else response.destroy();
      });
    };
    this.server = https.createServer({ cert: options.certPem, key: options.keyPem }, onRequest);
    this.server.on('tlsClientError', () => undefined);
    this.decrypted = http.createServer(onRequest);
  }

  async listen(): Promise<number> {
    return listenOn(this.server, this.options.port, this.options.host);
  }

  /** Serve a TLS connection that arrived on another listener (the AMQP port). */
  acceptTls(socket: Socket): void {
    // TLS on a net.Socket reads from its handle directly and would miss the bytes already read to
    // recognise the handshake; through a JS stream it sees them.
    const stream = Duplex.from({ readable: socket, writable: socket });
    socket.on('close', () => stream.destroy());
    stream.on('error', () => socket.destroy());
    this.server.emit('connection', stream);
  }

  /** Serve HTTP on a TLS session that another listener established and found to carry HTTP. */
  acceptDecrypted(socket: Socket): void {
    // As in acceptTls: the HTTP parser would read the TLS handle directly and miss the sniffed bytes.
    const stream = Duplex.from({ readable: socket, writable: socket });
    socket.on('close', () => stream.destroy());
    stream.on('error', () => socket.destroy());
    this.decrypted.emit('connection', stream);
  }

  async close(): Promise<void> {
    this.decrypted.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const host = request.headers.host ?? `${this.options.host}:${this.options.port}`;
    const url = new URL(request.url ?? '/', `https://${host}`);
    const path = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
    try {
      if (path === STATS_PATH && request.method === 'GET') {
        await this.authorize(request, url, '');
        return sendJson(response, 200, this.options.namespace.stats.snapshot(), {
          'Cache-Control': 'no-store',
        });
      }
      const identity = await this.authorize(request, url, path);
      // Management operations cost Service Bus Standard 10 credits each: counted for the benchmarks.
      this.options.namespace.stats.count(identity, undefined, `managementHttp:${request.method ?? '?'}`);
      const base = `https://${host}/`;
      const namespaceName = this.options.namespace.name;
      const topicKind = topicPathKind(path);
      if (topicKind) throw new HttpError(400, topicsNotEmulatedMessage(topicKind, namespaceName));
      if (request.method === 'GET' && path.toLowerCase() === '$resources/queues') {
        this.sendXml(response, 200, this.queueFeed(url, base));
      } else if (request.method === 'GET' && path.toLowerCase() === '$resources/topics') {
        // There are no topics: listing them is an empty feed, as in a namespace without any.
        this.sendXml(response, 200, this.emptyFeed(url, 'Topics'));
      } else if (request.method === 'GET' && path.toLowerCase() === '$namespaceinfo') {
        this.sendXml(response, 200, this.namespaceEntry(base));
      } else if (!path) {
        throw new HttpError(404, `No resource at '/${path}'.`);
      } else if (request.method === 'GET') {
        this.sendXml(response, 200, this.queueEntry(path, base, host));
      } else if (request.method === 'PUT') {
        const isUpdate = request.headers['if-match'] === '*';
        const body = await readBody(request, MAX_BODY_BYTES);
        if (body === undefined) throw new HttpError(413, 'The request body is too large.');
        await this.putQueue(path, body.toString('utf8'), isUpdate, namespaceName);
        this.sendXml(response, isUpdate ? 200 : 201, this.queueEntry(path, base, host));
      } else if (request.method === 'DELETE') {
        this.options.namespace.deleteQueue(path);
        response.writeHead(200, { 'content-length': 0 }).end();
      } else {
        throw new HttpError(405, `${request.method} is not supported.`);
      }
    } catch (error) {
      if (error instanceof HttpError) this.sendError(response, error.status, error.message);
      else if (error instanceof BrokerError) this.sendError(response, statusOf(error), error.message);
      else if (error instanceof InvalidQueuePropertyError) this.sendError(response, 400, error.message);
      else throw error;
    }
  }

  /**
   * The request's token must hold Manage on the requested path (a queue, or the namespace's feeds): a
   * SAS token of a rule with Manage, or an Entra ID token whose caller is Azure Service Bus Data Owner
   * there. Returns who asked (the rule, or the caller's oid).
   */
  private async authorize(request: IncomingMessage, url: URL, path: string): Promise<string> {
    const header = request.headers.authorization;
    if (!header) throw new HttpError(401, 'MissingToken: the request has no Authorization header.');
    const lower = path.toLowerCase();
    let grant: Grant;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (bearer) {
      if (!this.options.entra) {
        throw new HttpError(
          401,
          'Unauthorized: Entra ID tokens are not accepted: the emulator was started without an issuer.',
        );
      }
      try {
        // The namespace's feeds ($Resources/…, $namespaceinfo) and the emulator's endpoint name no queue.
        const queue = lower === '' || /^[$.]/.test(lower) ? undefined : lower;
        grant = await this.options.entra.grantFor(bearer[1]!, lower, queue);
      } catch (error) {
        if (error instanceof EntraAccessError) throw new HttpError(error.status, error.message);
        throw error;
      }
    } else {
      try {
        grant = verifySasToken(header, this.options.namespace);
      } catch (error) {
        if (error instanceof SasError) throw new HttpError(401, `Unauthorized: ${error.message}.`);
        throw error;
      }
    }
    if (!grantAllows(grant, lower, 'Manage')) {
      throw new HttpError(401, `Unauthorized: Manage is required on '${url.pathname}'.`);
    }
    return grant.keyName;
  }

  private async putQueue(
    name: string,
    body: string,
    isUpdate: boolean,
    namespaceName: string,
  ): Promise<void> {
    const description = await parseQueueDescription(body, namespaceName);
    const namespace = this.options.namespace;
    if (isUpdate) {
      const existing = namespace.requireQueue(name);
      namespace.updateQueue(name, queuePropertiesFromXml(description, existing.properties));
    } else {
      if (namespace.queue(name)) throw new HttpError(409, `The messaging entity '${name}' already exists.`);
      namespace.createQueue(name, queuePropertiesFromXml(description, defaultQueueProperties()));
    }
  }

  private queueEntry(name: string, base: string, host: string): string {
    const queue = this.options.namespace.requireQueue(name);
    const id = `${base}${encodeURI(queue.name)}?api-version=2021-05`;
    return this.entry(id, queue.name, queueDescriptionXml(queue, `sb://${host}/`), queue.updatedAt);
  }

  private entry(id: string, title: string, content: string, updated: Date, root = true): string {
    return parent(
      'entry',
      [
        element('id', id),
        element('title', title, ' type="text"'),
        element('published', updated.toISOString()),
        element('updated', updated.toISOString()),
        parent('author', [element('name', this.options.namespace.name)]),
        `<link rel="self" href="${escapeXml(id)}"/>`,
        parent('content', [content], ' type="application/xml"'),
      ],
      root ? ` xmlns="${ATOM_NS}"` : '',
    );
  }

  private queueFeed(url: URL, base: string): string {
    const skip = Number(url.searchParams.get('$skip') ?? 0) || 0;
    const top = Number(url.searchParams.get('$top') ?? 100) || 100;
    const all = this.options.namespace.listQueues();
    const page = all.slice(skip, skip + top);
    const host = new URL(base).host;
    const entries = page.map((queue) =>
      this.entry(
        `${base}${encodeURI(queue.name)}?api-version=2021-05`,
        queue.name,
        queueDescriptionXml(queue, `sb://${host}/`),
        queue.updatedAt,
        false,
      ),
    );
    const links = [`<link rel="self" href="${escapeXml(url.toString())}"/>`];
    if (skip + top < all.length) {
      const next = new URL(url);
      next.searchParams.set('$skip', String(skip + top));
      next.searchParams.set('$top', String(top));
      links.push(`<link rel="next" href="${escapeXml(next.toString())}"/>`);
    }
    return parent(
      'feed',
      [
        element('title', 'Queues', ' type="text"'),
        element('id', url.toString()),
        element('updated', new Date().toISOString()),
        ...links,
        ...entries,
      ],
      ` xmlns="${ATOM_NS}"`,
    );
  }

  private emptyFeed(url: URL, title: string): string {
    return parent(
      'feed',
      [
        element('title', title, ' type="text"'),
        element('id', url.toString()),
        element('updated', new Date().toISOString()),
        `<link rel="self" href="${escapeXml(url.toString())}"/>`,
      ],
      ` xmlns="${ATOM_NS}"`,
    );
  }

  private namespaceEntry(base: string): string {
    const namespace = this.options.namespace;
    const content = parent(
      'NamespaceInfo',
      [
        element('CreatedTime', namespace.createdAt.toISOString()),
        element('MessagingSKU', 'Standard'),
        element('ModifiedTime', namespace.createdAt.toISOString()),
        element('Name', namespace.name),
        element('NamespaceType', 'Messaging'),
      ],
      ' xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"',
    );
    return this.entry(
      `${base}$namespaceinfo?api-version=2021-05`,
      namespace.name,
      content,
      namespace.createdAt,
    );
  }

  private sendXml(response: ServerResponse, status: number, body: string): void {
    const bytes = Buffer.from(`<?xml version="1.0" encoding="utf-8"?>${body}`, 'utf8');
    response.writeHead(status, {
      'content-type': 'application/atom+xml;type=entry;charset=utf-8',
      'content-length': bytes.length,
    });
    response.end(bytes);
  }

  private sendError(response: ServerResponse, status: number, detail: string): void {
    const body = Buffer.from(parent('Error', [element('Code', status), element('Detail', detail)]), 'utf8');
    response.writeHead(status, {
      'content-type': 'application/xml; charset=utf-8',
      'content-length': body.length,
    });
    response.end(body);
  }
}

/** The QueueDescription of an ATOM entry request body (a topic's description is refused as such). */
export async function parseQueueDescription(
  body: string,
  namespaceName: string,
): Promise<Record<string, unknown>> {
  let parsed: Record<string, unknown>;
  try {
    parsed = (await parseXML(body, { includeRoot: true })) as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'The request body is not valid XML.');
  }
  const entry = parsed.entry as Record<string, unknown> | undefined;
  const content = entry?.content as Record<string, unknown> | undefined;
  const description = content?.QueueDescription;
  if (content?.TopicDescription !== undefined) {
    throw new HttpError(400, topicsNotEmulatedMessage('Topic', namespaceName));
  }
  if (!description || typeof description !== 'object') {
    throw new HttpError(400, 'The request body must be an ATOM entry with a QueueDescription.');
  }
  return description as Record<string, unknown>;
}
