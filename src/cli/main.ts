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
  top [config] [--interval ms] [--count n]   live view of a running tree (plain lines in a pipe)
  dashboard [config] [--port n]              live web page of a running tree on 127.0.0.1
  chaos --driver <module> [--requests N] [--concurrency C] [--faults kill:0.01,...] [--seed S] [--json]
                                             load plus seeded faults, then check nothing was lost or leaked
  help                                       this text
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
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
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
      process.stderr.write(`umdkit: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}
