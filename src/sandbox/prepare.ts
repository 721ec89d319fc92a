import { chmod, chown } from 'node:fs/promises';
import { UmdError } from '../errors.js';
import type { LaunchHook } from '../loader/launch-plan.js';
import { probeHost, type SandboxHost } from './host.js';
import { planSandbox, type DroppedLayer, type LayerState, type SandboxTarget } from './plan.js';
import { sandboxSettings, type LayerName, type SandboxLevel } from './settings.js';

/**
 * The manager's one call: validate the driver's `sandbox` option, probe the host (cached), plan,
 * and make the image reachable by the handler's user when it runs as another one.
 */

/**
 * A sandbox ready to launch handlers of one loaded image.
 *
 * @example
 * ```ts
 * const sandbox: PreparedSandbox = await prepareSandbox(driver.sandbox, { kind: loaded.image.kind, dir: loaded.dir, file: loaded.file });
 * const handler = await spawnHandler(loaded, { ...spawnOptions, launch: sandbox.launch });
 * ```
 */
export interface PreparedSandbox {
  /** The settings' level (`none`, `standard`, `strict`). */
  level: SandboxLevel;
  /** Pass as `SpawnOptions.launch`; reuse it for every start of this loaded image. */
  launch: LaunchHook;
  /** Names of the layers in force, for `manager.snapshot()`. */
  inForce: LayerName[];
  /** Layers asked for but dropped (only with `bestEffort`); empty otherwise. */
  dropped: DroppedLayer[];
  /** One sentence for the `{ type: 'sandbox', dropped, reason }` event; undefined when nothing was dropped. */
  reason: string | undefined;
  /** Every layer with its state and detail. */
  layers: LayerState[];
}

/**
 * Validates `option` (a driver's `sandbox`: `'none' | 'standard' | 'strict'`, an options object,
 * or settings from `sandboxSettings`), probes the host once per process, plans the layers for
 * `target`, and, when the handler will run as an unprivileged user, shares the private directory
 * and the image with that user's group (owner stays the parent; nothing for others).
 *
 * Throws `TypeError`/`RangeError` for a bad option (naming the path), `UmdError('SANDBOX')` naming
 * each layer the host cannot provide (unless `bestEffort`: then they are in `dropped`), or when
 * the directory cannot be shared.
 *
 * @example
 * ```ts
 * const { launch, inForce, dropped, reason } = await prepareSandbox(driver.sandbox, { kind: loaded.image.kind, dir: loaded.dir, file: loaded.file });
 * if (dropped.length > 0) emit({ type: 'sandbox', dropped, reason });
 * ```
 */
export async function prepareSandbox(option: unknown, target: SandboxTarget, options: { host?: SandboxHost } = {}): Promise<PreparedSandbox> {
  const settings = sandboxSettings(option);
  const host = options.host ?? (await probeHost({ network: settings.privateNetwork, pidns: settings.pidNamespace }));
  const plan = planSandbox(settings, host, target);
  if (plan.share !== undefined) await share(target, plan.share.gid, host.uid);
  return {
    level: settings.level,
    launch: plan.wrap,
    inForce: plan.inForce,
    dropped: plan.dropped,
    reason: plan.dropped.length === 0
      ? undefined
      : `best effort: running without ${plan.dropped.map(({ layer, why }) => `${layer} (${why})`).join('; ')}`,
    layers: plan.layers,
  };
}

/** Group access for the handler's user: enter the directory, read (and for exec run) the image. */
async function share(target: SandboxTarget, gid: number, owner: number): Promise<void> {
  try {
    await chown(target.dir, owner, gid);
    await chmod(target.dir, 0o710);
    await chown(target.file, owner, gid);
    await chmod(target.file, target.kind === 'exec' ? 0o550 : 0o540);
  } catch (cause) {
    throw new UmdError('SANDBOX', `cannot share ${target.dir} with group ${gid} for the handler's user: ${(cause as Error).message}`, {
      layer: 'user',
      reason: (cause as NodeJS.ErrnoException).code ?? 'error',
    }, { cause });
  }
}
