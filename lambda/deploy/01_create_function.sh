#!/usr/bin/env bash
# Step 1: the function and its HTTP API.
#
# Builds the release `bootstrap` (runtime provided.al2023), zips it, and creates the function with
# its environment, memory and timeout (an existing function gets this code and configuration
# instead). Then the HTTP API (API Gateway v2): a Lambda proxy integration (payload 2.0), the
# routes (GET /presign, GET /results and the multipart upload's POST /multipart/start, urls, parts,
# complete and abort: API_ROUTES in lib/function.sh), the $default stage with throttling and JSON
# access logs (no query strings, no headers), and the permission for each of those routes to invoke
# the function. Prints the API's address. Safe to run again: everything is found by name and
# brought up to date, and an API deployed before a route existed gains it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_settings
require_aws
check_function_settings
aws_maybe NoSuchEntity iam get-role --role-name "$DDN_LAMBDA_ROLE" --query Role.Arn --output text ||
  die "role $DDN_LAMBDA_ROLE does not exist: run ./00_prereqs.sh first"

build_package
ensure_log_group "$FUNCTION_LOG_GROUP"
deploy_function

# The access log: one JSON line per request. Only context variables (listed in ddn_deploy.py),
# none of which holds the query string (file names) or a header (tokens).
access_log_settings() {
  ddn_deploy access-log-settings "arn:aws:logs:$AWS_REGION:$ACCOUNT_ID:log-group:$API_LOG_GROUP"
}

# The source ARN the function's permission statement $1 allows, or nothing when there is none.
permission_source() {
  aws_maybe ResourceNotFoundException lambda get-policy --function-name "$DDN_LAMBDA_FUNC_NAME" \
    --query Policy --output text || return 0
  printf '%s' "$CLI_OUT" | ddn_deploy permission-source "$1"
}

add_permission() {
  aws lambda add-permission --function-name "$DDN_LAMBDA_FUNC_NAME" --statement-id "$1" \
    --action lambda:InvokeFunction --principal apigateway.amazonaws.com --source-arn "$2" >/dev/null
}

ensure_api() {
  find_api
  if [ -z "$API_ID" ]; then
    step "creating HTTP API $DDN_API_NAME"
    API_ID=$(aws apigatewayv2 create-api --name "$DDN_API_NAME" --protocol-type HTTP \
      --description "DDN presign API" --tags "$DDN_TAG_KEY=$DDN_TAG_VALUE" \
      --query ApiId --output text)
  else
    step "updating HTTP API $DDN_API_NAME ($API_ID)"
  fi

  local integration
  integration=$(aws apigatewayv2 get-integrations --api-id "$API_ID" --output text \
    --query "Items[?IntegrationUri=='$FUNCTION_ARN'].IntegrationId | [0]")
  if [ -z "$integration" ] || [ "$integration" = None ]; then
    integration=$(aws apigatewayv2 create-integration --api-id "$API_ID" \
      --integration-type AWS_PROXY --integration-uri "$FUNCTION_ARN" \
      --payload-format-version 2.0 --query IntegrationId --output text)
    note "integration $integration: Lambda proxy, payload 2.0"
  else
    aws apigatewayv2 update-integration --api-id "$API_ID" --integration-id "$integration" \
      --integration-type AWS_PROXY --integration-uri "$FUNCTION_ARN" \
      --payload-format-version 2.0 >/dev/null
  fi

  local route route_id method path statement
  for route in "${API_ROUTES[@]}"; do
    route_id=$(aws apigatewayv2 get-routes --api-id "$API_ID" --output text \
      --query "Items[?RouteKey=='$route'].RouteId | [0]")
    if [ -z "$route_id" ] || [ "$route_id" = None ]; then
      aws apigatewayv2 create-route --api-id "$API_ID" --route-key "$route" \
        --target "integrations/$integration" >/dev/null
    else
      aws apigatewayv2 update-route --api-id "$API_ID" --route-id "$route_id" \
        --target "integrations/$integration" >/dev/null
    fi
    # Each route may invoke the function, and nothing else of any API may. A statement that is
    # already right is left alone, so running this again never leaves a route without permission.
    method=${route%% *}
    path=${route#* }
    # A statement id may hold letters, digits, '-', '_' and '.' only, so the path's slashes
    # become dashes: "POST /multipart/start" is ddn-api-POST-multipart-start.
    statement="ddn-api-$method-${path#/}"
    statement=${statement//\//-}
    source="arn:aws:execute-api:$AWS_REGION:$ACCOUNT_ID:$API_ID/*/$method$path"
    case "$(permission_source "$statement")" in
      "$source") ;;
      "") add_permission "$statement" "$source" ;;
      *)
        aws lambda remove-permission --function-name "$DDN_LAMBDA_FUNC_NAME" --statement-id "$statement"
        add_permission "$statement" "$source"
        ;;
    esac
    note "route $route -> $DDN_LAMBDA_FUNC_NAME"
  done

  ensure_log_group "$API_LOG_GROUP"
  access_log_settings >"$WORK_DIR/access-log.json"
  local throttling="ThrottlingRateLimit=$DDN_API_THROTTLE_RATE,ThrottlingBurstLimit=$DDN_API_THROTTLE_BURST"
  if aws_maybe NotFoundException apigatewayv2 get-stage --api-id "$API_ID" --stage-name "$DEFAULT_STAGE" \
    --query StageName --output text; then
    aws apigatewayv2 update-stage --api-id "$API_ID" --stage-name "$DEFAULT_STAGE" --auto-deploy \
      --access-log-settings "file://$WORK_DIR/access-log.json" \
      --default-route-settings "$throttling" >/dev/null
  else
    aws apigatewayv2 create-stage --api-id "$API_ID" --stage-name "$DEFAULT_STAGE" --auto-deploy \
      --access-log-settings "file://$WORK_DIR/access-log.json" \
      --default-route-settings "$throttling" --tags "$DDN_TAG_KEY=$DDN_TAG_VALUE" >/dev/null
  fi
  note "stage \$default: $DDN_API_THROTTLE_RATE requests/s (bursts of $DDN_API_THROTTLE_BURST), access log $API_LOG_GROUP"
}

ensure_api
API_URL=$(aws apigatewayv2 get-api --api-id "$API_ID" --query ApiEndpoint --output text)
step "the API is ready"
note "API: $API_URL"
note "try it: DDN_API_URL=$API_URL DDN_API_TOKEN=<a token> ./51_test_upload.sh"
