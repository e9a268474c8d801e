# shellcheck shell=bash
# Part of lib.sh: the function and what serves it. Its log groups, its environment, and bringing
# it to the package just built and to the current settings; the names of the HTTP API's routes
# and stage.
#
# Variables set here are read by the scripts that source lib.sh.
# shellcheck disable=SC2034

# The routes the HTTP API sends to the function: the single-request presign and the results list,
# and the multipart upload's five steps (crates/ddn-api/src/multipart.rs), each a POST because its
# JSON body can name thousands of parts.
API_ROUTES=("GET /presign" "GET /results"
  "POST /multipart/start" "POST /multipart/urls" "POST /multipart/parts"
  "POST /multipart/complete" "POST /multipart/abort")
# The HTTP API's stage that serves the API's root address; its name really is "$default".
# shellcheck disable=SC2016
DEFAULT_STAGE='$default'

# Creates a log group with the scripts' tag unless it exists; sets its retention either way.
ensure_log_group() {
  if aws_maybe ResourceAlreadyExistsException logs create-log-group --log-group-name "$1" \
    --tags "$DDN_TAG_KEY=$DDN_TAG_VALUE"; then
    note "created log group $1"
  fi
  aws logs put-retention-policy --log-group-name "$1" --retention-in-days "$DDN_LOG_RETENTION_DAYS"
}

# base64 of the SHA-256 of a file: how Lambda reports a package (CodeSha256).
code_sha256() { ddn_deploy code-sha256 "$1"; }

# The function's environment as the Lambda API takes it (JSON keeps commas in DDN_TOKENS intact).
# DDN_TOKENS is deployed as its checked entries, trimmed, joined by commas.
function_environment() {
  local tokens=
  if [ "$DDN_AUTH" = token ]; then
    check_token_entries
    tokens=$(
      IFS=,
      printf '%s' "${TOKEN_ENTRIES[*]}"
    )
  fi
  DDN_IN_BUCKET=$DDN_IN_BUCKET DDN_OUT_BUCKET=$DDN_OUT_BUCKET DDN_AUTH=$DDN_AUTH \
    DDN_TOKENS=$tokens DDN_URL_TTL_SECONDS=$DDN_URL_TTL_SECONDS \
    DDN_REQUIRE_SIZE=$DDN_REQUIRE_SIZE RUST_LOG=$RUST_LOG ddn_deploy function-environment
}

# Creates the function from PACKAGE_ZIP, or brings an existing one to this code and configuration;
# sets FUNCTION_ARN.
deploy_function() {
  function_environment >"$WORK_DIR/environment.json"
  local settings=(--role "$ROLE_ARN" --runtime provided.al2023 --handler bootstrap
    --memory-size "$DDN_LAMBDA_MEMORY_MB" --timeout "$DDN_LAMBDA_TIMEOUT_SECONDS"
    --environment "file://$WORK_DIR/environment.json")
  if function_exists; then
    FUNCTION_ARN=$CLI_OUT
    wait_function_updated
    local deployed
    deployed=$(aws lambda get-function-configuration --function-name "$DDN_LAMBDA_FUNC_NAME" \
      --query '[CodeSha256, Architectures[0]]' --output text)
    if [ "$deployed" = "$(code_sha256 "$PACKAGE_ZIP")	$DDN_LAMBDA_ARCH" ]; then
      note "code unchanged"
    else
      step "updating the code of $DDN_LAMBDA_FUNC_NAME"
      aws lambda update-function-code --function-name "$DDN_LAMBDA_FUNC_NAME" \
        --zip-file "fileb://$PACKAGE_ZIP" --architectures "$DDN_LAMBDA_ARCH" \
        --query CodeSha256 --output text >/dev/null
      wait_function_updated
    fi
    step "updating the configuration of $DDN_LAMBDA_FUNC_NAME"
    # The output would include the environment: keep it off the terminal.
    aws lambda update-function-configuration --function-name "$DDN_LAMBDA_FUNC_NAME" \
      "${settings[@]}" --query LastUpdateStatus --output text >/dev/null
    wait_function_updated
  else
    step "creating function $DDN_LAMBDA_FUNC_NAME"
    local attempt
    # A role created moments ago is not yet visible to Lambda everywhere (IAM is eventually
    # consistent); Lambda says so with "cannot be assumed", so wait and try again.
    for attempt in $(seq 1 12); do
      if aws_maybe 'cannot be assumed by Lambda' lambda create-function \
        --function-name "$DDN_LAMBDA_FUNC_NAME" "${settings[@]}" \
        --architectures "$DDN_LAMBDA_ARCH" --zip-file "fileb://$PACKAGE_ZIP" \
        --description "DDN presign function: S3 presigned URLs for authenticated callers" \
        --tags "$DDN_TAG_KEY=$DDN_TAG_VALUE" --query FunctionArn --output text; then
        FUNCTION_ARN=$CLI_OUT
        break
      fi
      [ "$attempt" -lt 12 ] || die "Lambda still cannot assume $ROLE_ARN after a minute: run ./00_prereqs.sh and check the role's trust policy"
      note "the new role is not visible to Lambda yet; trying again in 5 s"
      sleep 5
    done
    aws lambda wait function-active --function-name "$DDN_LAMBDA_FUNC_NAME"
  fi
  note "runtime provided.al2023, $DDN_LAMBDA_ARCH, $DDN_LAMBDA_MEMORY_MB MB, timeout $DDN_LAMBDA_TIMEOUT_SECONDS s, URL lifetime $DDN_URL_TTL_SECONDS s, auth $DDN_AUTH"

  if [ -n "$DDN_LAMBDA_RESERVED_CONCURRENCY" ]; then
    aws lambda put-function-concurrency --function-name "$DDN_LAMBDA_FUNC_NAME" \
      --reserved-concurrent-executions "$DDN_LAMBDA_RESERVED_CONCURRENCY" >/dev/null
    note "reserved concurrency $DDN_LAMBDA_RESERVED_CONCURRENCY"
  else
    aws lambda delete-function-concurrency --function-name "$DDN_LAMBDA_FUNC_NAME"
  fi
}
