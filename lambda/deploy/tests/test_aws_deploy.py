"""The deploy scripts, end to end against an AWS emulator (moto) on loopback.

The main test runs the whole life of a deployment: prerequisites, create (twice), update, cleanup
(twice), and after each stage compares everything the emulator holds with what should be there.
The others cover taking over the old scripts' role and buckets, keeping a default encryption
already chosen, keeping data and roles the scripts did not create at cleanup, and settings that
must stop a script before it changes anything.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import subprocess
import unittest
import zipfile

from support import ACCOUNT_ID, DEPLOY_DIR, REGION, REPO_ROOT, Emulator, Scripts, cargo_target_dir, describe, new_token, tool_path
from test_iam_policy import assert_lambda_only_trust, assert_least_privilege
from test_lifecycle_rule import assert_aborts_abandoned_uploads

IN_BUCKET = "ddn-test-in"
OUT_BUCKET = "ddn-test-out"
ROLE = "ddn-test-role"
FUNCTION = "ddn-test-presign"
API = "ddn-test-api"
FUNCTION_LOG_GROUP = f"/aws/lambda/{FUNCTION}"
API_LOG_GROUP = f"/aws/apigateway/{API}"
# The routes the API sends to the function: the single-request presign, the results list, and the
# multipart upload's steps (crates/ddn-api/src/multipart.rs), each a POST with a JSON body.
SINGLE_ROUTES = ("GET /presign", "GET /results")
MULTIPART_ROUTES = (
    "POST /multipart/start",
    "POST /multipart/urls",
    "POST /multipart/parts",
    "POST /multipart/complete",
    "POST /multipart/abort",
)
ROUTES = SINGLE_ROUTES + MULTIPART_ROUTES
# What Lambda accepts as a permission's statement id.
STATEMENT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

# The .env file the scripts read: comments, quotes and `export` as people write them.
ENV_FILE = f"""\
# deployment under test
AWS_REGION={REGION}
DDN_IN_BUCKET={IN_BUCKET}
DDN_OUT_BUCKET="{OUT_BUCKET}"
export DDN_LAMBDA_ROLE={ROLE}
DDN_LAMBDA_FUNC_NAME='{FUNCTION}'
DDN_API_NAME={API}   # the HTTP API
DDN_URL_TTL_SECONDS=900
DDN_LAMBDA_TIMEOUT_SECONDS=5
"""


class Deployment(unittest.TestCase):
    emulator: Emulator

    @classmethod
    def setUpClass(cls) -> None:
        cls.emulator = Emulator()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.emulator.stop()

    def setUp(self) -> None:
        self.emulator.reset()
        self.scripts = Scripts(self.emulator, ENV_FILE)
        self.addCleanup(self.scripts.cleanup)
        self.secrets: list[str] = []
        self.outputs: list[str] = []
        self.iam = self.emulator.client("iam")
        self.s3 = self.emulator.client("s3")
        self.lam = self.emulator.client("lambda")
        self.api = self.emulator.client("apigatewayv2")
        self.logs = self.emulator.client("logs")

    def run_script(self, script: str, expect: int = 0, **extra: str):  # type: ignore[no-untyped-def]
        process = self.scripts.run(script, extra)
        self.assertEqual(process.returncode, expect, f"{script}: {describe(process)}")
        self.outputs.append(process.stdout + process.stderr)
        return process

    def assert_no_secret_escaped(self) -> None:
        """No token or token hash in any output, nor on any command line."""
        seen = "\n".join(self.outputs) + self.scripts.argv()
        for secret in self.secrets:
            self.assertNotIn(secret, seen)

    # -- what the emulator holds ----------------------------------------------------------------

    def assert_buckets_secured(self, encryption: dict[str, dict[str, str]] | None = None) -> None:
        """Both buckets have the scripts' settings; `encryption` gives a bucket's expected default
        encryption when it is not SSE-S3."""
        names = sorted(bucket["Name"] for bucket in self.s3.list_buckets()["Buckets"])
        self.assertEqual(names, sorted([IN_BUCKET, OUT_BUCKET]))
        for bucket in (IN_BUCKET, OUT_BUCKET):
            with self.subTest(bucket=bucket):
                block = self.s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
                self.assertEqual(set(block.values()), {True})
                self.assertEqual(len(block), 4)
                (rule,) = self.s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
                expected = (encryption or {}).get(bucket, {"SSEAlgorithm": "AES256"})
                self.assertEqual(rule["ApplyServerSideEncryptionByDefault"], expected)
                (ownership,) = self.s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
                self.assertEqual(ownership["ObjectOwnership"], "BucketOwnerEnforced")
                policy = json.loads(self.s3.get_bucket_policy(Bucket=bucket)["Policy"])
                (tls,) = [s for s in policy["Statement"] if s.get("Sid") == "DenyInsecureTransport"]
                self.assertEqual(tls["Effect"], "Deny")
                self.assertEqual(tls["Principal"], "*")
                self.assertEqual(tls["Action"], "s3:*")
                self.assertEqual(sorted(tls["Resource"]), [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])
                self.assertEqual(tls["Condition"], {"Bool": {"aws:SecureTransport": "false"}})
                # Multipart uploads go to users/ of the input bucket; the rule covers them (and
                # any of the processor's in the output bucket).
                rules = self.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
                assert_aborts_abandoned_uploads(self, rules, days=3)

    def assert_role(self, name: str = ROLE) -> None:
        roles = [role["RoleName"] for role in self.iam.list_roles()["Roles"]]
        self.assertEqual(roles, [name])
        role = self.iam.get_role(RoleName=name)["Role"]
        assert_lambda_only_trust(self, role["AssumeRolePolicyDocument"])
        self.assertEqual(self.iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"], [])
        self.assertEqual(self.iam.list_role_policies(RoleName=name)["PolicyNames"], ["ddn-presign-access"])
        document = self.iam.get_role_policy(RoleName=name, PolicyName="ddn-presign-access")["PolicyDocument"]
        assert_least_privilege(
            self,
            document,
            in_bucket=IN_BUCKET,
            out_bucket=OUT_BUCKET,
            region=REGION,
            account=ACCOUNT_ID,
            function=FUNCTION,
        )

    def assert_function(self, *, memory: int, tokens: str | None, require_size: str = "false") -> str:
        """The function as deployed; `tokens` is DDN_TOKENS, or None for open access."""
        functions = [f["FunctionName"] for f in self.lam.list_functions()["Functions"]]
        self.assertEqual(functions, [FUNCTION])
        config = self.lam.get_function_configuration(FunctionName=FUNCTION)
        self.assertEqual(config["Runtime"], "provided.al2023")
        self.assertEqual(config["Handler"], "bootstrap")
        self.assertEqual(config["Architectures"], ["x86_64"])
        self.assertEqual(config["MemorySize"], memory)
        self.assertEqual(config["Timeout"], 5)
        self.assertEqual(config["Role"], f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE}")
        environment = {
            "DDN_IN_BUCKET": IN_BUCKET,
            "DDN_OUT_BUCKET": OUT_BUCKET,
            "DDN_AUTH": "token" if tokens is not None else "none",
            "DDN_URL_TTL_SECONDS": "900",
            "DDN_REQUIRE_SIZE": require_size,
            "RUST_LOG": "info",
        }
        if tokens is not None:
            environment["DDN_TOKENS"] = tokens
        self.assertEqual(config["Environment"]["Variables"], environment)
        # The deployed package is the zip of the release binary just built, runnable by Lambda.
        target = cargo_target_dir()
        package = (target / "deploy" / "ddn-presign-x86_64.zip").read_bytes()
        self.assertEqual(config["CodeSha256"], base64.b64encode(hashlib.sha256(package).digest()).decode())
        with zipfile.ZipFile(io.BytesIO(package)) as archive:
            (entry,) = archive.infolist()
            self.assertEqual(entry.filename, "bootstrap")
            self.assertEqual(entry.external_attr >> 16, 0o100755)
            self.assertEqual(archive.read(entry), (target / "release" / "bootstrap").read_bytes())
        return config["FunctionArn"]

    def assert_api(self, function_arn: str, *, rate: float, burst: int) -> str:
        apis = self.api.get_apis()["Items"]
        self.assertEqual([(a["Name"], a["ProtocolType"]) for a in apis], [(API, "HTTP")])
        api_id = apis[0]["ApiId"]
        (integration,) = self.api.get_integrations(ApiId=api_id)["Items"]
        self.assertEqual(integration["IntegrationType"], "AWS_PROXY")
        self.assertEqual(integration["IntegrationUri"], function_arn)
        self.assertEqual(integration["PayloadFormatVersion"], "2.0")
        routes = {r["RouteKey"]: r["Target"] for r in self.api.get_routes(ApiId=api_id)["Items"]}
        target = f"integrations/{integration['IntegrationId']}"
        self.assertEqual(routes, {route: target for route in ROUTES})
        (stage,) = self.api.get_stages(ApiId=api_id)["Items"]
        self.assertEqual(stage["StageName"], "$default")
        self.assertTrue(stage["AutoDeploy"])
        self.assertEqual(stage["DefaultRouteSettings"]["ThrottlingRateLimit"], rate)
        self.assertEqual(stage["DefaultRouteSettings"]["ThrottlingBurstLimit"], burst)
        access = stage["AccessLogSettings"]
        self.assertEqual(access["DestinationArn"], f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{API_LOG_GROUP}")
        fields = json.loads(access["Format"])
        self.assertIn("$context.requestId", fields.values())
        self.assertIn("$context.status", fields.values())
        for variable in fields.values():
            # Context variables only: nothing of the request's query string or headers.
            self.assertTrue(variable.startswith("$context."), variable)
            self.assertNotIn("querystring", variable.lower())
            self.assertNotIn("header", variable.lower())

        # Each route, and nothing else, may invoke the function.
        policy = json.loads(self.lam.get_policy(FunctionName=FUNCTION)["Policy"])
        sources = set()
        for statement in policy["Statement"]:
            self.assertEqual(statement["Principal"], {"Service": "apigateway.amazonaws.com"})
            self.assertEqual(statement["Action"], "lambda:InvokeFunction")
            # moto takes any statement id; Lambda refuses one with a slash.
            self.assertRegex(statement["Sid"], STATEMENT_ID)
            sources.add(statement["Condition"]["ArnLike"]["AWS:SourceArn"])
        self.assertEqual(len(policy["Statement"]), len(ROUTES))
        prefix = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{api_id}/*"
        self.assertEqual(sources, {f"{prefix}/{route.replace(' ', '', 1)}" for route in ROUTES})
        return apis[0]["ApiEndpoint"]

    def assert_log_groups(self) -> None:
        groups = {g["logGroupName"]: g.get("retentionInDays") for g in self.logs.describe_log_groups()["logGroups"]}
        self.assertEqual(groups, {FUNCTION_LOG_GROUP: 30, API_LOG_GROUP: 30})

    def assert_empty(self) -> None:
        self.assertEqual(self.s3.list_buckets()["Buckets"], [])
        self.assertEqual(self.iam.list_roles()["Roles"], [])
        self.assertEqual(self.lam.list_functions()["Functions"], [])
        self.assertEqual(self.api.get_apis()["Items"], [])
        self.assertEqual(self.logs.describe_log_groups()["logGroups"], [])

    # -- the tests ------------------------------------------------------------------------------

    def test_a_deployment_from_nothing_to_update_to_nothing(self) -> None:
        token, entry = new_token("alice")
        rotated_token, rotated_entry = new_token("alice")
        self.secrets += [token, rotated_token, entry.split(":")[1], rotated_entry.split(":")[1]]

        self.run_script("00_prereqs.sh")
        self.assert_buckets_secured()
        self.assert_role()

        created = self.run_script("01_create_function.sh", DDN_TOKENS=entry)
        function_arn = self.assert_function(memory=128, tokens=entry)
        endpoint = self.assert_api(function_arn, rate=50.0, burst=100)
        self.assertIn(f"API: {endpoint}", created.stdout)
        self.assert_log_groups()

        # Again, with other settings: everything is updated in place, nothing is duplicated.
        self.run_script("00_prereqs.sh")
        calls_before = len(self.scripts.argv().splitlines())
        again = self.run_script("01_create_function.sh", DDN_TOKENS=entry, DDN_API_THROTTLE_RATE="20", DDN_API_THROTTLE_BURST="40")
        self.assertIn("code unchanged", again.stdout)
        calls = "\n".join(self.scripts.argv().splitlines()[calls_before:])
        # What is already right is left alone: no new code, no gap in the invoke permissions.
        for untouched in ("update-function-code", "remove-permission", "add-permission", "create-function", "create-api", "create-integration", "create-route", "create-stage"):
            self.assertNotIn(untouched, calls)
        self.assertIn("update-stage", calls)
        self.assertEqual(self.assert_function(memory=128, tokens=entry), function_arn)
        self.assertEqual(self.assert_api(function_arn, rate=20.0, burst=40), endpoint)
        self.assert_buckets_secured()
        self.assert_role()
        self.assert_log_groups()

        # Rotation: the new token is added beside the old one; the test scripts find the API.
        both = f"{entry}, {rotated_entry}"
        self.run_script("02_update_function.sh", DDN_TOKENS=both, DDN_LAMBDA_MEMORY_MB="256", DDN_REQUIRE_SIZE="true")
        self.assert_function(memory=256, tokens=f"{entry},{rotated_entry}", require_size="true")
        found = self.scripts.lib('load_settings; resolve_api_url; echo "$API_URL"')
        self.assertEqual(found.stdout.strip().splitlines()[-1], endpoint, describe(found))

        # Open access is deployed only when confirmed; unconfirmed, nothing changes.
        refused = self.run_script("02_update_function.sh", expect=1, DDN_AUTH="none", DDN_CONFIRM_OPEN_ACCESS="true")
        self.assertIn("also set DDN_CONFIRM_OPEN_ACCESS=yes", refused.stderr)
        self.assert_function(memory=256, tokens=f"{entry},{rotated_entry}", require_size="true")
        opened = self.run_script("02_update_function.sh", DDN_AUTH="none", DDN_CONFIRM_OPEN_ACCESS="yes")
        self.assertIn("DDN_AUTH=none (confirmed by DDN_CONFIRM_OPEN_ACCESS=yes)", opened.stderr)
        self.assert_function(memory=128, tokens=None)

        self.run_script("99_cleanup.sh")
        self.assert_empty()
        second = self.run_script("99_cleanup.sh")
        self.assertIn("no function", second.stdout)
        self.assert_empty()
        self.assert_no_secret_escaped()

    def test_an_api_deployed_before_multipart_uploads_gains_their_routes(self) -> None:
        _, entry = new_token("carol")
        self.run_script("00_prereqs.sh")
        self.run_script("01_create_function.sh", DDN_TOKENS=entry)
        function_arn = self.assert_function(memory=128, tokens=entry)
        endpoint = self.assert_api(function_arn, rate=50.0, burst=100)

        # As the scripts before multipart uploads left the API: the two GET routes only, and the
        # permissions for those two.
        (api,) = self.api.get_apis()["Items"]
        for route in self.api.get_routes(ApiId=api["ApiId"])["Items"]:
            if route["RouteKey"] in MULTIPART_ROUTES:
                self.api.delete_route(ApiId=api["ApiId"], RouteId=route["RouteId"])
        for statement in json.loads(self.lam.get_policy(FunctionName=FUNCTION)["Policy"])["Statement"]:
            if "/POST/" in statement["Condition"]["ArnLike"]["AWS:SourceArn"]:
                self.lam.remove_permission(FunctionName=FUNCTION, StatementId=statement["Sid"])
        self.assertEqual({r["RouteKey"] for r in self.api.get_routes(ApiId=api["ApiId"])["Items"]}, set(SINGLE_ROUTES))

        calls_before = len(self.scripts.argv().splitlines())
        self.run_script("01_create_function.sh", DDN_TOKENS=entry)
        calls = self.scripts.argv().splitlines()[calls_before:]
        # The same API, its routes all there, each created once with its own permission, and the
        # routes and permissions that were right left alone.
        self.assertEqual(self.assert_api(function_arn, rate=50.0, burst=100), endpoint)
        self.assertEqual(sum("apigatewayv2 create-route" in call for call in calls), len(MULTIPART_ROUTES))
        self.assertEqual(sum("lambda add-permission" in call for call in calls), len(MULTIPART_ROUTES))
        for untouched in ("remove-permission", "create-api", "create-integration", "create-stage"):
            self.assertNotIn(untouched, "\n".join(calls))

    def test_the_old_role_and_buckets_are_taken_over_and_made_safe(self) -> None:
        # As the old scripts left them: a role with AmazonS3FullAccess, buckets with rules of their
        # own, a Python function.
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        self.iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        self.iam.attach_role_policy(RoleName=ROLE, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
        own_statement = {"Sid": "Auditors", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{OUT_BUCKET}/*"}
        own_rule = {"ID": "expire-old-results", "Status": "Enabled", "Filter": {"Prefix": "users/"}, "Expiration": {"Days": 90}}
        for bucket in (IN_BUCKET, OUT_BUCKET):
            self.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.s3.put_bucket_policy(Bucket=OUT_BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [own_statement]}))
        self.s3.put_bucket_lifecycle_configuration(Bucket=OUT_BUCKET, LifecycleConfiguration={"Rules": [own_rule]})
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("lambda_function.py", "def lambda_handler(event, context):\n    return {}\n")
        self.lam.create_function(FunctionName=FUNCTION, Runtime="python3.12", Role=f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE}", Handler="lambda_function.lambda_handler", Code={"ZipFile": archive.getvalue()})

        prereqs = self.run_script("00_prereqs.sh")
        self.assertIn("detached AmazonS3FullAccess", prereqs.stdout)
        self.assert_role()
        self.assert_buckets_secured()
        statements = json.loads(self.s3.get_bucket_policy(Bucket=OUT_BUCKET)["Policy"])["Statement"]
        self.assertIn(own_statement, statements)
        rules = self.s3.get_bucket_lifecycle_configuration(Bucket=OUT_BUCKET)["Rules"]
        self.assertIn("expire-old-results", [rule["ID"] for rule in rules])

        _, entry = new_token("bob")
        self.run_script("01_create_function.sh", DDN_TOKENS=entry)
        self.assert_function(memory=128, tokens=entry)

        # Neither the buckets nor the role were made by the scripts, so they stay (and the role,
        # which carries permissions, is named in the exit status).
        cleanup = self.run_script("99_cleanup.sh", expect=1)
        self.assertIn(f"kept bucket {IN_BUCKET}", cleanup.stdout)
        self.assertIn(f"kept role {ROLE}: 00_prereqs.sh did not create it", cleanup.stderr)
        self.assertEqual(sorted(b["Name"] for b in self.s3.list_buckets()["Buckets"]), sorted([IN_BUCKET, OUT_BUCKET]))
        self.assertEqual([role["RoleName"] for role in self.iam.list_roles()["Roles"]], [ROLE])
        self.assertEqual(self.lam.list_functions()["Functions"], [])

    def test_cleanup_deletes_only_a_role_the_scripts_created(self) -> None:
        # A role of the same name that someone else made, with its own tag and policy: 00 brings it
        # to the function's policy, but 99 leaves it (and whatever it holds) alone.
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        self.iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust), Tags=[{"Key": "app", "Value": "billing"}])
        own_policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:billing"}]}
        self.iam.put_role_policy(RoleName=ROLE, PolicyName="billing-queue", PolicyDocument=json.dumps(own_policy))
        self.run_script("00_prereqs.sh")

        kept = self.run_script("99_cleanup.sh", expect=1)
        self.assertIn(f"kept role {ROLE}: 00_prereqs.sh did not create it (no tag app=ddn-transfer)", kept.stderr)
        self.assertIn(f"cleanup done except for the role {ROLE}", kept.stderr)
        self.assertEqual([role["RoleName"] for role in self.iam.list_roles()["Roles"]], [ROLE])
        self.assertEqual(sorted(self.iam.list_role_policies(RoleName=ROLE)["PolicyNames"]), ["billing-queue", "ddn-presign-access"])
        # The buckets 00 created went as usual.
        self.assertEqual(self.s3.list_buckets()["Buckets"], [])

        # With the tag 00 gives the roles it creates, the role goes too.
        self.iam.tag_role(RoleName=ROLE, Tags=[{"Key": "app", "Value": "ddn-transfer"}])
        done = self.run_script("99_cleanup.sh")
        self.assertIn(f"deleted role {ROLE}", done.stdout)
        self.assert_empty()

    def test_a_default_encryption_already_chosen_is_kept(self) -> None:
        key = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
        chosen = {
            IN_BUCKET: {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
            OUT_BUCKET: {"SSEAlgorithm": "aws:kms:dsse", "KMSMasterKeyID": key},
        }
        for bucket, default in chosen.items():
            self.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
            self.s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]})

        for run in range(2):
            prereqs = self.run_script("00_prereqs.sh")
            self.assertIn(f"default encryption aws:kms with key {key}: kept", prereqs.stdout)
            self.assertIn(f"default encryption aws:kms:dsse with key {key}: kept", prereqs.stdout)
            # The key's policy is the owner's business, but the function cannot work without it.
            self.assertIn(f"bucket {IN_BUCKET} encrypts with the KMS key {key}: the key's policy must let the role {ROLE}", prereqs.stderr)
            self.assert_buckets_secured(encryption=chosen)
            for bucket in chosen:
                (rule,) = self.s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
                self.assertTrue(rule["BucketKeyEnabled"])
        self.assertNotIn("put-bucket-encryption", self.scripts.argv())

    def test_cleanup_keeps_buckets_that_hold_data_unless_told(self) -> None:
        self.run_script("00_prereqs.sh")
        self.s3.put_object(Bucket=OUT_BUCKET, Key="users/alice/result.png", Body=b"result")

        kept = self.run_script("99_cleanup.sh", expect=1)
        self.assertIn(f"kept bucket {OUT_BUCKET}: it still holds objects", kept.stderr)
        self.assertEqual([b["Name"] for b in self.s3.list_buckets()["Buckets"]], [OUT_BUCKET])
        self.assertEqual(self.iam.list_roles()["Roles"], [])

        self.run_script("99_cleanup.sh", DDN_CLEANUP_EMPTY_BUCKETS="1")
        self.assert_empty()

    def test_mistakes_stop_a_script_before_it_changes_anything(self) -> None:
        for script, settings, message in (
            ("00_prereqs.sh", {"DDN_IN_BUCKET": "Uploads_Bucket"}, "DDN_IN_BUCKET=Uploads_Bucket is not an S3 bucket name"),
            ("00_prereqs.sh", {"DDN_OUT_BUCKET": IN_BUCKET}, "must differ"),
            ("01_create_function.sh", {"DDN_TOKENS": ""}, "no tokens configured"),
            ("01_create_function.sh", {"DDN_TOKENS": " , "}, "no tokens configured"),
            ("01_create_function.sh", {"DDN_TOKENS": "alice:1234"}, "DDN_TOKENS entry 1 has a hash that is not 64 hexadecimal digits"),
            ("01_create_function.sh", {"DDN_TOKENS": f"ali ce:{'0' * 64}"}, "DDN_TOKENS entry 1 has whitespace inside it"),
            ("01_create_function.sh", {"DDN_TOKENS": f"a:{'0' * 64},b:{'0' * 64}"}, "entry 2 repeats the hash of entry 1"),
            ("01_create_function.sh", {"DDN_AUTH": "none"}, "also set DDN_CONFIRM_OPEN_ACCESS=yes"),
            ("01_create_function.sh", {"DDN_AUTH": "none", "DDN_CONFIRM_OPEN_ACCESS": "1"}, "also set DDN_CONFIRM_OPEN_ACCESS=yes"),
            ("01_create_function.sh", {"DDN_REQUIRE_SIZE": "yes", "DDN_TOKENS": f"a:{'0' * 64}"}, "DDN_REQUIRE_SIZE must be true or false, got yes"),
            ("01_create_function.sh", {"DDN_TOKENS": f"a:{'0' * 64}"}, f"role {ROLE} does not exist: run ./00_prereqs.sh first"),
            ("01_create_function.sh", {"DDN_AUTH": "off"}, "DDN_AUTH must be token or none"),
            ("01_create_function.sh", {"DDN_LAMBDA_MEMORY_MB": "64"}, "DDN_LAMBDA_MEMORY_MB must be a whole number from 128"),
            ("01_create_function.sh", {"DDN_LOG_RETENTION_DAYS": "10"}, "not a retention CloudWatch Logs offers"),
            ("02_update_function.sh", {"DDN_TOKENS": f"a:{'0' * 64}"}, f"function {FUNCTION} does not exist"),
            ("00_prereqs.sh", {"AWS_REGION": ""}, "AWS_REGION is not set"),
        ):
            with self.subTest(script=script, **settings):
                process = self.scripts.run(script, settings)
                self.assertEqual(process.returncode, 1, describe(process))
                self.assertIn(message, process.stderr)
        self.assert_empty()


class Routes(unittest.TestCase):
    def test_the_api_serves_the_routes_of_the_contract(self) -> None:
        # Every multipart path of the wire contract, as a POST route of the API, and no other.
        contract = (REPO_ROOT / "crates" / "ddn-api" / "src" / "multipart.rs").read_text()
        paths = re.findall(r'pub const [A-Z_]+_PATH: &str = "(/multipart/[a-z]+)";', contract)
        self.assertEqual(len(paths), 5, "the contract's paths are still found")
        self.assertEqual(set(MULTIPART_ROUTES), {f"POST {path}" for path in paths})
        # The scripts' list of routes is that one.
        printed = subprocess.run(
            ["bash", "-c", 'source "$1"; printf "%s\\n" "${API_ROUTES[@]}"', "bash", str(DEPLOY_DIR / "lib.sh")],
            env={"PATH": tool_path()},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        self.assertEqual(printed.stdout.splitlines(), list(ROUTES))


if __name__ == "__main__":
    unittest.main()
