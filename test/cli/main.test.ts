/**
 * The `umdkit` entry point as a shell sees it: what goes to stdout, what to stderr, the exit code.
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('umdkit', () => {
  let stdout = '';
  let stderr = '';
  beforeEach(() => {
    stdout = '';
    stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('--version prints the package version and exits 0', async () => {
    expect(await main(['--version'])).toBe(0);
    expect([stdout, stderr]).toEqual([`umdkit ${VERSION}\n`, '']);
  });

  // Regression: a bare `umdkit` printed the usage and exited 0, so a script that forgot its command "succeeded".
  it('bare, prints the usage on stderr and exits 2', async () => {
    expect(await main([])).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^usage: umdkit <command>/);
  });

  it('--help prints the usage with the exit-code table on stdout and exits 0', async () => {
    expect(await main(['--help'])).toBe(0);
    expect(stdout).toContain('exit codes (every command): 0 done, 1 failed, 2 bad command line, 70 the tree gave up,\n78 bad config');
    expect(stderr).toBe('');
  });

  it('an unknown command is one line pointing at --help, exit 2', async () => {
    expect(await main(['frobnicate'])).toBe(2);
    expect([stdout, stderr]).toEqual(['', 'umdkit: unknown command "frobnicate" (see umdkit --help)\n']);
  });

  it("a usage error of a command is one line pointing at that command's --help, exit 2", async () => {
    expect(await main(['status', '--bogus'])).toBe(2);
    expect([stdout, stderr]).toEqual(['', "umdkit status: Unknown option '--bogus' (see umdkit status --help)\n"]);
  });
});
