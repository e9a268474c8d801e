#!/usr/bin/env bash
# Removes what the other scripts made, in dependency order: the HTTP API (with its routes,
# integration and stage), the function (with its invoke permissions), both log groups, and the
# role (with its policies) and the buckets that 00_prereqs.sh created (tagged app=ddn-transfer).
#
# A bucket that still holds objects is kept unless DDN_CLEANUP_EMPTY_BUCKETS=1, which deletes its
# objects first: uploads and results are data, not deployment. Buckets the scripts did not create
# are always kept. A role without the tag (the old scripts' role, taken over by 00_prereqs.sh, or
# one made by hand) is kept as it is: something else may use it. Safe to run again: what is
# already gone is skipped. Exits with status 1 when it kept the role, or a bucket because of its
# objects.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_settings
require_aws

find_api
if [ -n "$API_ID" ]; then
  aws apigatewayv2 delete-api --api-id "$API_ID"
  step "deleted HTTP API $DDN_API_NAME ($API_ID)"
else
  note "no HTTP API $DDN_API_NAME"
fi

if aws_maybe ResourceNotFoundException lambda delete-function --function-name "$DDN_LAMBDA_FUNC_NAME"; then
  step "deleted function $DDN_LAMBDA_FUNC_NAME"
else
  note "no function $DDN_LAMBDA_FUNC_NAME"
fi

for group in "$FUNCTION_LOG_GROUP" "$API_LOG_GROUP"; do
  if aws_maybe ResourceNotFoundException logs delete-log-group --log-group-name "$group"; then
    step "deleted log group $group"
  else
    note "no log group $group"
  fi
done

# The role is deleted only when it carries the tag 00_prereqs.sh gives a role it creates.
kept_role=
role_exists=
role_tag=
if aws_maybe NoSuchEntity iam get-role --role-name "$DDN_LAMBDA_ROLE" --query Role.Arn --output text; then
  role_exists=1
  role_tag=$(aws iam list-role-tags --role-name "$DDN_LAMBDA_ROLE" \
    --query "Tags[?Key=='$DDN_TAG_KEY'].Value | [0]" --output text)
fi
if [ -z "$role_exists" ]; then
  note "no role $DDN_LAMBDA_ROLE"
elif [ "$role_tag" != "$DDN_TAG_VALUE" ]; then
  kept_role=$DDN_LAMBDA_ROLE
  warn "kept role $DDN_LAMBDA_ROLE: 00_prereqs.sh did not create it (no tag $DDN_TAG_KEY=$DDN_TAG_VALUE), so something else may use it; delete it yourself (policies first) once nothing does"
else
  # A role is deleted only once it has no policies left.
  for name in $(aws iam list-role-policies --role-name "$DDN_LAMBDA_ROLE" --query PolicyNames --output text | sed 's/None//'); do
    aws iam delete-role-policy --role-name "$DDN_LAMBDA_ROLE" --policy-name "$name"
  done
  for arn in $(aws iam list-attached-role-policies --role-name "$DDN_LAMBDA_ROLE" \
    --query 'AttachedPolicies[].PolicyArn' --output text | sed 's/None//'); do
    aws iam detach-role-policy --role-name "$DDN_LAMBDA_ROLE" --policy-arn "$arn"
  done
  aws iam delete-role --role-name "$DDN_LAMBDA_ROLE"
  step "deleted role $DDN_LAMBDA_ROLE"
fi

kept_with_data=()
for bucket in "$DDN_IN_BUCKET" "$DDN_OUT_BUCKET"; do
  if ! aws s3api head-bucket --bucket "$bucket" >/dev/null 2>"$WORK_DIR/head.err"; then
    grep -Eq '\(404\)|Not Found|NoSuchBucket' "$WORK_DIR/head.err" || {
      cat "$WORK_DIR/head.err" >&2
      die "cannot check bucket $bucket"
    }
    note "no bucket $bucket"
    continue
  fi
  tag=
  if aws_maybe NoSuchTagSet s3api get-bucket-tagging --bucket "$bucket" \
    --query "TagSet[?Key=='$DDN_TAG_KEY'].Value | [0]" --output text; then
    tag=$CLI_OUT
  fi
  if [ "$tag" != "$DDN_TAG_VALUE" ]; then
    note "kept bucket $bucket: 00_prereqs.sh did not create it (no tag $DDN_TAG_KEY=$DDN_TAG_VALUE)"
    continue
  fi
  # shellcheck disable=SC2016 # a JMESPath literal, not a shell expression
  objects=$(aws s3api list-objects-v2 --bucket "$bucket" --max-items 1 --query 'length(Contents || `[]`)' --output text)
  if [ "$objects" != 0 ]; then
    if [ "${DDN_CLEANUP_EMPTY_BUCKETS:-0}" = 1 ]; then
      aws s3 rm --only-show-errors --recursive "s3://$bucket"
      aws s3api list-multipart-uploads --bucket "$bucket" --query 'Uploads[].[Key, UploadId]' --output text |
        while IFS=$'\t' read -r key upload; do
          [ -z "$upload" ] || aws s3api abort-multipart-upload --bucket "$bucket" --key "$key" --upload-id "$upload"
        done
      note "deleted the objects in $bucket (DDN_CLEANUP_EMPTY_BUCKETS=1)"
    else
      kept_with_data+=("$bucket")
      warn "kept bucket $bucket: it still holds objects (set DDN_CLEANUP_EMPTY_BUCKETS=1 to delete them with it)"
      continue
    fi
  fi
  aws s3api delete-bucket --bucket "$bucket"
  step "deleted bucket $bucket"
done

kept=
[ -z "$kept_role" ] || kept="the role $kept_role (not tagged $DDN_TAG_KEY=$DDN_TAG_VALUE)"
[ ${#kept_with_data[@]} -eq 0 ] || kept="${kept:+$kept and }bucket(s) holding objects: ${kept_with_data[*]}"
[ -z "$kept" ] || die "cleanup done except for $kept"
step "cleanup done"
