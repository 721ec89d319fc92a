import { spawn } from 'node:child_process';

/**
 * The environment umdkit gives a handler (PATH, LANG, LC_ALL, TZ), used for the bare start too:
 * an inherited NODE_EXTRA_CA_CERTS alone adds ~30 ms to every Node start on this machine, and the
 * comparison is about starting a process, not about what the parent's environment asks Node to load.
 */
const HANDLER_ENV = Object.fromEntries(['PATH', 'LANG', 'LC_ALL', 'TZ'].filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));

/**
 * Milliseconds from `spawn()` to the first byte on the child's stdout (its hello), then ends it.
 * The floor a restart is compared with: what starting a Node process costs with no framework.
 *
 * @example
 * const ms = await spawnToHello([new URL('../children/hello.mjs', import.meta.url).pathname]);
 */
export async function spawnToHello(args, options = {}) {
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'], env: HANDLER_ENV, ...options });
  const exited = new Promise((resolve) => child.once('close', resolve));
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code} before its hello`)));
  });
  const ms = performance.now() - started;
  child.stdin.end();
  await exited;
  return ms;
}

/**
 * The framework-free twin of "crash -> next answer, cold": a bare Node process is told to die
 * (one byte on stdin, it exits), its exit is awaited, then a fresh empty script is spawned to its
 * hello. `deathMs` is the part up to the exit, which a spawn alone never pays.
 *
 * @example
 * const { ms, deathMs } = await bareCrashThenSpawn(crashScript, emptyScript);
 */
export async function bareCrashThenSpawn(crashScript, emptyScript) {
  const child = spawn(process.execPath, [crashScript], { stdio: ['pipe', 'pipe', 'inherit'], env: HANDLER_ENV });
  const closed = new Promise((resolve) => child.once('close', resolve));
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('error', reject);
  });
  child.stdout.resume();
  const started = performance.now();
  child.stdin.write('x');
  await closed;
  const deathMs = performance.now() - started;
  const helloMs = await spawnToHello([emptyScript]);
  return { ms: deathMs + helloMs, deathMs };
}
