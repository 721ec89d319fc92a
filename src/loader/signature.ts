import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { UmdError } from '../errors.js';
import { describeValue } from '../util/options.js';

/**
 * Image signatures: `umdkit pack --sign <key>` embeds a base64 ed25519 signature over the image
 * bytes; a driver that trusts given public keys refuses an image none of them signed. The
 * signature covers exactly the bytes that are written to disk and executed, and it is checked
 * on the bytes in memory before extraction and on the bytes on disk before every spawn.
 */

/** An ed25519 public key: a `KeyObject`, or its PEM text (`-----BEGIN PUBLIC KEY-----`). */
export type PublicKeyInput = KeyObject | string;

/** Length of an ed25519 signature in bytes. */
const ED25519_SIGNATURE_BYTES = 64;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Validates a list of trusted public keys at the boundary: a non-empty array of ed25519 public
 * keys (`KeyObject`s or PEM strings). Throws `TypeError` naming the entry at fault.
 *
 * @example
 * ```ts
 * const keys = trustedKeys('options.publicKeys', [readFileSync('release.pub.pem', 'utf8')]);
 * ```
 */
export function trustedKeys(path: string, value: unknown): KeyObject[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(`${path} must be a non-empty array of ed25519 public keys (KeyObject or PEM), got ${describeValue(value)}`);
  }
  return value.map((entry, index) => publicKey(`${path}[${index}]`, entry));
}

function publicKey(path: string, value: unknown): KeyObject {
  let key: KeyObject;
  if (typeof value === 'string') {
    if (!value.includes('PUBLIC KEY-----')) {
      throw new TypeError(`${path} must be an ed25519 public key in PEM form (-----BEGIN PUBLIC KEY-----), got ${value.includes('PRIVATE KEY') ? 'a private key' : 'other text'}`);
    }
    try {
      key = createPublicKey(value);
    } catch (cause) {
      throw new TypeError(`${path} is not a readable PEM public key: ${(cause as Error).message}`, { cause });
    }
  } else if (isKeyObject(value)) {
    key = value;
  } else {
    throw new TypeError(`${path} must be an ed25519 public key (KeyObject or PEM), got ${describeValue(value)}`);
  }
  if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`${path} must be an ed25519 public key, got a ${key.asymmetricKeyType ?? 'symmetric'} ${key.type} key`);
  }
  return key;
}

function isKeyObject(value: unknown): value is KeyObject {
  return typeof value === 'object' && value !== null && typeof (value as KeyObject).type === 'string' && typeof (value as KeyObject).export === 'function';
}

/**
 * True when `signatureBase64` is a valid ed25519 signature of exactly `bytes` by any of
 * `publicKeys`. A malformed signature (not base64, not 64 bytes) is false, never a throw; a
 * malformed key list throws `TypeError` (that is the caller's configuration, not the image).
 *
 * @example
 * ```ts
 * verifySignature(image.bytes, image.signature ?? '', [releaseKeyPem]); // true or false
 * ```
 */
export function verifySignature(bytes: Uint8Array, signatureBase64: string, publicKeys: readonly PublicKeyInput[]): boolean {
  const keys = trustedKeys('publicKeys', publicKeys);
  const signature = decodeSignature(signatureBase64);
  if (signature === undefined) return false;
  return keys.some((key) => {
    try {
      return verify(null, bytes, key, signature);
    } catch {
      return false;
    }
  });
}

function decodeSignature(text: string): Buffer | undefined {
  if (typeof text !== 'string' || !BASE64.test(text)) return undefined;
  const signature = Buffer.from(text, 'base64');
  return signature.length === ED25519_SIGNATURE_BYTES ? signature : undefined;
}

/**
 * Throws `INTEGRITY` unless `signature` is a valid signature of `bytes` by one of `keys`
 * (already validated by {@link trustedKeys}). `where` says which copy was checked.
 *
 * @example
 * ```ts
 * requireSignature('parser', image.bytes, image.signature, keys, 'embedded image');
 * ```
 */
export function requireSignature(driver: string, bytes: Uint8Array, signature: string | undefined, keys: readonly KeyObject[], where: string): void {
  const trusted = `${keys.length} trusted key${keys.length === 1 ? '' : 's'}`;
  if (signature === undefined) {
    throw new UmdError('INTEGRITY', `${where} of driver "${driver}" is unsigned but a signature is required (${trusted})`, {
      driver,
      reason: 'unsigned',
    });
  }
  if (!verifySignature(bytes, signature, keys)) {
    throw new UmdError('INTEGRITY', `${where} of driver "${driver}": signature does not verify with any of ${trusted}`, {
      driver,
      reason: 'bad-signature',
    });
  }
}
