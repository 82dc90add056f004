/**
 * Requests that Node's HTTP parser refuses never reach a route. Node's own answer is a bare status
 * line, and it destroys the socket at once: when the client is still sending (headers over the limit),
 * the unread bytes make the kernel reset the connection, and the client may see the reset instead of
 * the answer. Here each gets a problem, and the connection closes gracefully:
 * - request line and header fields together over `maxHeaderBytes` (HPE_HEADER_OVERFLOW): 431
 *   RequestHeadersTooLarge. Node counts the request line in the same limit, so a request line that
 *   alone is too long gets 431 too;
 * - headers not complete within the server's headersTimeout, or the whole request within its
 *   requestTimeout (ERR_HTTP_REQUEST_TIMEOUT): 408 RequestTimeout;
 * - anything else the parser refuses (bad method, version, header name, chunk encoding): 400
 *   InvalidRequest, naming the parser's reason.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { InvalidRequestError, ProblemError } from '../../shared/errors/index.js';
import { rawProblemResponse } from './problems.js';

/** How long, and how many bytes, the host keeps reading what a refused client still sends. */
const LINGER_MS = 2000;
const LINGER_BYTES = 1024 * 1024;

function problemFor(
  error: NodeJS.ErrnoException,
  server: http.Server,
  maxHeaderBytes: number,
): ProblemError | undefined {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return new ProblemError(
      'RequestHeadersTooLarge',
      `The request line and header fields together are larger than ${maxHeaderBytes} bytes.`,
    );
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new ProblemError(
      'RequestTimeout',
      `The request did not arrive in time (its headers within ${server.headersTimeout / 1000} s, ` +
        `all of it within ${server.requestTimeout / 1000} s).`,
    );
  }
  if (error.code?.startsWith('HPE_')) {
    const reason = (error as { reason?: unknown }).reason;
    return new InvalidRequestError(
      `The request is not valid HTTP/1.1: ${typeof reason === 'string' ? reason : error.message} (${error.code}).`,
    );
  }
  return undefined; // the connection itself failed (reset, broken pipe): nobody to answer
}

/**
 * Writes the answer, half-closes, then reads and drops what the client still sends until it closes
 * its side, or for at most LINGER_MS / LINGER_BYTES, so that the close is not a reset.
 */
function answerAndLinger(socket: Duplex, answer: Buffer): void {
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  let drained = 0;
  socket.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > LINGER_BYTES) socket.destroy();
  });
  socket.once('end', () => socket.destroy());
  socket.once('close', () => clearTimeout(timer));
  socket.end(answer);
  socket.resume();
}

export function answerClientErrors(server: http.Server, maxHeaderBytes: number): void {
  // Node reports the same parse error again for each later chunk of a socket already answered.
  const answered = new WeakSet<Duplex>();
  // A response already under way on the socket cannot be followed by another one.
  const responding = new WeakMap<Duplex, http.ServerResponse>();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    responding.set(req.socket, res);
    res.once('close', () => {
      if (responding.get(req.socket) === res) responding.delete(req.socket);
    });
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (answered.has(socket)) return;
    answered.add(socket);
    const problem = problemFor(error, server, maxHeaderBytes);
    if (!problem || !socket.writable || responding.get(socket)?.headersSent) {
      socket.destroy();
      return;
    }
    answerAndLinger(socket, rawProblemResponse(problem));
  });
}
