import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LaunchPlan } from '../loader/launch-plan.js';
import type { Manager } from '../manager/manager.js';
import type { ManagerEvent } from '../manager/events.js';
import type { LaunchTarget } from '../manager/options.js';
import type { FaultName, FaultParams } from './catalogue.js';
import { identify, type ProcessIdentity } from './processes.js';
import { SHIM_SOURCE } from './shim-source.js';

/**
 * The parent side of fault injection: a private directory holding the shim and its control
 * socket, the launch wrapper that puts a shim in front of every handler, and the registry of
 * live shims (by the pid the manager knows) and of every pid they started.
 */

/** Heap of a shim in MiB: small, so the `heap` fault exhausts it in a fraction of a second. */
const SHIM_HEAP_MB = 32;
/** How long to wait for a shim to confirm a command before calling it undelivered. */
const ACK_TIMEOUT_MS = 2000;

/**
 * One live shim: the process the manager spawned, and the real handler it runs.
 *
 * @example
 * ```ts
 * const shim: ShimRecord | undefined = lab.shim(pid);
 * if (shim?.childPid) process.kill(shim.childPid, 'SIGSEGV');
 * ```
 */
export interface ShimRecord {
  /** The shim's pid: what the manager spawned, reports in events and snapshots. */
  pid: number;
  /** The real handler's pid (the shim's child), once started. */
  childPid: number | undefined;
  driver: string;
  instance: string;
  generation: number;
}

interface Connection extends ShimRecord {
  socket: Socket;
}

/**
 * The fault-injection control plane of one manager.
 *
 * @example
 * ```ts
 * const lab = FaultLab.open();
 * const manager = await createManager({ ...options, launchWrapper: lab.wrapLaunch, onEvent: (e) => lab.observe(e) });
 * await lab.command(pid, 'exit', { code: 3 });
 * lab.close();
 * ```
 */
export class FaultLab {
  /** Every process the manager spawned (the shims), as seen when it was reported. */
  readonly spawned: ProcessIdentity[] = [];
  /** Every real handler a shim reported starting. */
  readonly children: ProcessIdentity[] = [];
  /** Private directory of the latest launch of each driver (its extraction directory). */
  readonly dirs = new Map<string, string>();
  private readonly live = new Map<number, Connection>();
  private readonly startArms = new Map<string, Array<{ fault: FaultName; params: FaultParams }>>();
  private readonly acks = new Map<number, () => void>();
  private readonly sockets = new Set<Socket>();
  private seq = 0;
  private closed = false;

  private constructor(readonly dir: string, readonly socketPath: string, readonly shimFile: string, private readonly server: Server) {}

  /**
   * Creates the private directory (mode 0700), writes the shim, and listens on the control socket.
   *
   * @example
   * ```ts
   * const lab = await FaultLab.open();
   * ```
   */
  static async open(): Promise<FaultLab> {
    const dir = mkdtempSync(join(tmpdir(), 'umdkit-faults-'));
    const shimFile = join(dir, 'shim.mjs');
    const socketPath = join(dir, 'control.sock');
    try {
      writeFileSync(shimFile, SHIM_SOURCE, { mode: 0o600 });
      const server = createServer();
      const lab = new FaultLab(dir, socketPath, shimFile, server);
      server.on('connection', (socket) => lab.accept(socket));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => resolve());
      });
      server.unref();
      // A manager whose stop() failed never says `stopped`: the directory still goes at exit.
      process.once('exit', lab.closeAtExit);
      return lab;
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The manager's launch wrapper: the shim runs first, the (sandboxed) handler as its child. */
  readonly wrapLaunch = (plan: LaunchPlan, target: LaunchTarget): LaunchPlan => {
    this.dirs.set(target.driver, plan.cwd);
    return {
      command: process.execPath,
      args: [
        `--max-old-space-size=${SHIM_HEAP_MB}`,
        this.shimFile,
        this.socketPath,
        target.driver,
        target.instance,
        String(target.generation),
        plan.argv0,
        plan.command,
        ...plan.args,
      ],
      env: plan.env,
      cwd: plan.cwd,
      argv0: plan.argv0,
    };
  };

  /** Feed it the manager's events: it records every spawned pid, and closes itself on `stopped`. */
  observe(event: ManagerEvent): void {
    if (event.type === 'spawn') this.spawned.push(identify(event.pid) ?? { pid: event.pid, start: -1 });
    else if (event.type === 'stopped') this.close();
  }

  /** The live shim whose pid (as the manager knows it) is `pid`. */
  shim(pid: number): ShimRecord | undefined {
    const c = this.live.get(pid);
    return c === undefined ? undefined : { pid: c.pid, childPid: c.childPid, driver: c.driver, instance: c.instance, generation: c.generation };
  }

  /** Makes the next start of `driver` misbehave from its first frame (`noHello`). */
  armStart(driver: string, fault: FaultName, params: FaultParams = {}): void {
    const list = this.startArms.get(driver) ?? [];
    list.push({ fault, params });
    this.startArms.set(driver, list);
  }

  /** Start faults armed and not yet taken by a starting shim. */
  armedStarts(driver: string): number {
    return this.startArms.get(driver)?.length ?? 0;
  }

  /**
   * Tells the shim of `pid` to misbehave; resolves true once it confirmed, false if it could not
   * (gone, stopped, or no shim there).
   */
  command(pid: number, fault: FaultName, params: FaultParams = {}): Promise<boolean> {
    const c = this.live.get(pid);
    if (c === undefined || c.socket.destroyed) return Promise.resolve(false);
    const seq = ++this.seq;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.acks.delete(seq);
        resolve(false);
      }, ACK_TIMEOUT_MS);
      this.acks.set(seq, () => {
        clearTimeout(timer);
        resolve(true);
      });
      c.socket.write(`${JSON.stringify({ type: 'fault', seq, fault, params })}\n`);
    });
  }

  private readonly closeAtExit = (): void => this.close();

  /** Stops listening and removes the directory. Synchronous, so it is done when `stop()` resolves. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    process.removeListener('exit', this.closeAtExit);
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
    for (const resolve of this.acks.values()) resolve();
    this.acks.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.setEncoding('utf8');
    socket.on('error', () => {});
    let connection: Connection | undefined;
    let buffered = '';
    socket.on('data', (text: string) => {
      buffered += text;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let message: { type?: string; pid?: number; driver?: string; instance?: string; generation?: number; seq?: number };
        try {
          message = JSON.parse(line);
        } catch {
          continue;
        }
        if (message.type === 'attach' && typeof message.pid === 'number') {
          connection = { pid: message.pid, childPid: undefined, driver: String(message.driver), instance: String(message.instance), generation: Number(message.generation), socket };
          this.live.set(message.pid, connection);
          const arms = this.startArms.get(connection.driver) ?? [];
          this.startArms.delete(connection.driver);
          socket.write(`${JSON.stringify({ type: 'arm', faults: arms })}\n`);
        } else if (message.type === 'child' && typeof message.pid === 'number' && connection !== undefined) {
          connection.childPid = message.pid;
          this.children.push(identify(message.pid) ?? { pid: message.pid, start: -1 });
        } else if (message.type === 'ack' && typeof message.seq === 'number') {
          this.acks.get(message.seq)?.();
          this.acks.delete(message.seq);
        }
      }
    });
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (connection !== undefined && this.live.get(connection.pid) === connection) this.live.delete(connection.pid);
    });
  }
}

const labs = new WeakMap<Manager, FaultLab>();

/**
 * Remembers the lab of a manager made by `faults.createManager`.
 *
 * @example
 * ```ts
 * registerLab(manager, lab);
 * ```
 */
export function registerLab(manager: Manager, lab: FaultLab): void {
  labs.set(manager, lab);
}

/**
 * The lab of `manager`, when it was made by `faults.createManager`.
 *
 * @example
 * ```ts
 * const shim = labOf(manager)?.shim(pid);
 * ```
 */
export function labOf(manager: Manager): FaultLab | undefined {
  return labs.get(manager);
}
