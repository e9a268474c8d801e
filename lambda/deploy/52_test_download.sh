#!/usr/bin/env bash
# Test, part 2: download the result of DDN_TEST_IMAGE_KEY through the API, as a client does, and
# report the milliseconds.
#
# Asks GET /presign?mode=download until the result exists (404 not_ready: tries again every 2 s,
# for up to DDN_TEST_WAIT_SECONDS), GETs it into DDN_TEST_DOWNLOAD_PATH (default
# ./downloaded_<name>), and checks its size and, for a single-part upload, its MD5 against the
# answer. The API's address is DDN_API_URL, or the API named DDN_API_NAME; the token is
# DDN_API_TOKEN.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_client_settings
name=$DDN_TEST_IMAGE_KEY
target=${DDN_TEST_DOWNLOAD_PATH:-./downloaded_$(basename "$name")}

step "download $name through $API_URL"
query="/presign?file=$(url_encode "$name")&mode=download"
deadline=$((SECONDS + DDN_TEST_WAIT_SECONDS))
waited=0
started=$(now_ms)
while true; do
  api_get "$query" "$WORK_DIR/presign.json"
  [ "$HTTP_STATUS" = 200 ] && break
  code=$(json_get error.code <"$WORK_DIR/presign.json" 2>/dev/null || true)
  if [ "$HTTP_STATUS" != 404 ] || [ "$code" != not_ready ]; then
    api_failed "$WORK_DIR/presign.json"
  fi
  [ "$SECONDS" -lt "$deadline" ] ||
    die "the result of $name is not ready after $DDN_TEST_WAIT_SECONDS s (DDN_TEST_WAIT_SECONDS)"
  [ "$waited" -gt 0 ] || note "the result is not ready yet; waiting up to $DDN_TEST_WAIT_SECONDS s"
  sleep 2
  waited=$((waited + 2))
done
presign_ms=$HTTP_MS
wait_ms=$(($(now_ms) - started - presign_ms))
size=$(json_get size <"$WORK_DIR/presign.json")
etag=$(json_get etag <"$WORK_DIR/presign.json")
presigned_request_config "$WORK_DIR/presign.json" "$WORK_DIR/get.curl"

part="$target.part"
result=$(curl -sS --config "$WORK_DIR/get.curl" --connect-timeout 10 --speed-limit 1 --speed-time 60 \
  -o "$part" -w '%{http_code} %{time_total}') || {
  rm -f "$part"
  die "the download from S3 failed (connection)"
}
read -r get_status get_seconds <<<"$result"
if [ "$get_status" != 200 ]; then
  code=$(s3_error_code "$part")
  rm -f "$part"
  die "S3 refused the download: HTTP $get_status $code"
fi
get_ms=$(seconds_to_ms "$get_seconds")

received=$(wc -c <"$part" | tr -d ' ')
if [ -n "$size" ] && [ "$received" != "$size" ]; then
  rm -f "$part"
  die "received $received bytes, but the result has $size"
fi
checked="size checked"
if [[ $etag =~ ^[0-9a-f]{32}$ ]]; then
  md5=$(ddn_deploy md5-hex "$part")
  if [ "$md5" != "$etag" ]; then
    rm -f "$part"
    die "the downloaded bytes do not match the result's MD5"
  fi
  checked="size and MD5 checked"
fi
mv -f "$part" "$target"

[ "$waited" -eq 0 ] || note "waited:   $wait_ms ms for the result"
note "presign:  $presign_ms ms"
note "download: $get_ms ms"
note "total:    $((presign_ms + get_ms)) ms"
note "saved $received bytes to $target ($checked)"
