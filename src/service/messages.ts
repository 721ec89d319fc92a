import { PROTOCOL_VERSION } from '../protocol/index.js';
import type { ManagerEvent } from '../manager/events.js';
import {
  badMessage as bad,
  describeWireValue as describe,
  messageRecord as asRecord,
  onlyKeys,
  unsignedField as uint,
} from '../protocol/message-checks.js';

/**
 * The messages of the service socket (docs/SERVICE.md). Same frames as wire protocol v1 (a 4-byte
 * length, then one CBOR map with a text `t`), a different message set: local clients ask a running
 * service for answers, a snapshot, or an event stream. Both sides validate what they receive here.
 */

/**
 * Client -> service: one request to a driver, routed to `manager.request()`.
 *
 * @example
 * ```ts
 * socket.write(encodeFrame({ t: 'req', id: 1, d: 'parser', m: 'parse', p: bytes, timeoutMs: 2000 } satisfies ClientRequest));
 * ```
 */
export interface ClientRequest {
  t: 'req';
  /** Chosen by the client; unique among its requests still in flight. */
  id: number;
  /** The driver's name. */
  d: string;
  /** Method (optional). */
  m?: string;
  /** Payload: the JSON data model plus byte strings. */
  p: unknown;
  /** Deadline in ms (default: the driver's requestTimeoutMs). */
  timeoutMs?: number;
  /** Safe to retry after a handler crash. */
  idempotent?: boolean;
}
/** Client -> service: the caller gave up on request `id` (it is answered `ABORTED`). */
export interface ClientCancel { t: 'cancel'; id: number }
/** Client -> service: the tree right now (answered with the snapshot). */
export interface ClientStatus { t: 'status'; id: number }
/** Client -> service: start the read-only event stream (answered with the snapshot, then `event` frames). */
export interface ClientSubscribe { t: 'subscribe'; id: number }
/**
 * Everything a client may send.
 *
 * @example
 * ```ts
 * const messages: ClientMessage[] = [{ t: 'status', id: 1 }, { t: 'subscribe', id: 2 }, { t: 'cancel', id: 3 }];
 * ```
 */
export type ClientMessage = ClientRequest | ClientCancel | ClientStatus | ClientSubscribe;

/** Service -> client, first frame: protocol version and the service's pid. */
export interface ServiceHello { t: 'hello'; v: number; pid: number }
/**
 * Service -> client: the answer to `req`, `status` or `subscribe`. `e.code` is a UmdError code or
 * `BAD_REQUEST`. The answer to a `req` carries `timeoutMs`, the deadline the service applied: the
 * client's, raised to the service's floor or lowered to its ceiling, or the driver's own.
 */
export type ServiceResponse =
  | { t: 'res'; id: number; ok: true; p: unknown; timeoutMs?: number }
  | { t: 'res'; id: number; ok: false; e: { code: string; message: string; details?: Record<string, unknown> }; timeoutMs?: number };
/** Service -> subscribed client: one manager event. */
export interface ServiceEvent { t: 'event'; p: ManagerEvent }
/** Service -> subscribed client: `n` events were left out because the client read too slowly. */
export interface ServiceDropped { t: 'dropped'; n: number }
/** Service -> client, last frame: the connection is closed for this reason (a protocol violation). */
export interface ServiceError { t: 'error'; e: { code: string; message: string } }
/**
 * Everything a service may send.
 *
 * @example
 * ```ts
 * const message: ServiceMessage = parseServiceMessage(raw);
 * if (message.t === 'res' && !message.ok) console.error(message.e.code, message.e.message);
 * ```
 */
export type ServiceMessage = ServiceHello | ServiceResponse | ServiceEvent | ServiceDropped | ServiceError;

/**
 * The `e.code` of a request the service refused before it reached the manager: an unknown driver
 * or bad request options (the manager's RangeError/TypeError). Every other code is a UmdError code.
 *
 * @example
 * ```ts
 * if (message.t === 'res' && !message.ok && message.e.code === BAD_REQUEST) console.error(message.e.message);
 * ```
 */
export const BAD_REQUEST = 'BAD_REQUEST';

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Validates a frame a service received from a client. Throws `ProtocolError` (`BAD_MESSAGE`)
 * naming the field at fault; the service then closes that connection.
 *
 * @example
 * ```ts
 * parseClientMessage({ t: 'req', id: 1, d: 'parser', m: 'parse', p: bytes }); // a ClientRequest
 * parseClientMessage({ t: 'req', id: -1 });                                  // throws BAD_MESSAGE
 * ```
 */
export function parseClientMessage(value: unknown): ClientMessage {
  const m = asRecord(value);
  switch (m.t) {
    case 'req': {
      onlyKeys(m, 'req', ['t', 'id', 'd', 'm', 'p', 'timeoutMs', 'idempotent']);
      const id = uint(m, 'req', 'id');
      if (typeof m.d !== 'string' || m.d.length === 0) bad(`"req".d must be a driver name, got ${describe(m.d)}`);
      if (m.m !== undefined && typeof m.m !== 'string') bad(`"req".m must be text, got ${describe(m.m)}`);
      // Node timers cap at 2^31-1 ms; a longer deadline would fire at once.
      if (m.timeoutMs !== undefined && uint(m, 'req', 'timeoutMs', MAX_TIMEOUT_MS) < 1) bad('"req".timeoutMs must be a positive integer, got 0');
      if (m.idempotent !== undefined && typeof m.idempotent !== 'boolean') bad(`"req".idempotent must be a boolean, got ${describe(m.idempotent)}`);
      const request: ClientRequest = { t: 'req', id, d: m.d, p: m.p };
      if (m.m !== undefined) request.m = m.m as string;
      if (m.timeoutMs !== undefined) request.timeoutMs = m.timeoutMs as number;
      if (m.idempotent !== undefined) request.idempotent = m.idempotent as boolean;
      return request;
    }
    case 'cancel':
    case 'status':
    case 'subscribe':
      onlyKeys(m, m.t, ['t', 'id']);
      return { t: m.t, id: uint(m, m.t, 'id') };
    default:
      return bad(`unknown message type t = ${describe(m.t)} from a client`);
  }
}

/**
 * Validates a frame a client received from a service.
 *
 * @example
 * ```ts
 * const message = parseServiceMessage(raw);
 * if (message.t === 'event') render(message.p);
 * ```
 */
export function parseServiceMessage(value: unknown): ServiceMessage {
  const m = asRecord(value);
  switch (m.t) {
    case 'hello':
      onlyKeys(m, 'hello', ['t', 'v', 'pid']);
      if (m.v !== PROTOCOL_VERSION) bad(`"hello".v must be ${PROTOCOL_VERSION}, got ${describe(m.v)}`);
      return { t: 'hello', v: m.v, pid: uint(m, 'hello', 'pid') };
    case 'res': {
      const id = uint(m, 'res', 'id');
      const deadline = m.timeoutMs === undefined ? {} : { timeoutMs: uint(m, 'res', 'timeoutMs', MAX_TIMEOUT_MS) };
      if (m.ok === true) {
        onlyKeys(m, 'res', ['t', 'id', 'ok', 'p', 'timeoutMs']);
        return { t: 'res', id, ok: true, p: m.p, ...deadline };
      }
      if (m.ok !== false) bad(`"res".ok must be true or false, got ${describe(m.ok)}`);
      onlyKeys(m, 'res', ['t', 'id', 'ok', 'e', 'timeoutMs']);
      const e = errorBody(m.e, 'res');
      return { t: 'res', id, ok: false, e, ...deadline };
    }
    case 'event': {
      onlyKeys(m, 'event', ['t', 'p']);
      const event = asRecord(m.p);
      if (typeof event.type !== 'string') bad(`"event".p.type must be text, got ${describe(event.type)}`);
      return { t: 'event', p: event as unknown as ManagerEvent };
    }
    case 'dropped':
      onlyKeys(m, 'dropped', ['t', 'n']);
      return { t: 'dropped', n: uint(m, 'dropped', 'n') };
    case 'error': {
      onlyKeys(m, 'error', ['t', 'e']);
      const { code, message } = errorBody(m.e, 'error');
      return { t: 'error', e: { code, message } };
    }
    default:
      return bad(`unknown message type t = ${describe(m.t)} from a service`);
  }
}

function errorBody(value: unknown, type: string): { code: string; message: string; details?: Record<string, unknown> } {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
    bad(`"${type}".e must be a map { code: text, message: text }, got ${describe(value)}`);
  }
  const e = value as Record<string, unknown>;
  onlyKeys(e, `${type}.e`, ['code', 'message', 'details']);
  if (typeof e.code !== 'string' || typeof e.message !== 'string') {
    bad(`"${type}".e must be { code: text, message: text }, got code = ${describe(e.code)}, message = ${describe(e.message)}`);
  }
  if (e.details === undefined) return { code: e.code, message: e.message };
  return { code: e.code, message: e.message, details: asRecord(e.details) };
}
