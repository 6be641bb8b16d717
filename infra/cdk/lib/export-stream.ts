// The analytics export: the Firehose delivery stream to ExportBucketArn and its role (only with ExportEnabled).
import { Aws, type Stack, Validations } from 'aws-cdk-lib';
import { PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnDeliveryStream } from 'aws-cdk-lib/aws-kinesisfirehose';
import { cfn } from './cfn.js';
import type { StarlingConditions } from './conditions.js';
import type { Contract } from './contract.js';
import type { StarlingParameters } from './parameters.js';

/** The export's role and delivery stream, created on `scope` under the export's condition. */
export function defineExportStream(
  scope: Stack,
  contract: Contract,
  allParams: StarlingParameters['allParams'],
  condition: StarlingConditions['condition'],
) {
  // ------------------------------------------------------------ analytics export (only with ExportBucketArn)
  // A Firehose delivery stream (DirectPut -> S3) the fanout puts stored messages on, with its own role
  // holding only what the contract's export lists, on that bucket (objects under its prefix alone).
  const exp = contract.export;
  const exportEnabled = condition(exp.condition);
  const exportBucket = allParams[exp.bucketParameter];
  if (!exportBucket) throw new Error(`contract: export names unknown parameter ${exp.bucketParameter}`);
  const exportRole = new Role(scope, exp.roleLogicalId, {
    assumedBy: new ServicePrincipal('firehose.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
    }),
    inlinePolicies: {
      'starling-export': new PolicyDocument({
        statements: [
          new PolicyStatement({
            sid: 'Bucket',
            actions: [...exp.rolePermissions.bucket],
            resources: [exportBucket.valueAsString],
          }),
          new PolicyStatement({
            sid: 'Objects',
            actions: [...exp.rolePermissions.objects],
            resources: [`${exportBucket.valueAsString}/${exp.objectsUnder}*`],
          }),
        ],
      }),
    },
  });
  cfn(exportRole).overrideLogicalId(exp.roleLogicalId);
  cfn(exportRole).cfnOptions.condition = exportEnabled;
  // Server-side encryption with an AWS owned key (checkov's CKV_AWS_240; it has no CloudFormation check of
  // Firehose, and CKV_AWS_241's customer managed key would add a key policy and KMS cost). The objects take
  // the bucket's own default encryption.
  const exportStream = new CfnDeliveryStream(scope, exp.logicalId, {
    deliveryStreamType: 'DirectPut',
    deliveryStreamEncryptionConfigurationInput: { keyType: exp.encryptionKeyType },
    extendedS3DestinationConfiguration: {
      bucketArn: exportBucket.valueAsString,
      roleArn: exportRole.roleArn,
      prefix: exp.prefix,
      errorOutputPrefix: exp.errorOutputPrefix,
      compressionFormat: exp.compressionFormat,
      bufferingHints: {
        intervalInSeconds: exp.bufferingHints.IntervalInSeconds,
        sizeInMBs: exp.bufferingHints.SizeInMBs,
      },
    },
  });
  exportStream.cfnOptions.condition = exportEnabled;
  Validations.of(exportStream).acknowledge({
    id: 'CloudFormation-Validate::W1030',
    reason: 'BucketARN is ExportBucketArn, which is not empty whenever the stream exists (condition ExportEnabled).',
  });
  return { exportEnabled, exportStream };
}
