#!/usr/bin/env python3
"""Compares the libraries' direct dependencies as CMake built them with the allowed graph.

Usage: check_dependency_graph.py <docs/architecture.md> <build>/dependency_graph.txt

The allowed graph is the table under the heading "## Allowed dependencies" of
docs/architecture.md: one row per target, its second column the project targets it may link
directly. Fails when a target links one it may not, when a target of a library folder is
missing from the table, or when the table names a target that does not exist.
"""
import re
import sys

HEADING = "## Allowed dependencies"


def allowed_graph(markdown):
    text = open(markdown, encoding="utf-8").read()
    if HEADING not in text:
        sys.exit(f"{markdown}: no '{HEADING}' section")
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    graph = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        target = cells[0].strip("`")
        graph[target] = set(re.findall(r"`([^`]+)`", cells[1]))
    return graph


def built_graph(path):
    graph = {}
    for line in open(path, encoding="utf-8"):
        target, _, links = line.partition(":")
        graph[target.strip()] = set(links.split())
    return graph


def main():
    markdown, built_path = sys.argv[1], sys.argv[2]
    allowed = allowed_graph(markdown)
    built = built_graph(built_path)
    problems = []
    for target in sorted(built):
        if target not in allowed:
            problems.append(f"{target}: not in the allowed graph of {markdown}; add its row")
            continue
        for link in sorted(built[target] - allowed[target]):
            problems.append(f"{target} links {link}, which {markdown} does not allow")
    for target in sorted(set(allowed) - set(built)):
        problems.append(f"{target}: in the allowed graph of {markdown} but not a target")
    for problem in problems:
        print(problem)
    print(f"{len(built)} targets checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
