"""`cxemu verify-receiver` against a real server and real receivers: the table, the replayable `curl` of each
failure (replayed here with the real curl), JUnit XML that validates, the exit statuses and every error."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import xmlschema
from junitparser import JUnitXml

from emulator.cli import main
from emulator.verify.scorecard import CheckResult, Scorecard, SentRequest, junit, summarize
from tests.support.procs import ServerProcess
from tests.verify.receivers import Receiver, serve

Cli = Callable[..., tuple[int, str, str]]

JUNIT_XSD = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:element name="testsuites">
    <xs:complexType>
      <xs:sequence><xs:element ref="testsuite" maxOccurs="unbounded"/></xs:sequence>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuite">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="properties" minOccurs="0">
          <xs:complexType><xs:sequence>
            <xs:element name="property" minOccurs="0" maxOccurs="unbounded">
              <xs:complexType>
                <xs:attribute name="name" type="xs:string" use="required"/>
                <xs:attribute name="value" type="xs:string" use="required"/>
              </xs:complexType>
            </xs:element>
          </xs:sequence></xs:complexType>
        </xs:element>
        <xs:element name="testcase" minOccurs="0" maxOccurs="unbounded">
          <xs:complexType>
            <xs:choice minOccurs="0" maxOccurs="unbounded">
              <xs:element name="skipped"><xs:complexType>
                <xs:attribute name="message" type="xs:string"/></xs:complexType></xs:element>
              <xs:element name="failure"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">
                <xs:attribute name="message" type="xs:string"/><xs:attribute name="type" type="xs:string"/>
              </xs:extension></xs:simpleContent></xs:complexType></xs:element>
              <xs:element name="error"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">
                <xs:attribute name="message" type="xs:string"/><xs:attribute name="type" type="xs:string"/>
              </xs:extension></xs:simpleContent></xs:complexType></xs:element>
              <xs:element name="system-out" type="xs:string"/>
              <xs:element name="system-err" type="xs:string"/>
            </xs:choice>
            <xs:attribute name="name" type="xs:string" use="required"/>
            <xs:attribute name="classname" type="xs:string" use="required"/>
            <xs:attribute name="time" type="xs:decimal"/>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="tests" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="failures" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="errors" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="skipped" type="xs:nonNegativeInteger"/>
      <xs:attribute name="time" type="xs:decimal"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""
"""The structure of the Ant/Jenkins JUnit report, written for this test (no Python package ships that XSD, and a
third-party one may not be copied into the repository): the elements and attributes CI servers read."""


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`cli(*args)` runs `cxemu *args` in this process; (exit status, stdout, stderr)."""
    monkeypatch.delenv("CXEMU_ADMIN_TOKEN", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def validate(xml: bytes) -> None:
    xmlschema.XMLSchema(JUNIT_XSD).validate(xml.decode())


def test_a_failure_is_printed_as_a_curl_that_sends_the_same_bytes_again(
    cli: Cli, server: ServerProcess, tmp_path: Path
) -> None:
    rx = Receiver("eightbyeight", server.url, "cli-replay", flaw="unknown-kid-accepted")
    report = tmp_path / "report.xml"
    with serve(rx):
        code, out, err = cli("verify-receiver", "--vendor", "eightbyeight", "--url", rx.url, "--server", server.url,
                             "--tenant", "cli-replay", "--check", "wrong-key-rejected", "--check", "signed-accepted",
                             "--settle", "0.2", "--junit", str(report))  # fmt: skip
        assert code == 1, err
        assert "wrong-key-rejected  fail" in out
        assert "signed-accepted     pass" in out
        assert "FAIL wrong-key-rejected: another key and its own kid (not served): the receiver accepted it" in out
        command = next(line.strip() for line in out.splitlines() if line.strip().startswith("curl "))
        assert "raw body (" in out
        if shutil.which("curl") is None:
            pytest.skip("curl is not installed")
        before = list(rx.received)
        replay = subprocess.run(["bash", "-c", command], capture_output=True, timeout=60, check=False)
        assert replay.stdout.startswith(b"HTTP/1.1 200"), replay.stdout + replay.stderr
        headers, body = rx.received[-1]
        assert len(rx.received) == len(before) + 1
        signature = headers["x-8x8-signature"]
        assert [b for h, b in before if h.get("x-8x8-signature") == signature] == [body]
    validate(report.read_bytes())
    assert b"<failure" in report.read_bytes()


def test_with_bodies_the_curl_reads_the_body_from_a_file(cli: Cli, server: ServerProcess, tmp_path: Path) -> None:
    rx = Receiver("eightbyeight", server.url, "cli-bodies", flaw="large-500")
    with serve(rx):
        args = ["--tenant", "cli-bodies", "--check", "edge-large-payload", "--bodies", str(tmp_path)]
        code, out, _ = cli(
            "verify-receiver", "--vendor", "eightbyeight", "--url", rx.url, "--server", server.url, *args
        )
        assert code == 1
        files = sorted(tmp_path.glob("edge-large-payload-*.body"))
        assert len(files) == 1
        assert files[0].stat().st_size > 1024 * 1024
        assert f"--data-binary @{files[0]}" in out


def test_a_receiver_that_passes_exits_0(cli: Cli, server: ServerProcess) -> None:
    rx = Receiver("eightbyeight", server.url, "cli-good")
    with serve(rx):
        code, out, err = cli("verify-receiver", "--vendor", "eightbyeight", "--url", rx.url, "--server", server.url,
                             "--tenant", "cli-good", "--check", "retry-deduplicated", "--settle", "0.2")  # fmt: skip
    assert code == 0, err
    assert "retry-deduplicated  pass" in out
    assert "oracle journal" in out
    assert "FAIL" not in out


def test_junit_marks_fails_skips_and_advisories_and_validates() -> None:
    def check(id_: str, status: str, requests: list[SentRequest] | None = None) -> CheckResult:
        return CheckResult.model_validate(
            {"id": id_, "title": id_, "status": status, "evidence": "status", "detail": f"{id_} <&> \"detail\"",
             "requests": [q.model_dump() for q in requests or []]}
        )  # fmt: skip

    req = SentRequest(url="http://127.0.0.1:9/x", headers={"a": "b"}, body_base64=base64.b64encode(b"\x00'\n").decode(),
                      body_text="", status=200)  # fmt: skip
    results = [check("signed-accepted", "pass"), check("wrong-key-rejected", "fail", [req]),
               check("burst-within-timeout", "advisory"), check("jws-alg-none-rejected", "not-applicable")]  # fmt: skip
    card = Scorecard(vendor="eightbyeight", tenant="t", url="http://r", oracle="status", results=results,
                     summary=summarize(results))  # fmt: skip
    xml = junit(card)
    validate(xml)
    schema = xmlschema.XMLSchema(JUNIT_XSD)
    data = schema.to_dict(xml.decode())
    suite = data["testsuite"][0]
    assert (suite["@tests"], suite["@failures"], suite["@skipped"]) == (4, 1, 1)
    cases = {c["@name"]: c for c in suite["testcase"]}
    assert "failure" in cases["wrong-key-rejected"]
    failure = cases["wrong-key-rejected"]["failure"][0]
    assert failure["@message"] == 'wrong-key-rejected <&> "detail"'
    assert failure["$"].endswith("-H 'a: b' --data-binary $'\\x00\\'\\x0a'")
    assert "skipped" in cases["jws-alg-none-rejected"]
    assert cases["burst-within-timeout"]["system-out"] == [
        'advisory: burst-within-timeout <&> "detail" (evidence: status)'
    ]
    assert set(cases["signed-accepted"]) == {"@name", "@classname", "@time"}
    # and as a JUnit consumer nobody here wrote reads it (junitparser, as CI report tools do)
    (read,) = JUnitXml.fromstring(xml.decode())
    assert (read.tests, read.failures, read.skipped, read.errors) == (4, 1, 1, 0)
    outcome = {case.name: (case.is_passed, case.is_skipped, case.system_out) for case in read}
    assert outcome == {
        "signed-accepted": (True, False, None),
        "wrong-key-rejected": (False, False, None),
        "burst-within-timeout": (True, False, 'advisory: burst-within-timeout <&> "detail" (evidence: status)'),
        "jws-alg-none-rejected": (False, True, None),
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vendor", "nope"], "404 unknown_vendor: no vendor 'nope'"),
        (["--check", "no-such-check"], "--check: 'no-such-check' is not a check"),
        (["--junit", "/nonexistent-folder/report.xml"], "--junit: /nonexistent-folder is not a folder that exists"),
        (["--bodies", "/nonexistent-folder"], "--bodies: /nonexistent-folder is not a folder that exists"),
    ],
    ids=["bad-vendor", "bad-check", "bad-junit-path", "bad-bodies-folder"],
)
def test_bad_input_exits_2_with_one_line(cli: Cli, server: ServerProcess, args: list[str], message: str) -> None:
    base = {"--vendor": "eightbyeight", "--url": f"http://127.0.0.1:{free_port()}/hook", "--server": server.url}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    code, out, err = cli("verify-receiver", *[x for pair in base.items() for x in pair])
    assert code == 2
    assert out == ""
    assert err.startswith(f"cxemu: error: {message}"), err
    assert len(err.splitlines()) == 1


def test_junit_that_is_a_folder_is_refused(cli: Cli, server: ServerProcess, tmp_path: Path) -> None:
    code, _, err = cli("verify-receiver", "--vendor", "eightbyeight", "--url", "http://127.0.0.1:9/", "--server",
                       server.url, "--junit", str(tmp_path))  # fmt: skip
    assert code == 2
    assert err == f"cxemu: error: --junit: {tmp_path} is a folder, not a file\n"


def test_an_unreachable_receiver_exits_2(cli: Cli, server: ServerProcess) -> None:
    port = free_port()
    code, _, err = cli("verify-receiver", "--vendor", "cmcom", "--url", f"http://127.0.0.1:{port}/hook",
                       "--server", server.url)  # fmt: skip
    assert code == 2
    assert err.startswith(f"cxemu: error: 422 unreachable: url: nothing answers at 127.0.0.1:{port}"), err


def test_an_unreachable_server_exits_2(cli: Cli) -> None:
    port = free_port()
    code, _, err = cli("verify-receiver", "--vendor", "cmcom", "--url", "http://127.0.0.1:9/hook", "--server",
                       f"http://127.0.0.1:{port}")  # fmt: skip
    assert code == 2
    assert err.startswith(f"cxemu: error: cannot reach cxemu at http://127.0.0.1:{port}"), err


def test_a_missing_url_is_a_usage_error(cli: Cli) -> None:
    code, _, err = cli("verify-receiver", "--vendor", "cmcom")
    assert code == 2
    assert "--url" in err
