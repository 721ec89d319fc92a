/**
 * The CLI as a real child process, built from the sources: `src/cli/main.ts` bundled by esbuild
 * once per test file into a temporary directory (removed afterwards) whose `node_modules` links to
 * this package's, so plain `node` runs it the way `bin/umdkit.js` runs the build. Tests then send
 * it real signals and read its real exit code.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** A CLI process: its output so far, and ways to wait for it. */
export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  readonly pid: number;
  /** Complete stdout lines so far. */
  readonly lines: string[];
  /** Everything written to stderr so far. */
  readonly stderr: () => string;
  /** Waits for a stdout line matching `match`. */
  line(match: (line: string) => boolean, what: string, ms?: number): Promise<string>;
  /** Resolves with the exit code (or 128 + signal number if it was killed) once its pipes closed. */
  readonly exited: Promise<number | null>;
}

/**
 * Per test file: bundles the CLI before the first test, removes the bundle after the last.
 * `start(argv, env)` runs it; `run(argv, env)` runs it to its end and returns code and output.
 */
export function useCli() {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umdkit-cli-'));
    await symlink(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir');
    await build({
      stdin: {
        contents: `import { main } from ${JSON.stringify(join(REPO, 'src/cli/main.ts'))};\nprocess.exitCode = await main(process.argv.slice(2));\n`,
        resolveDir: REPO,
        sourcefile: 'umdkit-test-cli.ts',
        loader: 'ts',
      },
      outfile: join(dir, 'umdkit.mjs'),
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'silent',
    });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const start = (argv: string[], env: Record<string, string> = {}, cwd?: string): CliProcess => {
    const child = spawn(process.execPath, [join(dir, 'umdkit.mjs'), ...argv], {
      env: { ...process.env, ...env },
      cwd: cwd ?? REPO,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let stderr = '';
    const waiters: Array<() => void> = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      for (const waiter of waiters.splice(0)) waiter();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    let done = false;
    void exited.then(() => {
      done = true;
      for (const waiter of waiters.splice(0)) waiter();
    });
    return {
      child,
      pid: child.pid!,
      lines,
      stderr: () => stderr,
      exited,
      async line(match, what, ms = 10_000) {
        const end = Date.now() + ms;
        for (;;) {
          const hit = lines.find(match);
          if (hit !== undefined) return hit;
          if (done || Date.now() > end) {
            throw new Error(`no ${what} on stdout ${done ? 'before the CLI exited' : `within ${ms} ms`}; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`);
          }
          await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), new Promise((resolve) => setTimeout(resolve, 100))]);
        }
      },
    };
  };

  return {
    start,
    /** Runs the CLI to its end. */
    async run(argv: string[], env: Record<string, string> = {}, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
      const cli = start(argv, env);
      if (input !== undefined) cli.child.stdin.end(input);
      else cli.child.stdin.end();
      const code = await cli.exited;
      return { code, stdout: cli.lines.map((l) => `${l}\n`).join(''), stderr: cli.stderr() };
    },
  };
}
