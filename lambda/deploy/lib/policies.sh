# shellcheck shell=bash
# Part of lib.sh: the policy documents, and putting the scripts' own statement or rule into a
# document that may hold others. Every name in the documents has been checked by load_settings,
# so plain substitution is safe JSON.
#
# Variables set here are read by the scripts that source lib.sh.
# shellcheck disable=SC2034

# Names of the pieces the scripts own inside shared resources.
ROLE_POLICY_NAME=ddn-presign-access
BUCKET_TLS_SID=DenyInsecureTransport
LIFECYCLE_RULE_ID=ddn-abort-incomplete-multipart-uploads

# Who may assume the function's role: the Lambda service, nothing else.
trust_policy() {
  cat <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": { "Service": "lambda.amazonaws.com" },
      "Action": "sts:AssumeRole"
    }
  ]
}
EOF
}

# What the function may do. A presigned URL acts with the role's permissions, so this also bounds
# what any URL the function hands out can do: put into users/* of the input bucket (PutObject also covers
# creating, uploading parts of and completing a multipart upload), abort or list the parts of its
# multipart uploads there, and read users/* of the output bucket. It also reads the processor's
# failure markers, failed/users/*, of the output bucket (HeadObject needs GetObject); it never signs
# a URL for them. ListBucket on the output bucket makes a missing result or marker a 404 (not a
# 403) for HeadObject and serves /results. Its condition uses IfExists because S3 checks ListBucket
# for a HeadObject of a missing key without an s3:prefix; a listing that names a prefix must name
# one under users/ or failed/users/. Logs go to the function's own group only.
function_policy() {
  local logs="arn:aws:logs:$AWS_REGION:$ACCOUNT_ID:log-group:$FUNCTION_LOG_GROUP"
  cat <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "UploadIntoUserFolders",
      "Effect": "Allow",
      "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": "arn:aws:s3:::$DDN_IN_BUCKET/users/*"
    },
    {
      "Sid": "CheckCompletedUploadsInUserFolders",
      "Effect": "Allow",
      "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::$DDN_IN_BUCKET/users/*"
    },
    {
      "Sid": "ListInputUserFolders",
      "Effect": "Allow",
      "Action": "s3:ListBucket",
      "Resource": "arn:aws:s3:::$DDN_IN_BUCKET",
      "Condition": { "StringLikeIfExists": { "s3:prefix": ["users/*"] } }
    },
    {
      "Sid": "ReadResultsInUserFolders",
      "Effect": "Allow",
      "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::$DDN_OUT_BUCKET/users/*"
    },
    {
      "Sid": "ReadFailureMarkersOfUserFolders",
      "Effect": "Allow",
      "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::$DDN_OUT_BUCKET/failed/users/*"
    },
    {
      "Sid": "ListResultsInUserFolders",
      "Effect": "Allow",
      "Action": "s3:ListBucket",
      "Resource": "arn:aws:s3:::$DDN_OUT_BUCKET",
      "Condition": { "StringLikeIfExists": { "s3:prefix": ["users/*", "failed/users/*"] } }
    },
    {
      "Sid": "WriteOwnLogs",
      "Effect": "Allow",
      "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
      "Resource": ["$logs", "$logs:*"]
    }
  ]
}
EOF
}

# The bucket policy statement refusing every request that does not use TLS.
tls_only_statement() {
  cat <<EOF
{
  "Sid": "$BUCKET_TLS_SID",
  "Effect": "Deny",
  "Principal": "*",
  "Action": "s3:*",
  "Resource": ["arn:aws:s3:::$1", "arn:aws:s3:::$1/*"],
  "Condition": { "Bool": { "aws:SecureTransport": "false" } }
}
EOF
}

# The lifecycle rule that deletes the parts of multipart uploads nobody completed.
abort_multipart_rule() {
  cat <<EOF
{
  "ID": "$LIFECYCLE_RULE_ID",
  "Status": "Enabled",
  "Filter": { "Prefix": "" },
  "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": $DDN_ABORT_MULTIPART_DAYS }
}
EOF
}

# Prints the document in file $1 (a JSON object with the list $2, or empty for none) with the
# element whose key $3 equals the one in file $4 replaced by that element (or added): so the scripts
# manage their own statement or rule and keep everything else in place.
json_upsert() { ddn_deploy json-upsert "$@"; }
