/**
 * Shared by the suites that run the CLI as a real process: a private runtime directory per test,
 * checked afterwards for leaked processes and files, and readers of what `umdkit run` printed.
 */
import { readdir, readFile, readlink, rm } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import type { TreeSnapshot } from 'umdkit';
import type { CliProcess, useCli } from './cli-child.js';
import { gone } from './harness.js';

/**
 * Per test: a private XDG_RUNTIME_DIR for the CLI (its default socket and extraction root land
 * there). After the test, every tracked pid must be gone, no process may still run from that
 * directory, and nothing may be left in it but the empty `umdkit` directory itself.
 */
export function useRuntimeDir() {
  const state = { dir: '', pids: [] as number[] };
  beforeEach(async () => {
    state.dir = await mkdtemp(join(tmpdir(), 'umdkit-xdg-'));
    state.pids = [];
  });
  afterEach(async () => {
    const leaks: string[] = [];
    for (const pid of state.pids) {
      if (!(await gone(pid, 5000))) {
        leaks.push(`pid ${pid} still running`);
        kill(pid);
      }
    }
    for (const pid of await processesUsing(state.dir)) {
      leaks.push(`pid ${pid} runs from ${state.dir}`);
      kill(pid);
    }
    const left = await listTree(state.dir);
    await rm(state.dir, { recursive: true, force: true });
    expect(leaks).toEqual([]);
    expect(left.filter((path) => path !== 'umdkit/'), 'files left behind').toEqual([]);
  });
  return {
    get dir() {
      return state.dir;
    },
    get env() {
      return { XDG_RUNTIME_DIR: state.dir };
    },
    track(pid: number | null | undefined) {
      if (typeof pid === 'number') state.pids.push(pid);
    },
  };
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}

/** Pids whose command line or working directory lies under `dir`. */
async function processesUsing(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    const cwd = await readlink(`/proc/${name}/cwd`).catch(() => '');
    if (cmdline.includes(dir) || cwd.startsWith(dir)) found.push(Number(name));
  }
  return found;
}

/** Every path under `dir`, relative, directories with a trailing slash. */
async function listTree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true }).catch(() => [])) {
    const path = join(prefix, entry.name);
    if (entry.isDirectory()) out.push(`${path}/`, ...(await listTree(dir, path)));
    else out.push(path);
  }
  return out;
}

/** The JSON log records a CLI printed (every stdout line must be one). */
export function records(run: CliProcess): Array<Record<string, unknown>> {
  return run.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

export function pidsOf(node: TreeSnapshot | NonNullable<TreeSnapshot['children']>[number]): number[] {
  return [...(node.pid === null ? [] : [node.pid]), ...(node.children ?? []).flatMap(pidsOf)];
}

/** Starts `umdkit run <config> --log json` and waits for its `started` record; tracks every pid it reports. */
export async function startRun(cli: ReturnType<typeof useCli>, runtime: ReturnType<typeof useRuntimeDir>, config: string, extra: string[] = []) {
  const run = cli.start(['run', config, '--log', 'json', ...extra], runtime.env);
  runtime.track(run.pid);
  const started = JSON.parse(await run.line((l) => l.includes('"event":"started"'), 'started record')) as { socket: string; pid: number; tree: TreeSnapshot };
  for (const pid of pidsOf(started.tree)) runtime.track(pid);
  return { run, started };
}
