"""The function's IAM policy is least privilege: what it signs for, on its own folders, nothing else.

`assert_least_privilege` is also applied to the document the emulator holds after 00_prereqs.sh
(see test_aws_deploy.py); here it checks the documents lib.sh generates for several names.
"""

from __future__ import annotations

import json
import os
import subprocess
import unittest

from support import DEPLOY_DIR, tool_path

# Every action the function needs, and the service each belongs to.
ALLOWED_ACTIONS = {
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:GetObject",
    "s3:ListBucket",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
}
UPLOAD_ACTIONS = {"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}


def as_list(value):  # type: ignore[no-untyped-def]
    return value if isinstance(value, list) else [value]


def assert_least_privilege(
    test: unittest.TestCase,
    document: dict,
    *,
    in_bucket: str,
    out_bucket: str,
    region: str,
    account: str,
    function: str,
) -> None:
    test.assertEqual(document.get("Version"), "2012-10-17")
    log_group = f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}"
    granted: set[str] = set()
    for statement in as_list(document["Statement"]):
        test.assertEqual(statement["Effect"], "Allow", statement)
        for loose in ("NotAction", "NotResource", "Principal", "NotPrincipal"):
            test.assertNotIn(loose, statement)
        actions = as_list(statement["Action"])
        resources = as_list(statement["Resource"])
        for action in actions:
            test.assertNotIn("*", action, "no wildcard actions")
            test.assertIn(action, ALLOWED_ACTIONS)
        granted.update(actions)
        for resource in resources:
            test.assertNotEqual(resource, "*")
        services = {action.split(":")[0] for action in actions}
        test.assertEqual(len(services), 1, f"one service per statement: {statement}")
        if services == {"logs"}:
            test.assertEqual(set(resources) - {log_group, f"{log_group}:*"}, set())
            continue
        for action in actions:
            for resource in resources:
                if action in UPLOAD_ACTIONS:
                    test.assertEqual(resource, f"arn:aws:s3:::{in_bucket}/users/*")
                elif action == "s3:GetObject":
                    test.assertEqual(resource, f"arn:aws:s3:::{out_bucket}/users/*")
                else:  # s3:ListBucket: the output bucket, listings under users/ only.
                    test.assertEqual(resource, f"arn:aws:s3:::{out_bucket}")
                    test.assertIn("Condition", statement, "listing is limited to users/")
                    ((operator, condition),) = statement["Condition"].items()
                    test.assertIn(operator, ("StringLike", "StringLikeIfExists"))
                    test.assertEqual(condition, {"s3:prefix": ["users/*"]})
    test.assertEqual(granted, ALLOWED_ACTIONS, "the function needs every one of these")


def assert_lambda_only_trust(test: unittest.TestCase, document: dict) -> None:
    (statement,) = as_list(document["Statement"])
    test.assertEqual(statement["Effect"], "Allow")
    test.assertEqual(statement["Principal"], {"Service": "lambda.amazonaws.com"})
    test.assertEqual(statement["Action"], "sts:AssumeRole")


def generated(function: str, settings: dict[str, str]) -> dict:
    """A document printed by a lib.sh function with these settings."""
    environment = {
        "PATH": tool_path(),
        "DDN_ENV_FILE": os.devnull,
        "ACCOUNT_ID": "210987654321",
        **settings,
    }
    printed = subprocess.run(
        ["bash", "-c", f'source "$1"; load_settings; {function}', "bash", str(DEPLOY_DIR / "lib.sh")],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(printed.stdout)


class GeneratedPolicyTest(unittest.TestCase):
    def test_the_function_policy_grants_only_the_user_folders_and_its_own_logs(self) -> None:
        for names in (
            {},
            {"DDN_IN_BUCKET": "acme.uploads-1", "DDN_OUT_BUCKET": "acme.results-1", "DDN_LAMBDA_FUNC_NAME": "presign_prod"},
        ):
            settings = {"AWS_REGION": "ap-northeast-2", **names}
            with self.subTest(**names):
                assert_least_privilege(
                    self,
                    generated("function_policy", settings),
                    in_bucket=names.get("DDN_IN_BUCKET", "ddn-in-bucket"),
                    out_bucket=names.get("DDN_OUT_BUCKET", "ddn-out-bucket"),
                    region="ap-northeast-2",
                    account="210987654321",
                    function=names.get("DDN_LAMBDA_FUNC_NAME", "ddn-presign-lambda"),
                )

    def test_only_lambda_may_assume_the_role(self) -> None:
        assert_lambda_only_trust(self, generated("trust_policy", {"AWS_REGION": "eu-west-1"}))

    def test_names_that_could_break_out_of_the_document_are_refused(self) -> None:
        for name, value in (
            ("DDN_IN_BUCKET", 'x"],"Resource":"*'),
            ("DDN_OUT_BUCKET", "Out_Bucket"),
            ("DDN_LAMBDA_FUNC_NAME", "f:*"),
            ("AWS_REGION", "eu-west-1:*"),
        ):
            with self.subTest(name=name):
                environment = {"PATH": tool_path(), "DDN_ENV_FILE": os.devnull, "AWS_REGION": "eu-west-1", name: value}
                refused = subprocess.run(
                    ["bash", "-c", 'source "$1"; load_settings; ACCOUNT_ID=210987654321; require_aws; function_policy', "bash", str(DEPLOY_DIR / "lib.sh")],
                    env=environment,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                self.assertNotEqual(refused.returncode, 0)
                self.assertIn(name, refused.stderr)
                self.assertEqual(refused.stdout, "")


if __name__ == "__main__":
    unittest.main()
