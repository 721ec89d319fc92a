/**
 * `umdkit pack` as a user meets its errors: a bad --name is a usage error, messages name the
 * options as typed, a bad key file says which file and what was expected, and an entry that never
 * calls serve() is caught at pack time and again, in plain words, at start.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packCommand } from '../../src/cli/pack.js';
import { pack } from '../../src/loader/pack.js';
import { defineDriver } from '../../src/manager/driver.js';
import { HANDLERS } from '../fixtures/harness.js';
import { failure, useManagers } from '../manager/harness.js';

const ECHO = join(HANDLERS, 'echo.ts');

function capture() {
  let out = '';
  let err = '';
  return { io: { out: (t: string) => void (out += t), err: (t: string) => void (err += t) }, out: () => out, err: () => err };
}

describe('umdkit pack: errors in command-line terms', () => {
  let work = '';
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'umdkit-pack-cli-'));
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  // Regression: a bad --name exited 1 with "options.name must be ..." (the library's words).
  it('a bad --name is a usage error (exit 2) that says --name', async () => {
    const c = capture();
    expect(await packCommand([ECHO, '--name', '../evil', '--out', join(work, 'x.mjs')], c.io)).toBe(2);
    expect(c.err()).toBe('umdkit pack: --name must be a name of 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit, got "../evil" (see umdkit pack --help)\n');
    expect(c.out()).toBe('');
  });

  it('a failure from the library names the option as typed: --binary, not options.binary', async () => {
    const c = capture();
    await writeFile(join(work, 'empty'), '');
    expect(await packCommand(['--kind', 'exec', '--binary', join(work, 'empty'), '--name', 'x', '--out', join(work, 'x.mjs')], c.io)).toBe(1);
    expect(c.err()).toBe(`umdkit pack: --binary must not be empty, got ${JSON.stringify(join(work, 'empty'))} of 0 bytes\n`);
    expect(c.err()).not.toContain('options.');
  });

  // Regression: a bad key printed OpenSSL's "error:1E08010C:DECODER routines::unsupported".
  it.each([
    ['not a key at all\n', 'it holds no PEM block'],
    [generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string, 'it holds a public key'],
    [generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string, 'it is encrypted with a passphrase'],
    [generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'it holds an rsa private key'],
  ])('a --sign key file that is not an ed25519 private key names the file, what was expected and what it holds (%#)', async (text, found) => {
    const keyFile = join(work, 'release.key.pem');
    await writeFile(keyFile, text);
    const c = capture();
    expect(await packCommand([ECHO, '--name', 'echo', '--out', join(work, 'echo.mjs'), '--sign', keyFile], c.io)).toBe(1);
    expect(c.err()).toBe(`umdkit pack: the signing key ${keyFile} is not usable: expected an ed25519 private key in PEM form ("-----BEGIN PRIVATE KEY-----", as \`openssl genpkey -algorithm ed25519\` writes); ${found}\n`);
    expect(c.err()).not.toMatch(/DECODER|error:[0-9A-F]{8}/);
  });

  it('pack({ sign }) with text that is no key says what options.sign must be, not OpenSSL\'s code', async () => {
    await expect(pack({ entry: ECHO, name: 'echo', sign: 'garbage' })).rejects.toThrow(
      /^options\.sign must be an ed25519 private key \(a KeyObject, or PEM text "-----BEGIN PRIVATE KEY-----\.\.\."\), got text that does not parse as a private key$/);
  });
});

describe('a handler entry that never calls serve()', () => {
  const env = useManagers();
  let work = '';
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'umdkit-noserve-'));
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  // Regression: it packed silently, then the start failed with "FRAME_TOO_LARGE: length prefix 1852776563".
  it('is packed with a warning, and its start says it wrote text to stdout before hello, quoting it', async () => {
    const entry = join(work, 'forgot.ts');
    await writeFile(entry, "console.log('nothing to see here');\nsetInterval(() => {}, 1000);\n");
    const c = capture();
    expect(await packCommand([entry, '--name', 'forgot', '--out', join(work, 'forgot.mjs')], c.io)).toBe(0);
    expect(c.err()).toBe(`umdkit pack: warning: the handler entry ${entry} never calls serve() from 'umdkit/handler': its process will not say hello, and what it prints goes to stdout, where the manager reads frames (the start will fail)\n`);
    expect(c.out()).toMatch(/^wrote .*forgot\.mjs: driver "forgot"/);

    const packed = await pack({ entry, name: 'forgot' });
    expect(packed.warnings).toHaveLength(1);
    const err = await failure(env.start({ children: [defineDriver({ name: 'forgot', image: packed.image, startTimeoutMs: 5000 })], startIntensity: { maxRestarts: 0, periodMs: 1000 } }));
    expect(err.message).toContain('wrote text to stdout before hello: "nothing to see here"');
    expect(err.message).toContain("must call serve() from 'umdkit/handler'");
    expect(err.message).not.toContain('length prefix');
  });

  it('an entry that does call serve() packs without a warning', async () => {
    expect((await pack({ entry: ECHO, name: 'echo' })).warnings).toEqual([]);
  });
});
