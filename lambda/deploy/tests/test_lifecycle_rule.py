"""The lifecycle rule that aborts abandoned multipart uploads covers every upload the function starts.

The function starts multipart uploads under users/<user id>/ of the input bucket; one a client
never completes or aborts (a laptop closed for good, an app removed) keeps its parts, billed as
storage, until S3 aborts it. `assert_aborts_abandoned_uploads` is also applied to the rules the
emulator holds after 00_prereqs.sh (see test_aws_deploy.py); here it checks the rule lib.sh
generates, and that the check itself refuses a rule that would miss those uploads.
"""

from __future__ import annotations

import os
import subprocess
import unittest

from support import DEPLOY_DIR, tool_path
from test_iam_policy import generated

RULE_ID = "ddn-abort-incomplete-multipart-uploads"
# Where the function starts a multipart upload: the caller's folder in the input bucket.
MULTIPART_KEY = "users/alice/holiday/video.mov"


def covers_every_upload_under(rule: dict, key: str) -> bool:
    """Whether S3 applies the rule to a multipart upload of `key`: enabled, a prefix of the key
    (in the filter, in its And, or in the older top-level Prefix), and nothing else that could
    leave an upload out (a tag or size condition)."""
    if rule.get("Status") != "Enabled":
        return False
    found = rule.get("Filter", {})
    if "And" in found:
        found = found["And"]
    if set(found) - {"Prefix"} or ("Prefix" in rule and "Filter" in rule):
        return False
    prefix = found.get("Prefix", rule.get("Prefix", ""))
    return key.startswith(prefix)


def assert_aborts_abandoned_uploads(test: unittest.TestCase, rules: list[dict], *, days: int) -> None:
    """The scripts' rule is there once, aborts uploads `days` after they were started, and covers
    the uploads the function starts."""
    (rule,) = [r for r in rules if r.get("ID") == RULE_ID]
    test.assertEqual(rule["AbortIncompleteMultipartUpload"], {"DaysAfterInitiation": days})
    test.assertTrue(covers_every_upload_under(rule, MULTIPART_KEY), rule)


class GeneratedRuleTest(unittest.TestCase):
    def test_the_rule_aborts_uploads_in_the_user_folders_after_the_set_days(self) -> None:
        for settings, days in (({}, 3), ({"DDN_ABORT_MULTIPART_DAYS": "7"}, 7), ({"DDN_ABORT_MULTIPART_DAYS": "365"}, 365)):
            with self.subTest(**settings):
                rule = generated("abort_multipart_rule", {"AWS_REGION": "eu-west-1", **settings})
                assert_aborts_abandoned_uploads(self, [rule], days=days)
                # It does nothing else: no expiry of objects, no transition.
                self.assertEqual(set(rule), {"ID", "Status", "Filter", "AbortIncompleteMultipartUpload"})

    def test_the_check_refuses_a_rule_that_misses_the_user_folders(self) -> None:
        rule = generated("abort_multipart_rule", {"AWS_REGION": "eu-west-1"})
        assert_aborts_abandoned_uploads(self, [rule], days=3)
        for what, change in (
            ("disabled", {"Status": "Disabled"}),
            ("another prefix", {"Filter": {"Prefix": "uploads/"}}),
            ("the failure markers only", {"Filter": {"Prefix": "failed/users/"}}),
            ("another user's folder", {"Filter": {"Prefix": "users/bob/"}}),
            ("a tag", {"Filter": {"Tag": {"Key": "app", "Value": "ddn"}}}),
            ("a prefix and a size", {"Filter": {"And": {"Prefix": "users/", "ObjectSizeGreaterThan": 1}}}),
            ("a legacy prefix elsewhere", {"Filter": None, "Prefix": "tmp/"}),
            ("other days", {"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 30}}),
        ):
            with self.subTest(what):
                widened = {**rule, **change}
                widened = {key: value for key, value in widened.items() if value is not None}
                with self.assertRaises(AssertionError):
                    assert_aborts_abandoned_uploads(self, [widened], days=3)
        # Prefixes the uploads do fall under pass, as S3 would apply them.
        for prefix in ("", "users/", "users/alice/"):
            with self.subTest(prefix=prefix):
                assert_aborts_abandoned_uploads(self, [{**rule, "Filter": {"Prefix": prefix}}], days=3)
        assert_aborts_abandoned_uploads(self, [{**rule, "Filter": {"And": {"Prefix": "users/"}}}], days=3)

    def test_days_outside_what_s3_accepts_are_refused(self) -> None:
        for days in ("0", "366", "three", "-1"):
            with self.subTest(days=days):
                environment = {"PATH": tool_path(), "DDN_ENV_FILE": os.devnull, "AWS_REGION": "eu-west-1", "DDN_ABORT_MULTIPART_DAYS": days}
                refused = subprocess.run(
                    ["bash", "-c", 'source "$1"; load_settings; abort_multipart_rule', "bash", str(DEPLOY_DIR / "lib.sh")],
                    env=environment,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                self.assertNotEqual(refused.returncode, 0)
                self.assertIn("DDN_ABORT_MULTIPART_DAYS", refused.stderr)
                self.assertEqual(refused.stdout, "")


if __name__ == "__main__":
    unittest.main()
