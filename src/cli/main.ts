import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT } from './command-line.js';

/**
 * The `umdkit` command line. Each command lives in its own module; this file only dispatches.
 */

const USAGE = `usage: umdkit <command> [options]

commands:
  pack <entry> --name <n> --out <file.mjs>   bundle a handler into a driver module
  demo [--handler node|c] [--iterations N] [--reload-every N] [--crashes N]
                                             the sample UMD, live (what npm start runs)
  run [config] [--socket p] [--log json]     run a tree from a config module as a service
  call <driver> <json|@file> [--method m]    send one request to a running service
  status [--socket p]                        print the tree of a running service
  viz [--format mermaid|dot|json|svg] [--machine m] [--live <config>]
                                             draw the lifecycle machines, or a running tree
  top [config] [--interval ms] [--count n]   live view of a running tree (plain lines in a pipe; q quits)
  dashboard [config] [--port n]              live web page of a running tree on 127.0.0.1
  chaos --driver <module> [--method m] [--payload json|@file|generator] [--requests N]
        [--concurrency C] [--faults kill:0.01,...] [--seed S] [--json]
                                             load plus seeded faults, then check nothing was lost or leaked
  help, --help, -h                           this text; <command> --help: that command's options
  --version                                  the version of umdkit

exit codes (every command): 0 done, 1 failed, 2 bad command line, 70 the tree gave up,
78 bad config (a config or driver module that does not load); run: 128 + n when signal n forced it.
`;

/**
 * Runs the CLI with `argv` (without node and the script) and returns the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await main(['demo']);
 * ```
 */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
      // No command is a usage error: the usage on stderr, so a script that forgot it sees exit 2.
      process.stderr.write(USAGE);
      return EXIT.USAGE;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return EXIT.OK;
    case '--version':
    case '-V':
      process.stdout.write(`umdkit ${version()}\n`);
      return EXIT.OK;
    case 'pack':
      return (await import('./pack.js')).packCommand(rest);
    case 'run':
      return (await import('./run.js')).runCommand(rest);
    case 'call':
      return (await import('./call.js')).callCommand(rest);
    case 'status':
      return (await import('./status.js')).statusCommand(rest);
    case 'viz':
      return (await import('./viz.js')).vizCommand(rest);
    case 'top':
      return (await import('./top.js')).topCommand(rest);
    case 'dashboard':
      return (await import('./dashboard.js')).dashboardCommand(rest);
    case 'demo':
      return (await import('./demo.js')).demoCommand(rest);
    case 'chaos':
      return (await import('./chaos.js')).chaosCommand(rest);
    default:
      process.stderr.write(`umdkit: unknown command ${JSON.stringify(command)} (see umdkit --help)\n`);
      return EXIT.USAGE;
  }
}

/** The version in umdkit's package.json: the nearest one above this file (src/cli or dist/src/cli). */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'umdkit' && typeof manifest.version === 'string') return manifest.version;
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}
