/**
 * The AMQPS listener (Azure: port 5671): what the SDK connects to when the connection string has no
 * `UseDevelopmentEmulator=true`, or when it is built from a host name and a credential. TLS with the
 * local CA's certificate, then SASL ANONYMOUS and `$cbs`, as on the plain port.
 *
 * The same port also serves the management API: `ServiceBusAdministrationClient` calls
 * `https://<Endpoint's host:port>`, so one connection string with the AMQPS port reaches both clients.
 * Both protocols start with the client speaking, so the first bytes inside TLS tell them apart: an
 * AMQP protocol header starts with `AMQP`, anything else is HTTP.
 */
import type { AddressInfo, Socket } from 'node:net';
import tls from 'node:tls';
import { listenOn } from '../../process/ports.js';

const AMQP_HEADER = Buffer.from('AMQP', 'ascii');

export interface AmqpsServerOptions {
  host: string;
  port: number;
  certPem: string;
  keyPem: string;
  /** Runs AMQP on the decrypted socket (AmqpServer.serve). */
  serveAmqp(socket: Socket): void;
  /** Serves HTTP on the decrypted socket (ManagementServer.acceptDecrypted). */
  serveHttp(socket: Socket): void;
}

export class AmqpsServer {
  private readonly server: tls.Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: AmqpsServerOptions) {
    this.server = tls.createServer({ cert: options.certPem, key: options.keyPem }, (socket) =>
      this.accept(socket),
    );
    // A client that does not trust the CA aborts the handshake: its own error, nothing to log here.
    this.server.on('tlsClientError', () => undefined);
  }

  listen(): Promise<number> {
    return listenOn(this.server, this.options.port, this.options.host);
  }

  private accept(socket: tls.TLSSocket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    const sniff = (first: Buffer) => {
      // An HTTP request line is longer than four bytes; a shorter first read must be AMQP's header start.
      const isAmqp = first.subarray(0, AMQP_HEADER.length).equals(AMQP_HEADER.subarray(0, first.length));
      socket.pause();
      socket.unshift(first);
      if (isAmqp) this.options.serveAmqp(socket);
      else this.options.serveHttp(socket);
      socket.resume();
    };
    socket.once('data', sniff);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Fault injection, as AmqpServer.interrupt: drop every connection, refuse new ones until resume(). */
  async interrupt(): Promise<{ resume(): Promise<void> }> {
    const port = (this.server.address() as AddressInfo).port;
    await this.close();
    return { resume: async () => void (await listenOn(this.server, port, this.options.host)) };
  }
}
