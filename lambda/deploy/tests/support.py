"""Shared by the deploy script tests: the AWS emulator, the scripts' environment, Cargo.

Everything runs on loopback: the emulator (moto) listens on 127.0.0.1, every AWS CLI call of the
scripts goes to it through AWS_ENDPOINT_URL, and the credentials are fake. Nothing here can reach
AWS.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path
from urllib.parse import unquote

DEPLOY_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = DEPLOY_DIR.parent.parent
REGION = "eu-west-1"
# The account moto answers for.
ACCOUNT_ID = "123456789012"
# A build of the release binary can take several minutes on a small machine.
BUILD_TIMEOUT = 3600


def tool_path() -> str:
    """PATH with the directory of the running Python (the venv with the pinned AWS CLI) first."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def cargo() -> str:
    return os.environ.get("CARGO", "cargo")


def cargo_target_dir() -> Path:
    if os.environ.get("CARGO_TARGET_DIR"):
        return Path(os.environ["CARGO_TARGET_DIR"])
    metadata = subprocess.run(
        [cargo(), "metadata", "--no-deps", "--format-version", "1"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(json.loads(metadata.stdout)["target_directory"])


def cargo_build(*args: str) -> None:
    subprocess.run(
        [cargo(), "build", "--locked", *args], cwd=REPO_ROOT, check=True, timeout=BUILD_TIMEOUT
    )


def _update_stage(self):  # type: ignore[no-untyped-def]
    """UpdateStage for moto's API Gateway v2, which lacks it (moto 5.2): applies the fields sent."""
    api_id = self.path.split("/")[-3]
    stage = self.apigatewayv2_backend.get_stage(api_id, unquote(self.path.split("/")[-1]))
    changes = json.loads(self.body)
    for field, attribute in (
        ("accessLogSettings", "access_log_settings"),
        ("autoDeploy", "auto_deploy"),
        ("defaultRouteSettings", "default_route_settings"),
        ("description", "description"),
        ("routeSettings", "route_settings"),
        ("stageVariables", "stage_variables"),
    ):
        if field in changes:
            setattr(stage, attribute, changes[field])
    stage.updated = datetime.datetime.now()
    return 200, {}, json.dumps(stage.to_json())


# The scheme of the request being served by this thread (the emulator serves each in its own).
_request = threading.local()


def _conditions_hold(conditions: dict, context: dict[str, str]) -> bool:
    """IAM condition evaluation for the operators bucket policies here use; a key missing from
    the context fails its test, as in IAM."""
    for operator, tests in conditions.items():
        for key, expected in tests.items():
            actual = context.get(key.lower())
            values = [str(value) for value in (expected if isinstance(expected, list) else [expected])]
            if operator == "Bool":
                holds = actual is not None and actual.lower() in [value.lower() for value in values]
            elif operator == "StringEquals":
                holds = actual in values
            else:
                holds = False
            if not holds:
                return False
    return True


def _teach_moto() -> None:
    """Fills two gaps of moto 5.2 that the deploy scripts run into.

    - API Gateway v2 has no UpdateStage: added above.
    - Bucket policies: moto evaluates conditions for trust policies only (an unmet condition
      denies, and only StringEquals is known), so a statement "deny everything unless
      aws:SecureTransport" denies everything. Here a bucket's policy is evaluated as S3 does for
      the bucket owner's requests: an explicit Deny whose conditions hold refuses, with
      aws:SecureTransport saying whether the request came over TLS.
    """
    from moto.apigatewayv2.responses import ApiGatewayV2Response
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult
    from moto.s3.models import FakeBucket

    if not hasattr(ApiGatewayV2Response, "update_stage"):
        ApiGatewayV2Response.update_stage = _update_stage

    def get_permission(self, action: str, resource: str):  # type: ignore[no-untyped-def]
        if self.policy is None:
            return PermissionResult.NEUTRAL
        context = {"aws:securetransport": "true" if getattr(_request, "scheme", "http") == "https" else "false"}
        statements = json.loads(self.policy)["Statement"]
        result = PermissionResult.NEUTRAL
        for statement in statements if isinstance(statements, list) else [statements]:
            matcher = IAMPolicyStatement(statement)
            if not (
                matcher._check_element_matches("Action", action)
                and matcher._check_element_matches("Resource", resource)
                and _conditions_hold(statement.get("Condition", {}), context)
            ):
                continue
            if statement["Effect"] == "Deny":
                return PermissionResult.DENIED
            result = PermissionResult.PERMITTED
        return result

    FakeBucket.get_permission = get_permission


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A private certificate authority and a certificate for 127.0.0.1 that it signed:
    (CA certificate, server certificate, server key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    valid = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1))

    def build(subject, issuer, public_key, signing_key, ca: bool, extensions):  # type: ignore[no-untyped-def]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid[0])
            .not_valid_after(valid[1])
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    ca = build("ddn test CA", "ddn test CA", ca_key.public_key(), ca_key, True, [
        (ca_usage, True),
        (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
    ])
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    server = build("127.0.0.1", "ddn test CA", key.public_key(), ca_key, False, [
        (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
        (usage, True),
        (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
    ])
    paths = (folder / "ca.pem", folder / "server.pem", folder / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class Emulator:
    """The moto server, in this process, on two free loopback ports sharing one state: `endpoint`
    over TLS (with a certificate from a private CA, `ca_bundle`), as AWS is reached, and
    `plain_endpoint` over plain HTTP. moto keeps its state per process, so every emulator of a
    test run sees the same resources until `reset`."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        _teach_moto()
        # The AWS managed policies (AmazonS3FullAccess, which the old scripts attached).
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._folder = Path(tempfile.mkdtemp(prefix="ddn-emulator-"))
        ca, certificate, key = _certificates(self._folder)
        self.ca_bundle = str(ca)
        application = DomainDispatcherApplication(create_backend_app)

        def remember_scheme(environ, start_response):  # type: ignore[no-untyped-def]
            _request.scheme = environ.get("wsgi.url_scheme", "http")
            return application(environ, start_response)

        self._servers = [
            make_server("127.0.0.1", 0, remember_scheme, threaded=True, ssl_context=(str(certificate), str(key))),
            make_server("127.0.0.1", 0, remember_scheme, threaded=True),
        ]
        self._threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in self._servers]
        for thread in self._threads:
            thread.start()
        self.endpoint = f"https://127.0.0.1:{self._servers[0].server_port}"
        self.plain_endpoint = f"http://127.0.0.1:{self._servers[1].server_port}"

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
        for thread in self._threads:
            thread.join()
        shutil.rmtree(self._folder, ignore_errors=True)

    def reset(self) -> None:
        """Forgets every resource."""
        request = urllib.request.Request(f"{self.plain_endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def client(self, service: str, *, tls: bool = True):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint if tls else self.plain_endpoint,
            verify=self.ca_bundle if tls else False,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


class Scripts:
    """Runs the deploy scripts with a private environment: fake credentials, the emulator's
    address, an .env file of the test's choosing, and recording wrappers around `aws` and `curl`
    that log every command line (to prove no secret is ever passed as an argument)."""

    def __init__(self, emulator: Emulator | None, env_file_text: str = "") -> None:
        self.home = Path(tempfile.mkdtemp(prefix="ddn-deploy-test-"))
        self.env_file = self.home / "deploy.env"
        self.env_file.write_text(env_file_text)
        self.argv_log = self.home / "argv.log"
        self.argv_log.touch()
        shims = self.home / "bin"
        shims.mkdir()
        path = tool_path()
        for tool in ("aws", "curl"):
            real = shutil.which(tool, path=path)
            if real is None:
                raise RuntimeError(f"{tool} is not installed")
            shim = shims / tool
            shim.write_text(
                f'#!/bin/sh\nprintf "%s\\n" "{tool} $*" >> "{self.argv_log}"\nexec "{real}" "$@"\n'
            )
            shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
        environment = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AWS_", "DDN_")) and name not in ("ACCOUNT_ID", "RUST_LOG")
        }
        environment.update(
            {
                "PATH": os.pathsep.join([str(shims), path]),
                "DDN_ENV_FILE": str(self.env_file),
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": REGION,
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
                "TMPDIR": str(self.home),
            }
        )
        if emulator is not None:
            environment["AWS_ENDPOINT_URL"] = emulator.endpoint
            environment["AWS_CA_BUNDLE"] = emulator.ca_bundle
        self.environment = environment

    def run(self, script: str, extra: dict[str, str] | None = None, timeout: int = BUILD_TIMEOUT):
        """Runs a script; returns the completed process (output as text, both streams)."""
        environment = dict(self.environment)
        environment.update(extra or {})
        return subprocess.run(
            ["bash", str(DEPLOY_DIR / script)],
            cwd=self.home,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def lib(self, code: str, extra: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        """Runs bash code after sourcing lib.sh, in the scripts' environment."""
        environment = dict(self.environment)
        environment.update(extra or {})
        return subprocess.run(
            ["bash", "-c", f'set -euo pipefail; source "$1"; {code}', "bash", str(DEPLOY_DIR / "lib.sh")],
            cwd=self.home,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def argv(self) -> str:
        return self.argv_log.read_text()

    def cleanup(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


def describe(process: subprocess.CompletedProcess) -> str:
    return f"exit {process.returncode}\n--- stdout\n{process.stdout}\n--- stderr\n{process.stderr}"


def new_token(user: str) -> tuple[str, str]:
    """A token and its DDN_TOKENS entry, made by new_token.sh."""
    made = subprocess.run(
        ["bash", str(DEPLOY_DIR / "new_token.sh"), user],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = [line.strip() for line in made.stdout.splitlines()]
    return lines[1], lines[3]
