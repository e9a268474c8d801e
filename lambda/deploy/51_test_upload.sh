#!/usr/bin/env bash
# Test, part 1: upload a file through the API, as a client does, and report the milliseconds.
#
# Asks GET /presign?mode=upload for DDN_TEST_IMAGE_KEY (default: the file name of
# DDN_TEST_IMAGE_PATH) with the file's size and MD5 signed in, then PUTs the file to the URL. With
# DDN_TEST_SIMULATE_PROCESSING=1 it then copies the upload to the output bucket with the AWS CLI,
# standing in for the processor as the old test did (your AWS credentials need S3 access for that).
# The API's address is DDN_API_URL, or the API named DDN_API_NAME; the token is DDN_API_TOKEN.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_client_settings
file=$DDN_TEST_IMAGE_PATH
[ -f "$file" ] || die "DDN_TEST_IMAGE_PATH=$file is not a file"
name=$DDN_TEST_IMAGE_KEY
size=$(wc -c <"$file" | tr -d ' ')
md5=$(ddn_deploy md5-base64 "$file")

step "upload $name ($size bytes) through $API_URL"
api_get "/presign?file=$(url_encode "$name")&mode=upload&size=$size&md5=$(url_encode "$md5")" "$WORK_DIR/presign.json"
[ "$HTTP_STATUS" = 200 ] || api_failed "$WORK_DIR/presign.json"
presign_ms=$HTTP_MS
key=$(json_get key <"$WORK_DIR/presign.json")
presigned_request_config "$WORK_DIR/presign.json" "$WORK_DIR/put.curl"

result=$(curl -sS --config "$WORK_DIR/put.curl" --connect-timeout 10 --speed-limit 1 --speed-time 60 \
  -T "$file" -o "$WORK_DIR/put.out" -w '%{http_code} %{time_total}') ||
  die "the upload to S3 failed (connection)"
read -r put_status put_seconds <<<"$result"
[ "$put_status" = 200 ] ||
  die "S3 refused the upload: HTTP $put_status $(s3_error_code "$WORK_DIR/put.out")"
put_ms=$(seconds_to_ms "$put_seconds")

note "presign: $presign_ms ms"
note "upload:  $put_ms ms"
note "total:   $((presign_ms + put_ms)) ms"
note "stored as $key in the input bucket"

if [ "${DDN_TEST_SIMULATE_PROCESSING:-0}" = 1 ]; then
  require_aws
  step "simulating the processor: copying $key to $DDN_OUT_BUCKET"
  started=$(now_ms)
  aws s3 cp --only-show-errors "s3://$DDN_IN_BUCKET/$key" "s3://$DDN_OUT_BUCKET/$key"
  note "copy:    $(($(now_ms) - started)) ms"
fi
step "next: ./52_test_download.sh"
