/** The fault proxy the resilience tests rely on: a freeze holds bytes, a stop refuses, resume undoes both. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { listenOn } from '../../../local/process/ports.js';
import { startFaultProxy } from '../../support/fault-proxy.js';

async function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  const port = await listenOn(server, 0, '127.0.0.1');
  return {
    port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function connect(port: number): Promise<Socket> {
  const socket = createConnection({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  // The stop resets connections on purpose: ECONNRESET is expected, and 'close' follows it.
  socket.on('error', () => undefined);
  return socket;
}

function nextData(socket: Socket): Promise<string> {
  return once(socket, 'data').then(([chunk]) => String(chunk));
}

test('freeze holds every byte until resume; stop resets and refuses until resume', async () => {
  const echo = await echoServer();
  const proxy = await startFaultProxy({ port: echo.port });
  try {
    const socket = await connect(proxy.port);
    socket.write('one');
    assert.equal(await nextData(socket), 'one');

    proxy.freeze();
    assert.equal(proxy.state, 'frozen');
    let held = '';
    socket.on('data', (chunk) => (held += String(chunk)));
    socket.write('two');
    // A connection opened while frozen is accepted but not served either.
    const late = await connect(proxy.port);
    late.write('late');
    let lateHeld = '';
    late.on('data', (chunk) => (lateHeld += String(chunk)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(held, '');
    assert.equal(lateHeld, '');

    await proxy.resume();
    await new Promise<void>((resolve) => {
      const check = () => (held === 'two' && lateHeld === 'late' ? resolve() : setTimeout(check, 10));
      check();
    });

    await proxy.stop();
    // events.once() would reject on the expected ECONNRESET: wait for 'close' itself.
    const closed = (s: Socket) =>
      new Promise<void>((resolve) => (s.destroyed ? resolve() : s.on('close', () => resolve())));
    await Promise.all([closed(socket), closed(late)]);
    const refused = createConnection({ host: '127.0.0.1', port: proxy.port });
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED');

    await proxy.resume();
    const again = await connect(proxy.port);
    again.write('three');
    assert.equal(await nextData(again), 'three');
    again.destroy();
  } finally {
    await proxy.close();
    await echo.close();
  }
});
