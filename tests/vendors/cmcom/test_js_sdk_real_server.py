"""CM's JavaScript SDK (`@cmdotcom/text-sdk` from npm) against the real server under uvicorn, through the gateway
and through BMProxy with the Bot Router account id of the vendor's page (issue 11 §1).

The SDK is installed once into `.pytest_cache/cmcom-text-sdk` (`npm install --no-save --prefix`; git-ignored). The tests
skip, saying why, when node or npm is missing or the npm registry cannot be reached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from emulator.pytest_plugin import CxemuHandle, WebhookSink
from tests.vendors.cmcom.conftest import PAGE_ACCOUNT, the_bot_hears_on_the_page_account

SDK = "@cmdotcom/text-sdk@2.0.0"
SCRIPT = Path(__file__).parent / "node" / "send.js"
FOLDER = Path(__file__).resolve().parents[3] / ".pytest_cache" / "cmcom-text-sdk"
NO_PROXY = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


@pytest.fixture(scope="module")
def sdk_folder() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for CM's JavaScript SDK")
    folder = FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "node_modules" / "@cmdotcom" / "text-sdk" / "package.json").is_file():
        try:
            done = subprocess.run(
                [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(folder), SDK],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"npm could not install {SDK} in 300 s (is the npm registry reachable?)")
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["no output"])[0]
            pytest.skip(f"npm could not install {SDK} (is the npm registry reachable?): {first}")
    return folder


def js_send(folder: Path, base: str, token: str) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(SCRIPT), str(folder), base, token],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=NO_PROXY,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_js_sdk_sends_through_the_gateway(cxemu: CxemuHandle, sdk_folder: Path) -> None:
    token = cxemu.credentials("cmcom")["productToken"]
    out = js_send(sdk_folder, cxemu.url, token)
    assert out == {
        "status": 200,
        "body": {
            "details": "Created 1 message(s)",
            "errorCode": 0,
            "messages": [
                {
                    "to": "0031612345678",
                    "status": "Accepted",
                    "reference": "js-sdk-1",
                    "parts": 1,
                    "messageDetails": None,
                    "messageErrorCode": 0,
                }
            ],
        },
    }


def test_js_sdk_sends_through_bmproxy_with_the_page_account_id(
    cxemu: CxemuHandle, sdk_folder: Path, webhook_sink: WebhookSink
) -> None:
    token = cxemu.credentials("cmcom")["productToken"]
    out = js_send(sdk_folder, f"{cxemu.url}/conversational/bmproxy/v1/accounts/{PAGE_ACCOUNT}", token)
    assert (out["status"], out["body"]["errorCode"], out["body"]["details"]) == (200, 0, "Created 1 message(s)")
    chat = the_bot_hears_on_the_page_account(cxemu, webhook_sink)
    assert [(e["direction"], e["by"], e["text"]) for e in chat["transcript"]] == [
        ("MT", "BMProxy", "Hello from the JS SDK"),
        ("MO", "+31612345678", "Hi bot"),
    ]


def test_js_sdk_with_a_token_that_is_not_a_guid_gets_error_103(cxemu: CxemuHandle, sdk_folder: Path) -> None:
    out = js_send(sdk_folder, cxemu.url, "my-token")
    assert out == {
        "status": 400,
        "body": {"details": "The product token 'my-token' is incorrect", "errorCode": 103, "messages": []},
    }
