/// <reference types="node" preserve="true" />
// The public declarations name Node types (streams, signals, key objects): a consumer compiling with
// `types: []` still needs them. @types/node is an optional peer dependency (TypeScript users only).
/**
 * umdkit: User Mode Drivers for Node.js.
 *
 * @example
 * ```ts
 * import { defineDriver, createManager, UmdError } from 'umdkit';
 * import parser from './parser.driver.mjs';
 *
 * const manager = await createManager({ children: [defineDriver(parser)] });
 * const answer = await manager.request('parser', bytes);
 * await manager.stop();
 * ```
 */
export { UmdError, isUmdError, UMD_ERROR_CODES, type UmdErrorCode, type UmdErrorDetails } from './errors.js';
export {
  defineDriver,
  type Driver,
  type DriverModule,
  type DriverOptions,
  type Validator,
  type ValidateContext,
  type StandardSchemaV1,
  type RestartType,
  type BackoffOptions,
} from './manager/driver.js';
export { sha256Hex, type Image, type ImageFormat } from './loader/image.js';
export type { SandboxLevel, SandboxOption, SandboxOptions, SandboxLimits, LayerName } from './sandbox/index.js';
export { createManager, Manager } from './manager/manager.js';
export { supervisor, type SupervisorChild, type SupervisorOptions, type SupervisorSpec, type Strategy, type Intensity } from './manager/tree-spec.js';
export type {
  Answered,
  ApiFor,
  DriverApi,
  DriverEntry,
  DriverName,
  EntriesOf,
  HandlerModuleApi,
  ManagedDrivers,
  MethodName,
  RequestAnswer,
  RequestArgs,
  RequestPayload,
  UntypedApi,
  ValidatorOutput,
} from './manager/typed.js';
export type { HandlerApi, ServedHandler } from './handler/types.js';
export type { ManagerOptions, RequestOptions, StopOptions } from './manager/options.js';
export type { ManagerEvent, ManagerEventType, ManagerListener, EventStreamOptions } from './manager/events.js';
export { ManagerEventStream } from './manager/events.js';
export type { SnapshotNode, TreeSnapshot } from './manager/snapshot.js';
export { startService, Service, type ServiceOptions, type ServiceExit } from './service/service.js';
export { connectService, ServiceClient, type ServiceClientOptions, type ServiceRequestOptions } from './service/client.js';
export { loadConfig, loadServiceConfig, type LoadedConfig, type ServiceConfig } from './service/config.js';
export { DEFAULT_SERVICE_LIMITS, type ServiceLimits } from './service/limits.js';
export { defaultSocketPath } from './service/socket-path.js';
export * from './viz/index.js';
