// Checkov checks this stack skips, each with its reason. They are written into the synthesized
// template as resource Metadata (`checkov: skip: [{id, comment}]`), which is where checkov reads them;
// infra/sam/template.yaml carries the same skips with the same reasons.
import type { CfnResource } from 'aws-cdk-lib';

export const CHECKOV_SKIPS = {
  lambda: [
    {
      id: 'CKV_AWS_115',
      comment:
        'No reserved concurrency; the account limit and the stage throttling bound it, and reserving would cap the WebSocket API.',
    },
    {
      id: 'CKV_AWS_116',
      comment:
        'Invoked synchronously by API Gateway or by the SQS event source mapping; asynchronous-invocation DLQs do not apply (the queue has its own DLQ).',
    },
    {
      id: 'CKV_AWS_117',
      comment:
        "Talks only to public endpoints (DynamoDB, SQS, API Gateway, Secrets Manager/SSM, an OIDC issuer's JWKS over HTTPS); a VPC would add NAT or endpoint cost and latency for nothing.",
    },
    {
      id: 'CKV_AWS_173',
      comment:
        'The environment holds names, limits and public OIDC settings, never secrets (the JWT secret is read from Secrets Manager/SSM at init); default Lambda encryption at rest suffices.',
    },
  ],
  logGroup: [
    {
      id: 'CKV_AWS_158',
      comment:
        'CloudWatch Logs encrypts log data at rest by default; a customer managed KMS key is optional and left to the operator.',
    },
  ],
  table: [
    {
      id: 'CKV_AWS_119',
      comment:
        'Encrypted at rest with the AWS managed key (SSESpecification); a customer managed KMS key adds a key policy and per-request KMS cost for no gain in this design.',
    },
  ],
  queue: [
    {
      id: 'CKV_AWS_27',
      comment:
        'Encrypted at rest with SQS managed keys (SqsManagedSseEnabled), which checkov does not recognise; a KMS key would add KMS request cost and key grants for no gain.',
    },
  ],
} as const;

export type CheckovSkip = { readonly id: string; readonly comment: string };

/** Record checkov skips on a CloudFormation resource, with their reasons. */
export function skipChecks(resource: CfnResource, skips: readonly CheckovSkip[]): void {
  resource.addMetadata('checkov', { skip: skips.map((s) => ({ id: s.id, comment: s.comment })) });
}
