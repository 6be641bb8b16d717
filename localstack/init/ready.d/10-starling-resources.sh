#!/usr/bin/env bash
# LocalStack init hook (ready.d): creates Starling's DynamoDB table and SQS FIFO queues when LocalStack
# is ready, shaped as infra/sam/template.yaml and infra/cdk create them in AWS:
#   table  pk/sk (S), GSI gsi1 (gsi1pk/gsi1sk, ALL), TTL on expiresAt, on demand, PITR
#   queue  FIFO, ContentBasedDeduplication off (senders give dedup ids), per-message-group throughput,
#          visibility 180 s, retention 4 days, SQS-managed encryption, redrive to the FIFO DLQ (14 days)
#          after STARLING_MAX_RECEIVE_COUNT receives (100, the templates' MaxReceiveCount default)
#   delivery queue  {queue}-deliver.fifo, large rooms' shard deliveries (the fanout's
#          STARLING_DELIVER_QUEUE_URL; it consumes the queue too): the same settings and the same DLQ
#   export (only with STARLING_EXPORT_BUCKET=NAME, as the templates' ExportBucketArn): the S3 bucket NAME
#          when missing, a role Firehose may assume (starling-local-export, writing to that bucket only),
#          and the Firehose delivery stream {queue}-export (the fanout's STARLING_EXPORT_STREAM): DirectPut to
#          that bucket with infra/contract.json's export prefix, error prefix, GZIP and buffering hints
# Not created here: the moderation rules' SSM parameter or S3 object (yours to put, docs/localstack.md),
# the dashboard and the alarms (AWS stacks only).
# Idempotent: existing resources are kept (and their settings re-applied where the API allows).
# localstack/tests/test_init_hook.py checks what it creates against infra/contract.json.
#
# The devstack passes its --visibility-timeout-secs and --max-receive-count when it creates the queues
# itself, and SQS refuses a CreateQueue whose attributes differ from the queue's: run it against these
# resources with `--visibility-timeout-secs 180 --max-receive-count 100`, or set STARLING_VISIBILITY_TIMEOUT
# and STARLING_MAX_RECEIVE_COUNT here to the devstack's values (docs/localstack.md).
#
# LocalStack runs it with its bundled `awslocal`. It also runs against any endpoint (moto, for the
# project's own check) with AWSLOCAL="aws --endpoint-url http://127.0.0.1:PORT".
set -euo pipefail

TABLE="${STARLING_TABLE_NAME:-starling-dev}"
QUEUE_BASE="${STARLING_QUEUE_NAME:-starling-dev}"   # like the devstack's --queue: without .fifo
QUEUE="$QUEUE_BASE.fifo"
DLQ="$QUEUE_BASE-dlq.fifo"
DELIVER_QUEUE="$QUEUE_BASE-deliver.fifo"   # infra/contract.json deliverQueue.localNameSuffix
EXPORT_BUCKET="${STARLING_EXPORT_BUCKET:-}"      # empty: no export, as the templates' default
EXPORT_STREAM="$QUEUE_BASE-export"              # infra/contract.json export.localNameSuffix
MAX_RECEIVE_COUNT="${STARLING_MAX_RECEIVE_COUNT:-100}"
VISIBILITY_TIMEOUT="${STARLING_VISIBILITY_TIMEOUT:-180}"
read -r -a AWSLOCAL <<<"${AWSLOCAL:-awslocal}"

case "$QUEUE_BASE" in *.fifo) echo "starling: STARLING_QUEUE_NAME is the name without .fifo" >&2; exit 1 ;; esac

aws_() { "${AWSLOCAL[@]}" "$@"; }

# ------------------------------------------------------------------ table
if aws_ dynamodb describe-table --table-name "$TABLE" >/dev/null 2>&1; then
  echo "starling: table $TABLE exists"
else
  aws_ dynamodb create-table \
    --table-name "$TABLE" \
    --billing-mode PAY_PER_REQUEST \
    --attribute-definitions \
      AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
      AttributeName=gsi1pk,AttributeType=S AttributeName=gsi1sk,AttributeType=S \
    --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
    --global-secondary-indexes \
      'IndexName=gsi1,KeySchema=[{AttributeName=gsi1pk,KeyType=HASH},{AttributeName=gsi1sk,KeyType=RANGE}],Projection={ProjectionType=ALL}' \
    >/dev/null
  aws_ dynamodb wait table-exists --table-name "$TABLE"
  echo "starling: created table $TABLE"
fi
ttl_status="$(aws_ dynamodb describe-time-to-live --table-name "$TABLE" \
  --query 'TimeToLiveDescription.TimeToLiveStatus' --output text 2>/dev/null || true)"
if [ "$ttl_status" != "ENABLED" ] && [ "$ttl_status" != "ENABLING" ]; then
  aws_ dynamodb update-time-to-live --table-name "$TABLE" \
    --time-to-live-specification 'Enabled=true,AttributeName=expiresAt' >/dev/null
fi
# Point-in-time recovery, as in AWS (emulators accept and ignore it; best effort).
aws_ dynamodb update-continuous-backups --table-name "$TABLE" \
  --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true >/dev/null 2>&1 || true

# ------------------------------------------------------------------ queues
# CreateQueue on an existing queue succeeds only when the attributes it passes match the queue's: create
# each queue with exactly the attributes the devstack passes, then set the others.
attributes="$(mktemp)"
trap 'rm -f "$attributes"' EXIT

dlq_url="$(aws_ sqs create-queue --queue-name "$DLQ" --attributes FifoQueue=true --query QueueUrl --output text)"
aws_ sqs set-queue-attributes --queue-url "$dlq_url" \
  --attributes 'ContentBasedDeduplication=false,MessageRetentionPeriod=1209600,SqsManagedSseEnabled=true'
dlq_arn="$(aws_ sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn \
  --query Attributes.QueueArn --output text)"

cat >"$attributes" <<JSON
{
  "FifoQueue": "true",
  "VisibilityTimeout": "$VISIBILITY_TIMEOUT",
  "RedrivePolicy": "{\"deadLetterTargetArn\":\"$dlq_arn\",\"maxReceiveCount\":$MAX_RECEIVE_COUNT}"
}
JSON
queue_url="$(aws_ sqs create-queue --queue-name "$QUEUE" --attributes "file://$attributes" \
  --query QueueUrl --output text)"
# The delivery queue: created with the queue's attributes (the same DLQ and redrive limit).
deliver_url="$(aws_ sqs create-queue --queue-name "$DELIVER_QUEUE" --attributes "file://$attributes" \
  --query QueueUrl --output text)"
cat >"$attributes" <<JSON
{
  "ContentBasedDeduplication": "false",
  "MessageRetentionPeriod": "345600",
  "SqsManagedSseEnabled": "true",
  "DeduplicationScope": "messageGroup",
  "FifoThroughputLimit": "perMessageGroupId"
}
JSON
aws_ sqs set-queue-attributes --queue-url "$queue_url" --attributes "file://$attributes"
aws_ sqs set-queue-attributes --queue-url "$deliver_url" --attributes "file://$attributes"

# ------------------------------------------------------------------ export (optional)
# The delivery stream as the templates make it when ExportBucketArn is set (infra/contract.json export).
if [ -n "$EXPORT_BUCKET" ]; then
  if ! aws_ s3api head-bucket --bucket "$EXPORT_BUCKET" >/dev/null 2>&1; then
    aws_ s3api create-bucket --bucket "$EXPORT_BUCKET" >/dev/null
    echo "starling: created bucket $EXPORT_BUCKET"
  fi
  export_role=starling-local-export
  if ! role_arn="$(aws_ iam get-role --role-name "$export_role" --query Role.Arn --output text 2>/dev/null)"; then
    role_arn="$(aws_ iam create-role --role-name "$export_role" --query Role.Arn --output text \
      --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}]}')"
  fi
  cat >"$attributes" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Bucket", "Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
     "Resource": "arn:aws:s3:::$EXPORT_BUCKET"},
    {"Sid": "Objects", "Effect": "Allow", "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
     "Resource": "arn:aws:s3:::$EXPORT_BUCKET/starling/*"}
  ]
}
JSON
  aws_ iam put-role-policy --role-name "$export_role" --policy-name starling-export \
    --policy-document "file://$attributes"
  if aws_ firehose describe-delivery-stream --delivery-stream-name "$EXPORT_STREAM" >/dev/null 2>&1; then
    echo "starling: delivery stream $EXPORT_STREAM exists"
  else
    cat >"$attributes" <<JSON
{
  "RoleARN": "$role_arn",
  "BucketARN": "arn:aws:s3:::$EXPORT_BUCKET",
  "Prefix": "starling/messages/!{timestamp:yyyy/MM/dd/HH}/",
  "ErrorOutputPrefix": "starling/errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/",
  "CompressionFormat": "GZIP",
  "BufferingHints": {"IntervalInSeconds": 300, "SizeInMBs": 64}
}
JSON
    aws_ firehose create-delivery-stream --delivery-stream-name "$EXPORT_STREAM" \
      --delivery-stream-type DirectPut --extended-s3-destination-configuration "file://$attributes" >/dev/null
    echo "starling: created delivery stream $EXPORT_STREAM -> s3://$EXPORT_BUCKET/starling/messages/"
  fi
fi

echo "starling: table $TABLE, queue $queue_url, delivery queue $deliver_url, dead-letter queue $dlq_url"
echo "starling: STARLING_TABLE=$TABLE STARLING_QUEUE_URL=$queue_url STARLING_DELIVER_QUEUE_URL=$deliver_url"
if [ -n "$EXPORT_BUCKET" ]; then echo "starling: STARLING_EXPORT_STREAM=$EXPORT_STREAM"; fi
