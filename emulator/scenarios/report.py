"""Reports of scenario runs: a human-readable, step-by-step text, and JUnit XML for CI.

A failing step shows what was expected, the near-miss webhooks that did arrive with each difference, and the
virtual time, so the report alone says what to fix.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from emulator.core.clock import iso
from emulator.scenarios.match import compact

if TYPE_CHECKING:
    from emulator.scenarios.results import ScenarioResult, StepResult

MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "pending": "....", "running": "RUN ", "error": "ERR "}


def _expected_lines(step: StepResult) -> list[str]:
    exp = step.expected
    if exp is None:
        return []
    if isinstance(exp, dict) and "match" in exp:
        order = "in order" if exp.get("ordered", True) else "in any order"
        head = f"expected: {exp.get('count', 1)} webhook(s) {order}, within {exp.get('within', 0):g}s, matching"
        lines = [head, f"  body    {json.dumps(exp.get('match', {}), ensure_ascii=False)}"]
        if exp.get("headers"):
            lines.append(f"  headers {json.dumps(exp['headers'], ensure_ascii=False)}")
        return lines
    return [f"expected: {json.dumps(exp, ensure_ascii=False, default=str)}"]


def _step_lines(step: StepResult, started: float) -> list[str]:
    where = f"line {step.line}" if step.line is not None else ""
    when = f"t+{step.at - started:.3f}s" if step.at is not None else ""
    head = f"  {MARK.get(step.status, step.status)}  steps[{step.index}]  {where:<9} {step.title}"
    lines = [f"{head:<100} {when}".rstrip()]
    if step.status == "failed":
        for text in (step.message or "").splitlines():
            lines.append(f"        {text}")
        lines.extend(f"        {t}" for t in _expected_lines(step))
        if step.near_misses:
            lines.append("        near misses (closest first):")
        for miss in step.near_misses:
            note = f"  [{miss.note}]" if miss.note else ""
            lines.append(
                f"          - {miss.delivery_id} {miss.event} subject {miss.subject} at t+{miss.at - started:.3f}s "
                f"({miss.status}){note}"
            )
            lines.append(f"              body {compact(miss.body, 160)}")
            lines.extend(f"              {p}" for p in miss.problems)
    elif step.status == "passed" and step.message:
        lines.append(f"        {step.message}")
    return lines


def render(result: ScenarioResult, *, wall: bool = True) -> str:
    """The step-by-step report of one run."""
    head = MARK.get(result.status, result.status.upper()).strip()
    known = [f"vendor {result.vendor}"] if result.vendor else []
    known += [f"tenant {result.tenant}"] if result.tenant else []
    known += [f"seed {result.seed}"] if result.vendor else []  # a file that never loaded has no seed either
    lines = [f"{head} {result.name}  ({'; '.join([result.source, ', '.join(known)]) if known else result.source})"]
    if result.error:
        lines.extend(f"  {line}" for line in result.error.splitlines())
        return "\n".join(lines)
    for step in result.steps:
        lines.extend(_step_lines(step, result.started_at))
    if result.actor_errors:
        lines.append("  actor errors:")
        for err in result.actor_errors:
            action = f"do[{err.action}]" if err.action >= 0 else "when"
            where = f"line {err.line}: " if err.line is not None else ""
            lines.append(
                f"    {where}actors[{err.rule}].{action} at t+{err.at - result.started_at:.3f}s "
                f"(subject {err.subject}): {err.message}"
            )
    counts = {s: sum(1 for x in result.steps if x.status == s) for s in ("passed", "failed", "skipped")}
    fired = sum(a.fired for a in result.actors)
    summary = (
        f"  {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped; "
        f"{fired} actor firing(s); {result.webhooks} webhook(s); "
        f"{'virtual' if result.virtual else 'system'} time {result.elapsed:.3f}s (now {iso(result.now, millis=True)})"
    )
    if wall:
        summary += f" in {result.wall_seconds:.3f}s wall"
    lines.append(summary)
    return "\n".join(lines)


def summary_line(results: Sequence[ScenarioResult]) -> str:
    passed = sum(1 for r in results if r.passed)
    failed = len(results) - passed
    virtual = sum(r.elapsed for r in results)
    wall = sum(r.wall_seconds for r in results)
    state = "OK" if not failed else "FAILED"
    return f"{state}: {passed} passed, {failed} failed; {virtual:.1f}s of virtual time in {wall:.2f}s wall"


def junit(results: Sequence[ScenarioResult], suite: str = "cxemu scenarios") -> str:
    """JUnit XML: one testcase per scenario file, the report as its output, the failing step as the failure."""
    failures = sum(1 for r in results if r.status == "failed")
    errors = sum(1 for r in results if r.status == "error")
    root = ET.Element("testsuites", name=suite, tests=str(len(results)), failures=str(failures), errors=str(errors))
    ts = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{sum(r.wall_seconds for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(
            ts, "testcase", classname=f"scenarios.{r.vendor}", name=r.name, file=r.source, time=f"{r.wall_seconds:.3f}"
        )
        text = render(r)
        if r.status == "error":
            node = ET.SubElement(case, "error", message=(r.error or "error").splitlines()[0][:500])
            node.text = text
        elif r.status != "passed":
            node = ET.SubElement(case, "failure", message=_failure_message(r)[:500])
            node.text = text
        out = ET.SubElement(case, "system-out")
        out.text = text
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _failure_message(r: ScenarioResult) -> str:
    step = r.failed_step()
    if step is not None:
        first = (step.message or "").splitlines()[0] if step.message else ""
        return f"steps[{step.index}] (line {step.line}) {step.title}: {first}"
    if r.actor_errors:
        e = r.actor_errors[0]
        return f"actors[{e.rule}] (line {e.line}): {e.message}"
    return r.status


def as_json(results: Sequence[ScenarioResult]) -> list[dict[str, Any]]:
    return [r.to_json() for r in results]
