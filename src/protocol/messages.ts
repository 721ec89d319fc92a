import { PROTOCOL_VERSION } from './limits.js';
import {
  badMessage as bad,
  describeWireValue as describe,
  messageRecord as asRecord,
  onlyKeys,
  unsignedField,
} from './message-checks.js';

/**
 * The v1 message types and one validator per type. Both sides treat the other's frames as
 * untrusted: a decoded value becomes a typed message only through these functions.
 */

/** A payload: the JSON data model plus byte strings (and bigint for integers past 2^53). */
export type Payload = unknown;

/** Handler -> manager, first frame, exactly once. */
export interface HelloMessage { t: 'hello'; v: number; pid: number }
/** Manager -> handler: one request. `m` is the method (optional). */
export interface RequestMessage { t: 'req'; id: number; m?: string; p: Payload }
/** Handler -> manager: a successful answer. */
export interface OkResponseMessage { t: 'res'; id: number; ok: true; p: Payload }
/** Handler -> manager: a failed answer with the handler's own code and message. */
export interface ErrorResponseMessage { t: 'res'; id: number; ok: false; e: { code: string; message: string } }
/** Handler -> manager: an answer. */
export type ResponseMessage = OkResponseMessage | ErrorResponseMessage;
/** Manager -> handler: are you alive? */
export interface PingMessage { t: 'ping'; id: number }
/** Handler -> manager: yes. */
export interface PongMessage { t: 'pong'; id: number }
/** Manager -> handler: the caller gave up on request `id` (best effort). */
export interface CancelMessage { t: 'cancel'; id: number }
/** Manager -> handler: finish in-flight work, then exit 0. */
export interface ByeMessage { t: 'bye' }

/** Everything a manager may send. */
export type ManagerMessage = RequestMessage | PingMessage | CancelMessage | ByeMessage;
/** Everything a handler may send. */
export type HandlerMessage = HelloMessage | ResponseMessage | PongMessage;

export { MAX_MESSAGE_ID } from './message-checks.js';

const RES_OK_KEYS = ['t', 'id', 'ok', 'p'] as const;
const RES_ERROR_KEYS = ['t', 'id', 'ok', 'e'] as const;
const REQ_KEYS = ['t', 'id', 'm', 'p'] as const;
const ID_KEYS = ['t', 'id'] as const;

/** Validates a `hello` (the first frame from a handler). */
export function parseHello(value: unknown): HelloMessage {
  const m = asRecord(value);
  if (m.t !== 'hello') bad(`the first frame must be "hello", got t = ${describe(m.t)}`);
  onlyKeys(m, 'hello', ['t', 'v', 'pid']);
  if (m.v !== PROTOCOL_VERSION) bad(`"hello".v must be ${PROTOCOL_VERSION}, got ${describe(m.v)}`);
  if (typeof m.pid !== 'number' || !Number.isSafeInteger(m.pid) || m.pid < 1) bad(`"hello".pid must be a positive integer, got ${describe(m.pid)}`);
  return { t: 'hello', v: m.v, pid: m.pid };
}

/** Validates a frame a manager received from a handler after its hello (`res` or `pong`). */
export function parseHandlerMessage(value: unknown): ResponseMessage | PongMessage {
  const m = asRecord(value);
  switch (m.t) {
    case 'res': {
      const messageId = unsignedField(m, 'res', 'id');
      if (m.ok === true) {
        onlyKeys(m, 'res', RES_OK_KEYS);
        // The decoded map itself is the message: it holds exactly these fields, checked above (no
        // copy per answer). A missing `p` reads as undefined, as it did in a copy.
        return m as unknown as OkResponseMessage;
      }
      if (m.ok === false) {
        onlyKeys(m, 'res', RES_ERROR_KEYS);
        if (m.e === null || typeof m.e !== 'object' || Array.isArray(m.e) || ArrayBuffer.isView(m.e)) {
          bad(`"res".e must be a map { code: text, message: text }, got ${describe(m.e)}`);
        }
        const e = m.e as Record<string, unknown>;
        if (typeof e.code !== 'string' || typeof e.message !== 'string') {
          bad(`"res".e must be { code: text, message: text }, got code = ${describe(e.code)}, message = ${describe(e.message)}`);
        }
        return { t: 'res', id: messageId, ok: false, e: { code: e.code, message: e.message } };
      }
      return bad(`"res".ok must be true or false, got ${describe(m.ok)}`);
    }
    case 'pong':
      onlyKeys(m, 'pong', ID_KEYS);
      return { t: 'pong', id: unsignedField(m, 'pong', 'id') };
    case 'hello':
      return bad('a second "hello"');
    default:
      return bad(`unknown message type t = ${describe(m.t)} from a handler`);
  }
}

/** Validates a frame a handler received from its manager. */
export function parseManagerMessage(value: unknown): ManagerMessage {
  const m = asRecord(value);
  switch (m.t) {
    case 'req': {
      onlyKeys(m, 'req', REQ_KEYS);
      unsignedField(m, 'req', 'id');
      if (m.m !== undefined && typeof m.m !== 'string') bad(`"req".m must be text, got ${describe(m.m)}`);
      // The decoded map itself, checked above: no copy per request.
      return m as unknown as RequestMessage;
    }
    case 'ping':
      onlyKeys(m, 'ping', ID_KEYS);
      return { t: 'ping', id: unsignedField(m, 'ping', 'id') };
    case 'cancel':
      onlyKeys(m, 'cancel', ID_KEYS);
      return { t: 'cancel', id: unsignedField(m, 'cancel', 'id') };
    case 'bye':
      onlyKeys(m, 'bye', ['t']);
      return { t: 'bye' };
    default:
      return bad(`unknown message type t = ${describe(m.t)} from a manager`);
  }
}
