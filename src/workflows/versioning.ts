import { workflowInfo } from '@temporalio/workflow';
import type { VersioningBehavior, WorkflowDefinitionOptions } from '@temporalio/common';

/**
 * A workflow type's behavior under Worker Versioning (WORKER_DEPLOYMENT_NAME), for
 * `setWorkflowOptions`: declared only on a versioned worker, since an unversioned one refuses any
 * (its workflow tasks would fail with "versioning behavior cannot be specified without deployment
 * options"). An unversioned worker still reports a build ID, but no deployment name: the orchestrator
 * names its deployment exactly when versioning is on.
 */
export const whenVersioned = (behavior: VersioningBehavior) => (): WorkflowDefinitionOptions =>
  workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior: behavior } : {};
