# shellcheck shell=bash
# Part of lib.sh: the AWS CLI. The region and the account, a way to tell "not there" from a real
# failure, and finding by name what the scripts made.
#
# Variables set here are read by the scripts that source lib.sh.
# shellcheck disable=SC2034

# Makes sure the AWS CLI, a region and the account are known (asking STS for the account when
# ACCOUNT_ID is not set).
require_aws() {
  require_commands aws python3
  [ -n "$AWS_REGION" ] || die "AWS_REGION is not set (for example AWS_REGION=eu-west-1 in .env)"
  [[ $AWS_REGION =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die "AWS_REGION=$AWS_REGION is not a region name"
  if [ -z "${ACCOUNT_ID:-}" ]; then
    ACCOUNT_ID=$(aws sts get-caller-identity --query Account --output text) ||
      die "cannot find the AWS account: are credentials configured? (aws sts get-caller-identity failed)"
  fi
  [[ $ACCOUNT_ID =~ ^[0-9]{12}$ ]] || die "ACCOUNT_ID=$ACCOUNT_ID is not a 12-digit AWS account id"
  [ -z "${AWS_ENDPOINT_URL:-}" ] || note "AWS endpoint: $AWS_ENDPOINT_URL"
  ROLE_ARN="arn:aws:iam::$ACCOUNT_ID:role/$DDN_LAMBDA_ROLE"
}

# Runs an AWS CLI command whose failure with one of the error codes in $1 (an extended regular
# expression) means "not there". Leaves the command's output in CLI_OUT and returns 0 on success,
# returns 1 for "not there", and stops the script with the CLI's message for any other failure.
CLI_OUT=
aws_maybe() {
  local codes=$1
  shift
  if aws "$@" >"$WORK_DIR/aws.out" 2>"$WORK_DIR/aws.err"; then
    CLI_OUT=$(cat "$WORK_DIR/aws.out")
    return 0
  fi
  CLI_OUT=
  if grep -Eq "$codes" "$WORK_DIR/aws.err"; then
    return 1
  fi
  cat "$WORK_DIR/aws.err" >&2
  die "aws $1 $2 failed"
}

# Sets API_ID (empty when there is none) to the HTTP API named DDN_API_NAME.
find_api() {
  local ids
  ids=$(aws apigatewayv2 get-apis --output text \
    --query "Items[?Name=='$DDN_API_NAME' && ProtocolType=='HTTP'].ApiId")
  ids=${ids//None/}
  read -r -a API_IDS <<<"$ids"
  case ${#API_IDS[@]} in
    0) API_ID= ;;
    1) API_ID=${API_IDS[0]} ;;
    *) die "several HTTP APIs are named $DDN_API_NAME (${API_IDS[*]}): delete the extra ones or set DDN_API_NAME" ;;
  esac
}

# Whether the function exists; leaves its ARN in CLI_OUT when it does.
function_exists() {
  aws_maybe ResourceNotFoundException lambda get-function-configuration \
    --function-name "$DDN_LAMBDA_FUNC_NAME" --query FunctionArn --output text
}

# Waits until the function has finished applying its last change (a second change is refused
# while one is in progress).
wait_function_updated() {
  aws lambda wait function-updated --function-name "$DDN_LAMBDA_FUNC_NAME"
}
