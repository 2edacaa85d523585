"""How results are shown: rich console output (failures with their diff, then a summary
table) and JUnit XML for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from convoflow.testing.parsing import SuiteError
from convoflow.testing.runner import ERROR, FAILED, PASSED, SKIPPED, CaseResult

_STYLE = {PASSED: "green", FAILED: "red", ERROR: "red", SKIPPED: "yellow"}
_LABEL = {PASSED: "PASS", FAILED: "FAIL", ERROR: "ERROR", SKIPPED: "SKIP"}


def print_suite_errors(console: Console, errors: list[SuiteError]) -> None:
    for error in errors:
        console.print(Text(f"bad suite file {error.path}:", style="bold red"))
        for problem in error.problems:
            console.print(Text(f"  - {problem}"))


def print_result_line(console: Console, result: CaseResult) -> None:
    label = Text(f"{_LABEL[result.outcome]:5}", style=f"bold {_STYLE[result.outcome]}")
    name = Text(f"{result.suite} :: {result.case}")
    console.print(label, name, Text(f"({result.seconds:.2f}s)", style="dim"), soft_wrap=True)


def print_failure(console: Console, result: CaseResult) -> None:
    title = f"{_LABEL[result.outcome]} {result.suite} :: {result.case}"
    console.print()
    console.print(Text(title, style=f"bold {_STYLE[result.outcome]}"))
    if result.step is not None:
        console.print(Text(f"  at step {result.step}: {result.step_text}"))
    for line in result.lines:
        style = "red" if line.lstrip().startswith("+") else None
        style = (
            "green"
            if line.lstrip().startswith("-") and not line.lstrip().startswith("---")
            else style
        )
        console.print(Text(f"    {line}", style=style or ""))


def print_summary(console: Console, results: list[CaseResult]) -> None:
    table = Table(title="convoflow test")
    table.add_column("suite")
    table.add_column("cases", justify="right")
    for outcome in (PASSED, FAILED, ERROR, SKIPPED):
        table.add_column(outcome, justify="right", style=_STYLE[outcome])
    table.add_column("time", justify="right")
    per_suite: dict[str, list[CaseResult]] = {}
    for result in results:
        per_suite.setdefault(result.suite, []).append(result)
    for suite, rows in per_suite.items():
        counts = Counter(r.outcome for r in rows)
        seconds = sum(r.seconds for r in rows)
        table.add_row(
            suite,
            str(len(rows)),
            *(str(counts[o]) for o in (PASSED, FAILED, ERROR, SKIPPED)),
            f"{seconds:.2f}s",
        )
    console.print(table)
    counts = Counter(r.outcome for r in results)
    verdict = "passed" if all(r.ok for r in results) else "FAILED"
    console.print(
        Text(
            f"{verdict}: {counts[PASSED]} passed, {counts[FAILED]} failed, {counts[ERROR]} errors, "
            f"{counts[SKIPPED]} skipped",
            style="bold " + ("green" if verdict == "passed" else "red"),
        )
    )


def write_junit(path: Path, results: list[CaseResult]) -> None:
    """One <testsuite> per suite file, one <testcase> per case; the diff is the body of
    <failure>, the reason of an <error> or <skipped>."""
    root = ET.Element("testsuites", name="convoflow test")
    per_suite: dict[str, list[CaseResult]] = {}
    for result in results:
        per_suite.setdefault(result.suite, []).append(result)
    for suite, rows in per_suite.items():
        counts = Counter(r.outcome for r in rows)
        element = ET.SubElement(
            root,
            "testsuite",
            name=suite,
            tests=str(len(rows)),
            failures=str(counts[FAILED]),
            errors=str(counts[ERROR]),
            skipped=str(counts[SKIPPED]),
            time=f"{sum(r.seconds for r in rows):.3f}",
        )
        for result in rows:
            case = ET.SubElement(
                element, "testcase", classname=suite, name=result.case, time=f"{result.seconds:.3f}"
            )
            if result.outcome == PASSED:
                continue
            where = f"step {result.step}: {result.step_text}\n" if result.step else ""
            body = where + "\n".join(result.lines)
            tag = {FAILED: "failure", ERROR: "error", SKIPPED: "skipped"}[result.outcome]
            detail = ET.SubElement(case, tag, message=(result.lines or [""])[0][:300])
            detail.text = body
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
