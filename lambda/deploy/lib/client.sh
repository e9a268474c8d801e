# shellcheck shell=bash
# Part of lib.sh: calling the API as a client does (51, 52). URLs and the token go to curl through
# a config file or standard input, never on its command line (which every user of the machine can
# read), and only to an address that keeps the token safe.
#
# Variables set here are read by the scripts that source lib.sh.
# shellcheck disable=SC2034

# The API's address: DDN_API_URL when set, else the endpoint of the API named DDN_API_NAME.
resolve_api_url() {
  if [ -n "${DDN_API_URL:-}" ]; then
    API_URL=${DDN_API_URL%/}
  else
    require_aws
    find_api
    [ -n "$API_ID" ] || die "no DDN_API_URL and no HTTP API named $DDN_API_NAME in $AWS_REGION: run ./01_create_function.sh first, or set DDN_API_URL"
    API_URL=$(aws apigatewayv2 get-api --api-id "$API_ID" --query ApiEndpoint --output text)
  fi
  check_api_url "$API_URL"
}

# A token goes only over TLS, or over plain HTTP to this machine: the API address must be https://,
# or http:// with a loopback host (127.0.0.0/8 written as four decimal numbers, [::1], localhost).
# Anything else stops the script before a request is made.
check_api_url() {
  local LC_ALL=C
  local url=$1 scheme authority host
  [[ $url =~ ^([A-Za-z]+)://([^/?#[:space:]]+)(/[^?#[:space:]]*)?$ ]] ||
    die "the API address '$url' is not an http(s) URL"
  scheme=${BASH_REMATCH[1],,}
  authority=${BASH_REMATCH[2]}
  # A user name in the address would make the host the part after the @, which is easy to misread.
  [[ $authority != *@* ]] || die "the API address '$url' holds a user name: remove the part before @"
  if [[ $authority =~ ^(\[[0-9A-Fa-f:.]+\])(:[0-9]*)?$ || $authority =~ ^([^:]+)(:[0-9]*)?$ ]]; then
    host=${BASH_REMATCH[1],,}
  else
    die "the API address '$url' is not an http(s) URL"
  fi
  case "$scheme" in
    https) ;;
    http)
      is_loopback_host "$host" ||
        die "the API address '$url' is plain http:// to another machine, which would send the token unencrypted: use https:// (plain http:// is accepted only for this machine: 127.x.x.x, [::1], localhost)"
      ;;
    *) die "the API address '$url' is not an http(s) URL" ;;
  esac
}

# Whether a host (lowercase, an IPv6 address in brackets) is this machine.
is_loopback_host() {
  local octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
  [ "$1" = localhost ] || [ "$1" = '[::1]' ] || [[ $1 =~ ^127\.$octet\.$octet\.$octet$ ]]
}

# Quotes a value for a curl config file.
curl_quote() {
  local value=${1//\\/\\\\}
  printf '"%s"' "${value//\"/\\\"}"
}

# Percent-encodes a query value (a space becomes %20, as the API expects).
url_encode() { ddn_deploy url-encode "$1"; }

# GET $API_URL$1 with the token; the body goes to file $2. Sets HTTP_STATUS and HTTP_MS.
api_get() {
  check_api_url "$API_URL"
  local result
  result=$({
    printf 'url = %s\n' "$(curl_quote "$API_URL$1")"
    [ -z "${DDN_API_TOKEN:-}" ] || printf 'header = %s\n' "$(curl_quote "Authorization: Bearer $DDN_API_TOKEN")"
  } | curl -sS --config - --connect-timeout 10 --max-time 60 -o "$2" -w '%{http_code} %{time_total}') ||
    die "cannot reach the API at $API_URL"
  read -r HTTP_STATUS HTTP_MS <<<"$result"
  HTTP_MS=$(seconds_to_ms "$HTTP_MS")
}

seconds_to_ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }

# Milliseconds on a monotonic clock.
now_ms() { ddn_deploy now-ms; }

# Explains an error answer of the API (file $1) and stops. Error messages never hold a URL or a
# token, so they can be shown.
api_failed() {
  local what code gateway
  if code=$(json_get error.code <"$1" 2>/dev/null) && [ -n "$code" ]; then
    what="$code: $(json_get error.message <"$1")"
  elif gateway=$(json_get message <"$1" 2>/dev/null) && [ -n "$gateway" ]; then
    # API Gateway's own answers (no such route, throttled, the function failed).
    what="API Gateway: $gateway"
  else
    what="an answer that is not the API's JSON"
  fi
  case "$HTTP_STATUS" in
    401) die "the API refused the token (401 $what): set DDN_API_TOKEN to a token whose hash is in DDN_TOKENS" ;;
    000) die "no answer from the API at $API_URL" ;;
    *) die "the API answered $HTTP_STATUS ($what)" ;;
  esac
}

# Writes a curl config (file $2) for the presigned request described by the API's answer (file $1):
# its URL and the headers it was signed with. curl sets Content-Length itself, from the file.
presigned_request_config() { ddn_deploy presigned-request-config "$1" "$2"; }

# The S3 error code in an error answer (file $1); S3's error body can quote the signed request, so
# only the code is ever shown.
s3_error_code() {
  sed -n 's:.*<Code>\([A-Za-z]*\)</Code>.*:\1:p' "$1" | head -n 1
}

# Settings of the test scripts: the test file, its name on the service, the API and the token.
load_client_settings() {
  load_settings
  require_commands curl python3
  DDN_TEST_IMAGE_PATH=${DDN_TEST_IMAGE_PATH:-}
  [ -n "$DDN_TEST_IMAGE_PATH" ] || [ -n "${DDN_TEST_IMAGE_KEY:-}" ] ||
    die "set DDN_TEST_IMAGE_PATH to the file to send (and DDN_TEST_IMAGE_KEY to its name on the service, if not its file name)"
  DDN_TEST_IMAGE_KEY=${DDN_TEST_IMAGE_KEY:-$(basename "$DDN_TEST_IMAGE_PATH")}
  DDN_TEST_WAIT_SECONDS=${DDN_TEST_WAIT_SECONDS:-60}
  check_number DDN_TEST_WAIT_SECONDS "$DDN_TEST_WAIT_SECONDS" 0 86400
  resolve_api_url
  [ -n "${DDN_API_TOKEN:-}" ] || [ "$DDN_AUTH" = none ] ||
    warn "DDN_API_TOKEN is not set: the API will refuse the request unless the function runs with DDN_AUTH=none"
  [[ ${DDN_API_TOKEN:-} =~ ^[A-Za-z0-9._~+/=-]*$ ]] || die "DDN_API_TOKEN has characters no token has"
}
