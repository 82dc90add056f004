/**
 * The AMQP 1.0 listener. Plain TCP, as the SDK uses with `UseDevelopmentEmulator=true`; SASL ANONYMOUS
 * (rhea's server default). A connection whose first byte is a TLS handshake is handed to `onTls`
 * instead, so that the management API can share the connection string's endpoint. `serve` also runs
 * AMQP on a socket another listener accepted (the AMQPS listener, amqps-server.ts).
 */
import net, { type AddressInfo, type Socket } from 'node:net';
import rhea, { type Connection } from 'rhea';
import type { EntraAccess } from '../auth/entra-access.js';
import type { Namespace } from '../entities/namespace.js';
import { ConnectionHandler } from './connection-handler.js';
import { listenOn } from '../../process/ports.js';

const TLS_HANDSHAKE = 0x16;
/** An AMQP frame with no body: size 8, data offset 2, type 0 (AMQP), channel 0. */
const EMPTY_FRAME = Buffer.from([0, 0, 0, 8, 2, 0, 0, 0]);

/** The rhea connection methods the server wraps (not in rhea's typings). */
interface RheaConnectionInternals {
  accept(socket: Socket): void;
  eof(): void;
  input(buffer: Buffer): void;
  _process(): void;
}

/**
 * rhea writes each frame with its own socket.write as soon as it is encoded. Corking the socket while
 * rhea handles input and while it processes its links turns the frames of one turn into one write
 * (fewer system calls here, fewer segments for the client to read).
 */
function coalesceWrites(connection: RheaConnectionInternals, socket: Socket): void {
  const corked =
    <A extends unknown[]>(action: (...args: A) => void) =>
    (...args: A) => {
      socket.cork();
      try {
        action(...args);
      } finally {
        socket.uncork();
      }
    };
  connection.input = corked(connection.input.bind(connection));
  connection._process = corked(connection._process.bind(connection));
}

export interface AmqpServerOptions {
  host: string;
  port: number;
  namespace: Namespace;
  /** Checks Entra ID tokens on `$cbs`; undefined: only SAS tokens are accepted. */
  entra?: EntraAccess;
  /** Takes a socket that started a TLS handshake (already paused, first bytes put back). */
  onTls?: (socket: Socket) => void;
}

export class AmqpServer {
  private readonly server: net.Server;
  private readonly container = rhea.create_container({ id: 'servicebus-emulator' });
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: AmqpServerOptions) {
    // Without these listeners rhea prints, or an EventEmitter 'error' without listener throws.
    this.container.on('error', () => undefined);
    this.container.on('protocol_error', () => undefined);
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  async listen(): Promise<number> {
    return listenOn(this.server, this.options.port, this.options.host);
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE && this.options.onTls) {
        this.options.onTls(socket);
      } else {
        this.serve(socket);
      }
      socket.resume();
    });
  }

  /** Runs an AMQP connection on `socket` (plain TCP, or a TLS session already established). */
  serve(socket: Socket): void {
    const connection: Connection = this.container.create_connection({
      id: `connection-${socket.remotePort ?? 0}`,
      container_id: 'servicebus-emulator',
      // The broker settles what clients send itself (to reject oversize or unauthorised messages).
      autoaccept: false,
      treat_modified_as_released: false,
      idle_time_out: 120_000,
      max_frame_size: 65_536,
    } as never);
    new ConnectionHandler(connection, this.options.namespace, this.options.entra);
    this.avoidDelayedAcks(socket, connection);
    const internals = connection as unknown as RheaConnectionInternals;
    coalesceWrites(internals, socket);
    internals.accept(socket);
    // rhea learns of a socket's end from 'end' or 'error' only; a destroyed socket (our close, or a
    // reset without error) must still stop its heartbeat timers and release the client's links.
    socket.on('close', () => internals.eof());
  }

  /**
   * The SDK's socket keeps Nagle's algorithm on, so after each small write it waits for our ACK before
   * writing again, and our kernel delays that ACK by up to 40 ms unless we send something. Answering
   * every inbound segment that produced no reply with an empty frame carries the ACK at once.
   */
  private avoidDelayedAcks(socket: Socket, connection: Connection): void {
    socket.on('data', () => {
      const before = socket.bytesWritten;
      setImmediate(() => {
        if (socket.bytesWritten === before && !socket.destroyed && connection.is_open()) {
          socket.write(EMPTY_FRAME);
        }
      });
    });
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /**
   * Fault injection: drops every connection and stops listening, so that new connections are refused,
   * until `resume()` listens again on the same port. The namespace is untouched.
   */
  async interrupt(): Promise<{ resume(): Promise<void> }> {
    const port = (this.server.address() as AddressInfo).port;
    await this.close();
    return { resume: async () => void (await listenOn(this.server, port, this.options.host)) };
  }
}
