"""The IMDS emulator honours a real AWS client: the JavaScript SDK's IMDS client.

Why: tests of the emulator against our own expectations could share our own
misreadings of IMDS; a client written by AWS cannot.  tests/emulators/
aws-sdk-check/check.js fetches instance-id, a listing and user-data through
@aws-sdk/ec2-metadata-service (pinned in its package.json and
package-lock.json) with IMDSv1 disabled, so every answer went through a
session token; the emulator's stats must show the token PUTs.

node_modules is not committed: `npm ci` installs the locked versions from the
npm registry the first time this runs.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulators"))
from harness import DATA_DIR, HERE, Imds  # noqa: E402

SDK_DIR = os.path.join(HERE, "aws-sdk-check")
SDK_MODULE = os.path.join(SDK_DIR, "node_modules", "@aws-sdk", "ec2-metadata-service", "package.json")


@pytest.fixture(scope="module")
def sdk():
    """Make sure the pinned SDK is installed; returns the node binary."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed (Debian/Node.js packages on the CI machine)"
    if not os.path.exists(SDK_MODULE):
        result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SDK_DIR, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    with open(SDK_MODULE, encoding="utf-8") as f:
        installed = json.load(f)["version"]
    with open(os.path.join(SDK_DIR, "package.json"), encoding="utf-8") as f:
        pinned = json.load(f)["dependencies"]["@aws-sdk/ec2-metadata-service"]
    assert installed == pinned, f"node_modules holds {installed}, package.json pins {pinned}: rerun npm ci"
    return node


def run_check(node, imds, tmp_path):
    env = dict(os.environ, AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.endpoint, AWS_EC2_METADATA_V1_DISABLED="true",
               AWS_CONFIG_FILE=str(tmp_path / "no-config"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-creds"))
    env.pop("AWS_PROFILE", None)
    result = subprocess.run([node, os.path.join(SDK_DIR, "check.js")], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, f"check.js failed:\n{result.stderr}\nemulator log:\n{imds.log_text()}"
    return json.loads(result.stdout)


def test_sdk_reads_through_session_tokens(sdk, tmp_path):
    with Imds() as imds:
        out = run_check(sdk, imds, tmp_path)
        stats = imds.stats()
    assert out["instance_id"] == "i-0123456789abcdef0"
    assert out["placement_listing"] == ["availability-zone", "availability-zone-id", "region"]
    with open(os.path.join(DATA_DIR, "cortex-node.user-data"), encoding="utf-8") as f:
        assert out["user_data"] == f.read()
    assert out["missing_item_status"] == 404
    assert out["token_length"] > 0
    puts = [e for e in stats["log"] if e["method"] == "PUT"]
    gets = [e for e in stats["log"] if e["method"] == "GET"]
    assert puts and all(e["path"] == "/latest/api/token" and e["status"] == 200 for e in puts)
    assert all(e["ttl"] == "21600" for e in puts), "the SDK asks for its default TTL"
    assert len(gets) == 4 and all(e["token"] == "valid" for e in gets)


def test_sdk_retries_through_a_5xx_burst(sdk, tmp_path):
    with Imds() as imds:
        imds.set_faults(fail_next=1, fail_status=503, fault_path="/latest/meta-data/instance-id")
        out = run_check(sdk, imds, tmp_path)
        stats = imds.stats()
    assert out["instance_id"] == "i-0123456789abcdef0"
    assert stats["by_fault"] == {"status": 1}
    assert stats["by_path"]["/latest/meta-data/instance-id"] == 2
