/**
 * The Loader: images in, running handlers out. Internal to umdkit (the manager builds on it; the
 * public surface is `defineDriver` and `umdkit pack`).
 *
 * @example
 * ```ts
 * import { loadImage, spawnHandler } from '../loader/index.js';
 * const loaded = await loadImage('parser', image);
 * const handler = await spawnHandler(loaded, { driver: 'parser', instance, generation: 1, startTimeoutMs: 10_000, maxFrameBytes: 16 << 20, maxDepth: 64 });
 * ```
 */
export { sha256Hex, imageFileName, IMAGE_FORMATS, type Image, type ImageFormat } from './image.js';
export { runtimeRoot, runtimeBases, parseMountinfo, isNoexec, ROOT_NAME, type RuntimeRootOptions, type MountEntry } from './runtime-dir.js';
export { privateDirName, ownerPidOf } from './private-dir.js';
export { loadImage, type LoadedImage, type LoadOptions } from './extract.js';
export { sweepStale } from './sweep.js';
export { launchPlan, scrubbedEnv, INHERITED_ENV, type LaunchPlan, type LaunchHook } from './launch-plan.js';
export { signalGroup } from './process-group.js';
export { IMAGE_FD, IMAGE_PATH, type SealedCopy } from './sealed-copy.js';
export { inheritableFds } from './inherited-fds.js';
export { StderrLines, STDERR_TAIL_LINES, STDERR_LINE_CHARS } from './stderr-log.js';
export { spawnHandler, type SpawnOptions, type HandlerProcess, type HandlerExit, type LogLine } from './spawn.js';
export { driverModule } from './driver-module.js';
// `pack` (./pack.js) is left out on purpose: it loads esbuild, a build-time tool that a service
// running drivers should not have to load. Import it from './pack.js' directly.
export { driverName } from './driver-name.js';
