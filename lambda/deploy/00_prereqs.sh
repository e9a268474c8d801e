#!/usr/bin/env bash
# Step 0: the buckets and the function's IAM role.
#
# Buckets that do not exist yet are created (and tagged app=ddn-transfer, which is how
# 99_cleanup.sh knows it may delete them). Every run brings both buckets to the same settings:
# Block Public Access, objects owned by the bucket owner (no ACLs), default encryption (SSE-S3 when
# the bucket has none; a setting already there, such as SSE-KMS with a customer key, is kept),
# a policy statement refusing plain HTTP, and a lifecycle rule aborting multipart uploads left
# incomplete for DDN_ABORT_MULTIPART_DAYS. Other policy statements and lifecycle rules are kept.
#
# The role may be assumed by Lambda only. Its one inline policy allows what the function signs
# for and nothing more (see function_policy in lib/policies.sh); AmazonS3FullAccess, which the old scripts
# attached, is detached. Safe to run again: it converges instead of failing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_settings
require_aws

ensure_bucket() {
  local bucket=$1
  if aws s3api head-bucket --bucket "$bucket" >/dev/null 2>"$WORK_DIR/head.err"; then
    note "bucket $bucket exists"
  elif grep -q '(403)' "$WORK_DIR/head.err"; then
    die "bucket $bucket belongs to another account or this one may not use it (bucket names are shared by all of AWS): choose other names for DDN_IN_BUCKET and DDN_OUT_BUCKET"
  elif ! grep -Eq '\(404\)|Not Found|NoSuchBucket' "$WORK_DIR/head.err"; then
    cat "$WORK_DIR/head.err" >&2
    die "cannot check bucket $bucket"
  else
    step "creating bucket $bucket"
    if [ "$AWS_REGION" = us-east-1 ]; then
      aws s3api create-bucket --bucket "$bucket" >/dev/null
    else
      aws s3api create-bucket --bucket "$bucket" \
        --create-bucket-configuration "LocationConstraint=$AWS_REGION" >/dev/null
    fi
    aws s3api put-bucket-tagging --bucket "$bucket" \
      --tagging "TagSet=[{Key=$DDN_TAG_KEY,Value=$DDN_TAG_VALUE}]"
  fi

  step "securing bucket $bucket"
  aws s3api put-public-access-block --bucket "$bucket" --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
  aws s3api put-bucket-ownership-controls --bucket "$bucket" \
    --ownership-controls 'Rules=[{ObjectOwnership=BucketOwnerEnforced}]'
  ensure_encryption "$bucket"

  tls_only_statement "$bucket" >"$WORK_DIR/statement.json"
  if aws_maybe NoSuchBucketPolicy s3api get-bucket-policy --bucket "$bucket" --query Policy --output text; then
    printf '%s' "$CLI_OUT" >"$WORK_DIR/policy.json"
  else
    : >"$WORK_DIR/policy.json"
  fi
  json_upsert "$WORK_DIR/policy.json" Statement Sid "$WORK_DIR/statement.json" >"$WORK_DIR/new-policy.json"
  aws s3api put-bucket-policy --bucket "$bucket" --policy "file://$WORK_DIR/new-policy.json"
  note "TLS only (bucket policy statement $BUCKET_TLS_SID)"

  abort_multipart_rule >"$WORK_DIR/rule.json"
  if aws_maybe NoSuchLifecycleConfiguration s3api get-bucket-lifecycle-configuration --bucket "$bucket" --output json; then
    printf '%s' "$CLI_OUT" | ddn_deploy lifecycle-rules >"$WORK_DIR/lifecycle.json"
  else
    : >"$WORK_DIR/lifecycle.json"
  fi
  json_upsert "$WORK_DIR/lifecycle.json" Rules ID "$WORK_DIR/rule.json" >"$WORK_DIR/new-lifecycle.json"
  aws s3api put-bucket-lifecycle-configuration --bucket "$bucket" \
    --lifecycle-configuration "file://$WORK_DIR/new-lifecycle.json"
  note "incomplete multipart uploads aborted after $DDN_ABORT_MULTIPART_DAYS days (lifecycle rule $LIFECYCLE_RULE_ID)"
}

# Default encryption: SSE-S3 when the bucket has none. A setting that is there already (SSE-KMS or
# DSSE-KMS, perhaps with a customer key) was chosen by someone and is at least as strong, so it is
# kept, never replaced. The scripts choose SSE-S3 rather than SSE-KMS themselves because a customer
# KMS key must also be usable by every presigned URL: the role (and the processor) would need
# kms:GenerateDataKey and kms:Decrypt on it, which is granted in the key's policy, not here.
ensure_encryption() {
  local bucket=$1 algorithm key
  if aws_maybe ServerSideEncryptionConfigurationNotFoundError s3api get-bucket-encryption \
    --bucket "$bucket" --output text --query \
    'ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.[SSEAlgorithm, KMSMasterKeyID]'; then
    read -r algorithm key <<<"$CLI_OUT"
  fi
  algorithm=${algorithm:-None}
  key=${key:-None}
  case "$algorithm" in
    None)
      aws s3api put-bucket-encryption --bucket "$bucket" --server-side-encryption-configuration \
        '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
      note "default encryption SSE-S3 (AES256)"
      ;;
    AES256) note "default encryption SSE-S3 (AES256)" ;;
    *)
      if [ "$key" = None ]; then
        note "default encryption $algorithm with the AWS managed key: kept"
      else
        note "default encryption $algorithm with key $key: kept"
        warn "bucket $bucket encrypts with the KMS key $key: the key's policy must let the role $DDN_LAMBDA_ROLE (and the processor) use it (kms:GenerateDataKey to upload, and kms:Decrypt too for multipart uploads, whose parts S3 decrypts to assemble them, and to download); these scripts do not grant that"
      fi
      ;;
  esac
}

ensure_role() {
  trust_policy >"$WORK_DIR/trust.json"
  function_policy >"$WORK_DIR/function-policy.json"
  if aws_maybe NoSuchEntity iam get-role --role-name "$DDN_LAMBDA_ROLE" --query Role.Arn --output text; then
    step "updating role $DDN_LAMBDA_ROLE"
    aws iam update-assume-role-policy --role-name "$DDN_LAMBDA_ROLE" \
      --policy-document "file://$WORK_DIR/trust.json"
  else
    step "creating role $DDN_LAMBDA_ROLE"
    aws iam create-role --role-name "$DDN_LAMBDA_ROLE" \
      --description "DDN presign function: sign uploads and downloads under users/" \
      --assume-role-policy-document "file://$WORK_DIR/trust.json" \
      --tags "Key=$DDN_TAG_KEY,Value=$DDN_TAG_VALUE" >/dev/null
  fi
  note "assumable by lambda.amazonaws.com only"

  aws iam put-role-policy --role-name "$DDN_LAMBDA_ROLE" --policy-name "$ROLE_POLICY_NAME" \
    --policy-document "file://$WORK_DIR/function-policy.json"
  note "inline policy $ROLE_POLICY_NAME: put into $DDN_IN_BUCKET/users/* (multipart uploads too: list their parts, abort them), read $DDN_OUT_BUCKET/users/* and $DDN_OUT_BUCKET/failed/users/*, logs of $FUNCTION_LOG_GROUP"

  local attached arn
  attached=$(aws iam list-attached-role-policies --role-name "$DDN_LAMBDA_ROLE" \
    --query 'AttachedPolicies[].PolicyArn' --output text)
  for arn in ${attached//None/}; do
    if [ "$arn" = arn:aws:iam::aws:policy/AmazonS3FullAccess ]; then
      aws iam detach-role-policy --role-name "$DDN_LAMBDA_ROLE" --policy-arn "$arn"
      note "detached AmazonS3FullAccess (the inline policy grants what the function needs)"
    else
      warn "role $DDN_LAMBDA_ROLE also has $arn attached: the function does not need it"
    fi
  done
  local inline name
  inline=$(aws iam list-role-policies --role-name "$DDN_LAMBDA_ROLE" --query 'PolicyNames' --output text)
  for name in ${inline//None/}; do
    [ "$name" = "$ROLE_POLICY_NAME" ] ||
      warn "role $DDN_LAMBDA_ROLE also has the inline policy $name: the function does not need it"
  done
}

ensure_bucket "$DDN_IN_BUCKET"
ensure_bucket "$DDN_OUT_BUCKET"
ensure_role
step "prerequisites ready: next, ./01_create_function.sh"
