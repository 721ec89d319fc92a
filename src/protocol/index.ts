/**
 * Wire protocol v1: frames, messages, limits, and the closed set of protocol errors.
 * Internal to umdkit (the handler runtime and the manager both build on it); documented for other
 * languages in docs/PROTOCOL.md.
 */
export { encodeFrame, encodeValue, decodeValue } from './codec.js';
export { DecodeBudget } from './budget.js';
export { FrameDecoder, type FrameDecoderOptions } from './decoder.js';
export { FrameWriter } from './writer.js';
export { ProtocolError, PROTOCOL_REASONS, type ProtocolReason } from './errors.js';
export * from './limits.js';
export * from './messages.js';
export { scanItem } from './scan.js';
