import type { SupervisorNode } from '../../supervisors/tree.js';
import type { DriverNode } from './driver-node.js';
import type { SupervisorSpec } from './tree-spec.js';

/**
 * The runtime shape of one supervisor: its node and, per spec child, what runs it. Its own module
 * so that the manager (which builds it) and snapshots (which read it) do not import each other.
 */
export interface RuntimeSupervisor {
  spec: SupervisorSpec;
  node: SupervisorNode;
  children: Array<{ driver: DriverNode } | { supervisor: RuntimeSupervisor }>;
}
