/**
 * The sandbox: least privilege for handlers, in layers (see docs/SECURITY.md). Internal to umdkit:
 * the manager calls {@link prepareSandbox} once per loaded image and passes its `launch` to
 * `spawnHandler`; users only write the driver's `sandbox` option.
 *
 * @example
 * ```ts
 * import { prepareSandbox, sandboxSettings } from '../sandbox/index.js';
 * const settings = sandboxSettings(driver.sandbox);                            // validate early
 * const loaded = await loadImage(driver.name, driver.image, { publicKeys: settings.publicKeys });
 * const sandbox = await prepareSandbox(settings, { kind: loaded.image.kind, dir: loaded.dir, file: loaded.file });
 * const handler = await spawnHandler(loaded, { ...options, launch: sandbox.launch });
 * ```
 */
export {
  sandboxSettings,
  isSandboxSettings,
  SANDBOX_LEVELS,
  SANDBOX_LAYERS,
  LEVEL_DEFAULTS,
  type SandboxLevel,
  type LayerName,
  type SandboxLimits,
  type SandboxUser,
  type SandboxOptions,
  type SandboxOption,
  type SandboxSettings,
  type UserRequest,
} from './settings.js';
export {
  probeHost,
  probeNetwork,
  probePidNamespace,
  findTool,
  parsePasswd,
  nodePermissionFlag,
  SANDBOX_TOOLS,
  OPTIONAL_NODE_FLAGS,
  type SandboxHost,
  type SandboxTool,
  type UserIds,
} from './host.js';
export { planSandbox, prlimitArgs, type SandboxPlan, type SandboxTarget, type LayerState, type DroppedLayer } from './plan.js';
export { prepareSandbox, type PreparedSandbox } from './prepare.js';
export { verifySignature, trustedKeys, type PublicKeyInput } from '../loader/signature.js';
