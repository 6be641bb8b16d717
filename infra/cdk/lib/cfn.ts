// The L1 resource behind an L2 construct, shared by the stack's modules.
import type { CfnResource } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

export function cfn(construct: Construct): CfnResource {
  return construct.node.defaultChild as CfnResource;
}
