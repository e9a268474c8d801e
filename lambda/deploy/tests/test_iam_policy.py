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

LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
# What the function does in users/* of the input bucket, by IAM action. s3:PutObject covers the
# presigned PUT, CreateMultipartUpload, each presigned UploadPart and CompleteMultipartUpload;
# /multipart/abort needs s3:AbortMultipartUpload and /multipart/parts (ListParts)
# s3:ListMultipartUploadParts. Listing every upload of the bucket (s3:ListBucketMultipartUploads)
# is not needed: the caller names its upload, and the function asks S3 about that one alone.
UPLOAD_ACTIONS = ("s3:PutObject",)
MULTIPART_ACTIONS = ("s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
# S3 checks ListBucket for a HeadObject of a missing key without an s3:prefix, hence IfExists.
LISTING_CONDITION = {"StringLikeIfExists": {"s3:prefix": ["failed/users/*", "users/*"]}}
INPUT_LISTING_CONDITION = {"StringLikeIfExists": {"s3:prefix": ["users/*"]}}


def as_list(value):  # type: ignore[no-untyped-def]
    return value if isinstance(value, list) else [value]


def expected_grants(*, in_bucket: str, out_bucket: str, log_group: str) -> set[tuple[str, str, str]]:
    """Every (action, resource, condition) the function needs, and nothing else: put into users/*
    of the input bucket, and abort or list the parts of its multipart uploads there, read users/*
    of the output bucket (results) and failed/users/* (the processor's failure markers, which the
    function only asks HeadObject about), list the output bucket under those two prefixes only,
    HeadObject an input object under users/* and list the input bucket there (a completion whose
    answer was lost is recognised by the upload id on the object it made; without the listing a
    missing object would read as 403, not 404), and write its own logs."""
    grants = {(action, f"arn:aws:s3:::{in_bucket}/users/*", "") for action in UPLOAD_ACTIONS + MULTIPART_ACTIONS}
    grants |= {
        ("s3:GetObject", f"arn:aws:s3:::{out_bucket}/users/*", ""),
        ("s3:GetObject", f"arn:aws:s3:::{out_bucket}/failed/users/*", ""),
        ("s3:ListBucket", f"arn:aws:s3:::{out_bucket}", canonical(LISTING_CONDITION)),
        ("s3:GetObject", f"arn:aws:s3:::{in_bucket}/users/*", ""),
        ("s3:ListBucket", f"arn:aws:s3:::{in_bucket}", canonical(INPUT_LISTING_CONDITION)),
    }
    grants |= {(action, resource, "") for action in LOG_ACTIONS for resource in (log_group, f"{log_group}:*")}
    return grants


def canonical(condition: dict | None) -> str:
    """A condition as comparable text: list values in any order mean the same."""
    if not condition:
        return ""
    return json.dumps(
        {operator: {key: sorted(as_list(value)) for key, value in tests.items()} for operator, tests in condition.items()},
        sort_keys=True,
    )


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
    granted: set[tuple[str, str, str]] = set()
    for statement in as_list(document["Statement"]):
        test.assertEqual(statement["Effect"], "Allow", statement)
        for loose in ("NotAction", "NotResource", "Principal", "NotPrincipal"):
            test.assertNotIn(loose, statement)
        for action in as_list(statement["Action"]):
            test.assertNotIn("*", action, "no wildcard actions")
            for resource in as_list(statement["Resource"]):
                granted.add((action, resource, canonical(statement.get("Condition"))))
    test.assertEqual(
        granted,
        expected_grants(in_bucket=in_bucket, out_bucket=out_bucket, log_group=log_group),
        "exactly what the function needs",
    )


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

    def test_the_check_refuses_anything_wider(self) -> None:
        names = dict(in_bucket="ddn-in-bucket", out_bucket="ddn-out-bucket", region="eu-west-1", account="210987654321", function="ddn-presign-lambda")
        document = generated("function_policy", {"AWS_REGION": "eu-west-1"})
        assert_least_privilege(self, document, **names)
        out = "arn:aws:s3:::ddn-out-bucket"
        inb = "arn:aws:s3:::ddn-in-bucket"

        def widened(change):  # type: ignore[no-untyped-def]
            copy = json.loads(json.dumps(document))
            change(copy["Statement"])
            return copy

        def by_sid(statements, sid):  # type: ignore[no-untyped-def]
            (statement,) = [s for s in statements if s["Sid"] == sid]
            return statement

        for what, change in (
            ("a wildcard action", lambda st: by_sid(st, "ReadResultsInUserFolders").update(Action="s3:Get*")),
            ("one more action", lambda st: by_sid(st, "ReadResultsInUserFolders").update(Action=["s3:GetObject", "s3:DeleteObject"])),
            ("the whole output bucket", lambda st: by_sid(st, "ReadResultsInUserFolders").update(Resource=f"{out}/*")),
            ("all of failed/", lambda st: by_sid(st, "ReadFailureMarkersOfUserFolders").update(Resource=f"{out}/failed/*")),
            ("no failure markers", lambda st: st.remove(by_sid(st, "ReadFailureMarkersOfUserFolders"))),
            ("any resource", lambda st: by_sid(st, "WriteOwnLogs").update(Resource="*")),
            ("listing anything", lambda st: by_sid(st, "ListResultsInUserFolders").pop("Condition")),
            ("listing one more prefix", lambda st: by_sid(st, "ListResultsInUserFolders")["Condition"]["StringLikeIfExists"]["s3:prefix"].append("*")),
            ("listing without failed/", lambda st: by_sid(st, "ListResultsInUserFolders")["Condition"]["StringLikeIfExists"].update({"s3:prefix": ["users/*"]})),
            ("a NotResource", lambda st: by_sid(st, "WriteOwnLogs").update(NotResource="x")),
            ("no aborting", lambda st: by_sid(st, "UploadIntoUserFolders").update(Action=["s3:PutObject", "s3:ListMultipartUploadParts"])),
            ("no listing of parts", lambda st: by_sid(st, "UploadIntoUserFolders").update(Action=["s3:PutObject", "s3:AbortMultipartUpload"])),
            ("uploads into the whole input bucket", lambda st: by_sid(st, "UploadIntoUserFolders").update(Resource=f"{inb}/*")),
            ("aborting anywhere in the input bucket", lambda st: st.append({"Effect": "Allow", "Action": "s3:AbortMultipartUpload", "Resource": f"{inb}/*"})),
            ("listing every multipart upload", lambda st: st.append({"Effect": "Allow", "Action": "s3:ListBucketMultipartUploads", "Resource": inb})),
            ("multipart in the output bucket", lambda st: by_sid(st, "ReadResultsInUserFolders").update(Action=["s3:GetObject", "s3:AbortMultipartUpload"])),
            ("every multipart action", lambda st: by_sid(st, "UploadIntoUserFolders").update(Action=["s3:PutObject", "s3:*MultipartUpload*"])),
        ):
            with self.subTest(what):
                with self.assertRaises(AssertionError):
                    assert_least_privilege(self, widened(change), **names)

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
