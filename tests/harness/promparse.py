#!/usr/bin/env python3
"""promparse.py - a strict parser for the Prometheus text format 0.0.4.

Usage: promparse.py [FILE]   (stdin when no FILE)

Exit 0 and print the parsed families as JSON
  {"name": {"type": ..., "help": ..., "samples": [[name, {labels}, value], ...]}}
or exit 1 with "promparse: line N: message" for the first problem.

Stricter than Prometheus' own parser where our renderer promises more:
every family has HELP and TYPE before its samples, a family's samples are
contiguous, no series twice, counters non-negative, histogram buckets
cumulative with increasing le, a +Inf bucket equal to _count, and the
document ends with a newline.  Standard library only.
"""
import json
import math
import re
import sys

METRIC_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT_RE = re.compile(r"[+-]?(?:Inf|NaN|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)$")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ParseError(Exception):
    def __init__(self, lineno, msg):
        super().__init__("line %d: %s" % (lineno, msg))


def parse_float(s, lineno):
    if not FLOAT_RE.match(s):
        raise ParseError(lineno, "bad number %r" % s)
    if s.lstrip("+-") == "NaN" and s[0] in "+-":
        raise ParseError(lineno, "signed NaN %r" % s)
    return float(s.replace("Inf", "inf").replace("NaN", "nan"))


def unescape(s, lineno, quote):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s):
                raise ParseError(lineno, "dangling backslash")
            n = s[i + 1]
            if n == "\\":
                out.append("\\")
            elif n == "n":
                out.append("\n")
            elif n == '"' and quote:
                out.append('"')
            else:
                raise ParseError(lineno, "bad escape \\%s" % n)
            i += 2
            continue
        if c == "\n":
            raise ParseError(lineno, "raw newline")
        out.append(c)
        i += 1
    return "".join(out)


def parse_labels(s, i, lineno):
    """s[i] == '{'; return (labels dict, index after '}')."""
    labels = {}
    i += 1
    if i < len(s) and s[i] == "}":
        return labels, i + 1
    while True:
        m = LABEL_RE.match(s, i)
        if not m:
            raise ParseError(lineno, "bad label name at column %d" % (i + 1))
        name = m.group(0)
        if name.startswith("__"):
            raise ParseError(lineno, "reserved label name %s" % name)
        if name in labels:
            raise ParseError(lineno, "duplicate label %s" % name)
        i = m.end()
        if s[i:i + 2] != '="':
            raise ParseError(lineno, "expected =\" after label %s" % name)
        i += 2
        j = i
        while j < len(s) and s[j] != '"':
            j += 2 if s[j] == "\\" else 1
        if j >= len(s):
            raise ParseError(lineno, "unterminated label value")
        labels[name] = unescape(s[i:j], lineno, True)
        i = j + 1
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        raise ParseError(lineno, "expected , or } at column %d" % (i + 1))


def family_of(name, families):
    """The family a sample name belongs to, or None."""
    if name in families:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and base in families and \
                families[base]["type"] in ("histogram", "summary"):
            return base
    return None


def check_histogram(name, fam, lineno):
    series = {}
    for sname, labels, value in fam["samples"]:
        rest = {k: v for k, v in labels.items() if k != "le"}
        key = tuple(sorted(rest.items()))
        ent = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sname == name + "_bucket":
            if "le" not in labels:
                raise ParseError(lineno, "%s without le" % sname)
            ent["buckets"].append((parse_float(labels["le"], lineno), value))
        elif sname == name + "_sum":
            ent["sum"] = value
        elif sname == name + "_count":
            ent["count"] = value
        else:
            raise ParseError(lineno, "sample %s in histogram %s" % (sname, name))
    for key, ent in series.items():
        b = ent["buckets"]
        if not b or b[-1][0] != math.inf:
            raise ParseError(lineno, "%s%s has no +Inf bucket" % (name, dict(key)))
        for (le0, v0), (le1, v1) in zip(b, b[1:]):
            if not le1 > le0:
                raise ParseError(lineno, "%s: le not increasing" % name)
            if v1 < v0:
                raise ParseError(lineno, "%s: buckets not cumulative" % name)
        if ent["count"] is None or ent["sum"] is None:
            raise ParseError(lineno, "%s%s lacks _sum or _count" % (name, dict(key)))
        if ent["count"] != b[-1][1]:
            raise ParseError(lineno, "%s: +Inf bucket != _count" % name)


def finish(name, fam, lineno):
    if fam is None:
        return
    if fam["type"] == "histogram":
        check_histogram(name, fam, lineno)


def parse(text):
    if text and not text.endswith("\n"):
        raise ParseError(text.count("\n") + 1, "no newline at end")
    families = {}
    done = set()
    current = None
    seen = set()
    lineno = 0
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                kind, name = parts[1], parts[2]
                if not METRIC_RE.fullmatch(name):
                    raise ParseError(lineno, "bad metric name %r" % name)
                if name in done:
                    raise ParseError(lineno, "family %s is not contiguous" % name)
                if name != current:
                    if current is not None:
                        finish(current, families[current], lineno)
                        done.add(current)
                    current = name
                fam = families.setdefault(name, {"type": None, "help": None,
                                                 "samples": []})
                if fam["samples"]:
                    raise ParseError(lineno, "%s after samples" % kind)
                arg = parts[3] if len(parts) > 3 else ""
                if kind == "HELP":
                    if fam["help"] is not None:
                        raise ParseError(lineno, "second HELP for %s" % name)
                    fam["help"] = unescape(arg, lineno, False)
                else:
                    if fam["type"] is not None:
                        raise ParseError(lineno, "second TYPE for %s" % name)
                    if arg not in TYPES:
                        raise ParseError(lineno, "bad type %r" % arg)
                    fam["type"] = arg
            continue
        m = METRIC_RE.match(line)
        if not m:
            raise ParseError(lineno, "bad sample line")
        sname = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = parse_labels(line, i, lineno)
        if i >= len(line) or line[i] != " ":
            raise ParseError(lineno, "expected a space before the value")
        fields = line[i + 1:].split(" ")
        if len(fields) not in (1, 2) or "" in fields:
            raise ParseError(lineno, "expected value [timestamp]")
        value = parse_float(fields[0], lineno)
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            raise ParseError(lineno, "bad timestamp %r" % fields[1])
        fname = family_of(sname, families)
        if fname is None:
            raise ParseError(lineno, "sample %s has no TYPE" % sname)
        if fname != current:
            raise ParseError(lineno, "family %s is not contiguous" % fname)
        fam = families[fname]
        if fam["help"] is None or fam["type"] is None:
            raise ParseError(lineno, "%s lacks HELP or TYPE" % fname)
        key = (sname, tuple(sorted(labels.items())))
        if key in seen:
            raise ParseError(lineno, "duplicate series %s%s" % (sname, labels))
        seen.add(key)
        if fam["type"] == "counter" and not value >= 0:
            raise ParseError(lineno, "counter %s is %s" % (sname, fields[0]))
        if fam["type"] in ("counter", "gauge", "untyped") and sname != fname:
            raise ParseError(lineno, "sample %s in %s %s" % (sname, fam["type"], fname))
        fam["samples"].append([sname, labels, value])
    if current is not None:
        finish(current, families[current], lineno)
    return families


def main(argv):
    data = open(argv[1], "rb").read() if len(argv) > 1 else sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
        fams = parse(text)
    except UnicodeDecodeError as e:
        print("promparse: not UTF-8: %s" % e, file=sys.stderr)
        return 1
    except ParseError as e:
        print("promparse: %s" % e, file=sys.stderr)
        return 1

    def enc(v):
        return v if math.isfinite(v) else str(v)
    for f in fams.values():
        f["samples"] = [[n, l, enc(v)] for n, l, v in f["samples"]]
    json.dump(fams, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
