#!/usr/bin/env python3
"""Writes a man page from one of netd's Markdown docs, so the page and the doc are one text.

Usage: md2man.py DOC.md NAME SECTION "SUMMARY" VERSION [--skip "HEADING"]... > NAME.SECTION

Reads the subset of Markdown the docs use: headings, paragraphs, bullet lists, fenced code
and pipe tables (written for tbl). Links keep their text; a contents list of links only, and
the sections named with --skip (notes for developers), are left out.
"""
import re
import sys


def inline(text):
    """Markdown inline markup as roff: code and bold in bold, links as their text."""
    text = text.replace("\\", "\\e")
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.replace("\\e[", "[").replace("\\e]", "]")
    text = re.sub(r"`([^`]*)`", r"\\fB\1\\fR", text)
    text = re.sub(r"\*\*([^*]*)\*\*", r"\\fB\1\\fR", text)
    text = text.replace("-", "\\-")
    return text


def line(text):
    """A text line, kept from being read as a request."""
    return "\\&" + text if text.startswith((".", "'")) else text


def cells(row):
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    # A pipe inside code is escaped as \| in the docs.
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)]


def table(rows, out):
    header = cells(rows[0])
    body = [cells(r) for r in rows[2:]]
    columns = len(header)
    out.append(".TS")
    out.append("allbox tab(\t);")
    out.append(" ".join(["lb"] * columns))
    # A first column of short entries (keys, options, paths) as wide as its longest one, the
    # others sharing the rest and wrapping; a long first column wraps as well.
    short = max(len(re.sub(r"[`*]", "", row[0])) for row in [header] + body) <= 32
    out.append(" ".join(["l" if short else "lx"] + ["lx"] * (columns - 1)) + ".")
    out.append("\t".join(inline(c) for c in header))
    for row in body:
        row = (row + [""] * columns)[:columns]
        wrapped = ["T{\n" + line(inline(c)) + "\nT}" for c in row]
        if short:
            wrapped[0] = inline(row[0])
        out.append("\t".join(wrapped))
    out.append(".TE")


def convert(lines, skip):
    out = []
    paragraph = []
    i = 0
    skipping = False

    def flush():
        if paragraph:
            out.append(".PP")
            out.extend(line(inline(p)) for p in paragraph)
            paragraph.clear()

    while i < len(lines):
        text = lines[i].rstrip("\n")
        heading = re.match(r"^(#{1,3}) (.*)$", text)
        if heading:
            flush()
            level, title = len(heading.group(1)), heading.group(2)
            skipping = level == 2 and title in skip
            if not skipping and level == 2:
                out.append('.SH "' + inline(title.upper()) + '"')
            elif not skipping and level == 3:
                out.append('.SS "' + inline(title) + '"')
            i += 1
            continue
        if skipping:
            i += 1
            continue
        if text.startswith("```"):
            flush()
            out.append(".RS 4")
            out.append(".nf")
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(line(lines[i].rstrip("\n").replace("\\", "\\e").replace("-", "\\-")))
                i += 1
            out.append(".fi")
            out.append(".RE")
            i += 1
            continue
        if text.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i].rstrip("\n"))
                i += 1
            table(rows, out)
            continue
        bullet = re.match(r"^(\s*)- (.*)$", text)
        if bullet:
            flush()
            if re.fullmatch(r"\[.*\]\(#[^)]*\)", bullet.group(2).strip()):
                i += 1  # a contents entry
                continue
            item = [bullet.group(2)]
            i += 1
            while i < len(lines) and lines[i].startswith("  ") and lines[i].strip() and \
                    not re.match(r"^\s*- ", lines[i]):
                item.append(lines[i].strip())
                i += 1
            out.append(".IP \\(bu 2")
            out.extend(line(inline(p)) for p in item)
            continue
        if not text.strip():
            flush()
            i += 1
            continue
        paragraph.append(text.strip())
        i += 1
    flush()
    return out


def main():
    args = sys.argv[1:]
    skip = []
    while "--skip" in args:
        at = args.index("--skip")
        skip.append(args[at + 1])
        del args[at:at + 2]
    doc, name, section, summary, version = args
    with open(doc, encoding="utf-8") as f:
        lines = f.readlines()
    body = convert(lines, set(skip))
    print("'\\\" t")
    print(f'.TH "{name.upper()}" "{section}" "" "netd {version}" "netd"')
    # Left-aligned and unhyphenated: tables of keys and paths read better, and narrow cells
    # need no stretching.
    print(".ad l")
    print(".nh")
    print(".SH NAME")
    print(f"{name} \\- {inline(summary)}")
    print("\n".join(body))


if __name__ == "__main__":
    main()
