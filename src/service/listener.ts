import { chmod, lstat, mkdtemp, rename, rm, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { checkSocketPath } from './socket-path.js';

/**
 * The service's Unix socket, bound without a window in which another user could connect: it is
 * bound inside a fresh private directory (0700), narrowed to 0600 there, and only then renamed to
 * its path (rename is atomic). A socket file left by a dead service is replaced; a live one is not.
 */

/**
 * A listening socket and how to close it.
 *
 * @example
 * ```ts
 * const listener = await listenOnSocket('/run/user/1000/umdkit/umdkit.sock', (socket) => serve(socket));
 * await listener.close(); // stops accepting and removes the socket file
 * ```
 */
export interface SocketListener {
  readonly path: string;
  readonly server: Server;
  /** Stops accepting connections and removes the socket file (if it is still ours). Idempotent. */
  close(): Promise<void>;
}

/**
 * Binds `path` (mode 0600) and calls `onConnection` for each client. Rejects when the path is too
 * long, is something other than a socket, or another service answers on it.
 *
 * @example
 * ```ts
 * const listener = await listenOnSocket(path, (socket) => new ClientConnection(socket, ...), { maxConnections: 64 });
 * ```
 */
export async function listenOnSocket(path: string, onConnection: (socket: Socket) => void, options: { maxConnections?: number; backlog?: number } = {}): Promise<SocketListener> {
  checkSocketPath(path);
  await refuseLivePath(path);
  // Half-open: a client that ends its side mid-frame can still be told why it is disconnected.
  const server = createServer({ allowHalfOpen: true }, onConnection);
  if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
  // Short on purpose: the bound path must fit sun_path too.
  const privateDir = await mkdtemp(join(dirname(path), '.umdkit-'));
  let identity: { dev: number; ino: number };
  try {
    const bound = join(privateDir, 's');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The kernel queues at most `backlog` connections not yet accepted (capped by somaxconn).
      server.listen({ path: bound, ...(options.backlog === undefined ? {} : { backlog: options.backlog }) }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(bound, 0o600);
    await rename(bound, path);
    const info = await lstat(path);
    identity = { dev: info.dev, ino: info.ino };
  } catch (err) {
    await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    throw err;
  } finally {
    await rm(privateDir, { recursive: true, force: true });
  }
  let closing: Promise<void> | undefined;
  return {
    path,
    server,
    close: () => {
      closing ??= (async () => {
        // The callback of close() waits for every connection to end; the caller ends them.
        if (server.listening) server.close();
        await removeIfOurs(path, identity);
      })();
      return closing;
    },
  };
}

/**
 * Throws if something other than a stale socket sits at `path`: a live service (a probe connects),
 * or a file that is not a socket. Checked again when binding; called early so that a taken path
 * fails a start before any handler runs.
 *
 * @example
 * ```ts
 * await refuseLivePath('/run/user/1000/umdkit/umdkit.sock'); // throws "another service is listening on ..."
 * ```
 */
export async function refuseLivePath(path: string): Promise<void> {
  let info;
  try {
    info = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!info.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`another service is listening on ${path} (stop it, or pass another --socket)`);
  // A socket nobody listens on: a service died without removing it. The rename replaces it.
}

/** Unlinks `path` only if it is still the socket we bound (a newer service may have replaced it). */
async function removeIfOurs(path: string, identity: { dev: number; ino: number }): Promise<void> {
  try {
    const info = await lstat(path);
    if (info.dev === identity.dev && info.ino === identity.ino) await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
