// Image signatures: a driver that trusts given ed25519 public keys refuses an image none of them
// signed — at load (nothing written) and before every spawn (the bytes on disk).
import { generateKeyPairSync, sign } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packCommand } from '../../src/cli/pack.js';
import { UmdError } from '../../src/errors.js';
import { loadImage } from '../../src/loader/extract.js';
import { sha256Hex, type Image } from '../../src/loader/image.js';
import { pack } from '../../src/loader/pack.js';
import { spawnHandler } from '../../src/loader/spawn.js';
import { sandboxSettings, verifySignature } from '../../src/sandbox/index.js';
import { converse, fixtureImage, HANDLERS, spawnOptions, useCleanSlate } from '../fixtures/harness.js';

const A = generateKeyPairSync('ed25519');
const B = generateKeyPairSync('ed25519');
const pem = (key: typeof A.publicKey) => key.export({ type: key.type === 'public' ? 'spki' : 'pkcs8', format: 'pem' }) as string;

function signed(image: Image, key = A.privateKey): Image {
  return { ...image, signature: sign(null, image.bytes, key).toString('base64') };
}

async function rejection(promise: Promise<unknown>): Promise<UmdError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(UmdError);
    return err as UmdError;
  }
  throw new Error('expected a rejection');
}

describe('image signatures', () => {
  const slate = useCleanSlate();

  it('signed with key A, A required: loads, verifies on disk, runs', async () => {
    const image = signed(await fixtureImage('echo'));
    const loaded = await loadImage('echo', image, { root: slate.root, publicKeys: [pem(A.publicKey)] });
    await loaded.verify();
    const handler = slate.track(await spawnHandler(loaded, spawnOptions('echo')));
    const talk = converse(handler);
    talk.request(1, undefined, 'signed');
    expect(await talk.response(1)).toMatchObject({ ok: true });
    handler.endInput();
    await handler.exited;
    await loaded.unload();
  });

  it('any one of several trusted keys is enough (KeyObjects or PEM)', async () => {
    const loaded = await loadImage('echo', signed(await fixtureImage('echo')), { root: slate.root, publicKeys: [B.publicKey, pem(A.publicKey)] });
    await loaded.verify();
    await loaded.unload();
  });

  it('signed with A, only B trusted: INTEGRITY at load, nothing written', async () => {
    const error = await rejection(loadImage('echo', signed(await fixtureImage('echo')), { root: slate.root, publicKeys: [B.publicKey] }));
    expect(error.code).toBe('INTEGRITY');
    expect(error.message).toMatch(/signature does not verify with any of 1 trusted key/);
    expect(await readdir(slate.root)).toEqual([]);
  });

  it('a valid signature over other bytes: INTEGRITY', async () => {
    const original = await fixtureImage('echo');
    const other = new Uint8Array([...original.bytes, 0x0a]);
    // Digest and bytes agree; the signature is A's, but over the original bytes.
    const image: Image = { kind: 'node', bytes: other, sha256: sha256Hex(other), signature: signed(original).signature! };
    const error = await rejection(loadImage('echo', image, { root: slate.root, publicKeys: [A.publicKey] }));
    expect(error.code).toBe('INTEGRITY');
    expect(error.message).toMatch(/signature does not verify/);
  });

  it('a byte tampered on disk after extraction: verify and spawn refuse with INTEGRITY, nothing started', async () => {
    const loaded = await loadImage('echo', signed(await fixtureImage('echo')), { root: slate.root, publicKeys: [A.publicKey] });
    const bytes = await readFile(loaded.file);
    bytes[bytes.length - 1]! ^= 0x01;
    await chmod(loaded.file, 0o700);
    await writeFile(loaded.file, bytes);
    expect((await rejection(loaded.verify())).code).toBe('INTEGRITY');
    expect((await rejection(spawnHandler(loaded, spawnOptions('echo')))).code).toBe('INTEGRITY');
    await loaded.unload();
  });

  it('unsigned while a key is required: INTEGRITY', async () => {
    const error = await rejection(loadImage('echo', await fixtureImage('echo'), { root: slate.root, publicKeys: [A.publicKey] }));
    expect(error.code).toBe('INTEGRITY');
    expect(error.message).toMatch(/is unsigned but a signature is required \(1 trusted key\)/);
    expect(error.details.reason).toBe('unsigned');
  });

  it('bad key lists are refused at the boundary, naming the entry', async () => {
    const image = signed(await fixtureImage('echo'));
    await expect(loadImage('echo', image, { root: slate.root, publicKeys: [] })).rejects.toThrow(/options\.publicKeys must be a non-empty array/);
    await expect(loadImage('echo', image, { root: slate.root, publicKeys: [pem(A.privateKey)] })).rejects.toThrow(/options\.publicKeys\[0\] .*got a private key/);
  });

  it('verifySignature: true only for these bytes and a trusted key; malformed signatures are false', async () => {
    const bytes = new TextEncoder().encode('the exact bytes executed');
    const good = sign(null, bytes, A.privateKey).toString('base64');
    expect(verifySignature(bytes, good, [A.publicKey])).toBe(true);
    expect(verifySignature(bytes, good, [pem(B.publicKey), pem(A.publicKey)])).toBe(true);
    expect(verifySignature(bytes, good, [B.publicKey])).toBe(false);
    expect(verifySignature(new TextEncoder().encode('other bytes'), good, [A.publicKey])).toBe(false);
    expect(verifySignature(bytes, 'not base64!', [A.publicKey])).toBe(false);
    expect(verifySignature(bytes, good.slice(8), [A.publicKey])).toBe(false);
  });

  it('the driver-level setting carries the keys to the loader', async () => {
    const settings = sandboxSettings({ level: 'standard', publicKeys: [pem(A.publicKey)] });
    const loaded = await loadImage('echo', signed(await fixtureImage('echo')), { root: slate.root, publicKeys: settings.publicKeys });
    await loaded.verify();
    await loaded.unload();
    await expect(loadImage('echo', await fixtureImage('echo'), { root: slate.root, publicKeys: settings.publicKeys })).rejects.toMatchObject({ code: 'INTEGRITY' });
  });

  it('pack({ sign }) and `umdkit pack --sign <key.pem>` embed a signature the public key verifies', async () => {
    const packed = await pack({ entry: join(HANDLERS, 'echo.ts'), name: 'echo', sign: pem(A.privateKey) });
    expect(verifySignature(packed.bytes, packed.image.signature!, [A.publicKey])).toBe(true);

    const work = slate.trackPath(await mkdtemp(join(slate.root, '..', 'umdkit-sign-')));
    const keyFile = join(work, 'release.key.pem');
    await writeFile(keyFile, pem(A.privateKey), { mode: 0o600 });
    const out = join(work, 'echo.driver.mjs');
    const said: string[] = [];
    const io = { out: (t: string) => said.push(t), err: (t: string) => said.push(t) };
    expect(await packCommand([join(HANDLERS, 'echo.ts'), '--name', 'echo', '--out', out, '--sign', keyFile], io)).toBe(0);
    expect(said.join('')).toMatch(/signed \(ed25519\)/);
    const driver = (await import(out)) as { image: Image };
    expect(driver.image.signature).toBe(packed.image.signature); // same bytes, same key: same ed25519 signature
    expect(await packCommand([join(HANDLERS, 'echo.ts'), '--name', 'echo', '--out', out, '--sign', join(work, 'missing.pem')], io)).toBe(1);
    expect(said.join('')).toMatch(/cannot read the signing key/);
    await rm(work, { recursive: true });
  });
});
