/**
 * Service mode: a config module, a tree run as a foreground service, its local socket (the front
 * door for `umdkit call`, `status` and other local clients), and its log. docs/SERVICE.md.
 */
export { loadConfig, loadServiceConfig, validateConfig, validateServiceConfig, type LoadedConfig, type ServiceConfig } from './config.js';
export { DEFAULT_SERVICE_LIMITS, type ServiceLimits } from './limits.js';
export { startService, Service, type ServiceOptions, type ServiceExit } from './service.js';
export { connectService, ServiceClient, type ServiceClientOptions, type ServiceRequestOptions } from './client.js';
export { defaultSocketPath, socketDir } from './socket-path.js';
export { ServiceLog, recordOf, formatRecord, type LogRecord, type LogLevel, type LogFormat } from './log.js';
export { renderTree } from './tree-text.js';
export { toJsonText, fromJsonText } from './json-text.js';
export * from './messages.js';
