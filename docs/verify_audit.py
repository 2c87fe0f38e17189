#!/usr/bin/env python3
"""Verify an atlassian-mcp-bridge audit log: python3 verify_audit.py PATH/audit.jsonl

Checks the hash chain across PATH.N ... PATH.1, PATH (oldest first). Exit 0 and
"ok: N records verified", or exit 1 and "FILE:LINE: reason" for the first bad
record. Python 3 standard library only.
"""
import hashlib
import json
import math
import os
import sys

ZERO = "0" * 64


def jcs_number(x):
    """ECMAScript Number.prototype.toString, as RFC 8785 requires."""
    x = float(x)  # JCS treats every number as an IEEE 754 double
    if not math.isfinite(x):
        raise ValueError("NaN/Infinity is not JSON")
    if x == 0:
        return "0"  # also -0
    if x < 0:
        return "-" + jcs_number(-x)
    mantissa, _, exp = repr(x).partition("e")  # repr: shortest round-trip digits
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    s = digits.rstrip("0")
    # value = int(s) * 10 ** (n - k), with k = len(s)
    k = len(s)
    n = int(exp or 0) - len(frac) + (len(digits) - k) + k
    if k <= n <= 21:
        return s + "0" * (n - k)
    if 0 < n <= 21:
        return s[:n] + "." + s[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + s
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = s if k == 1 else s[0] + "." + s[1:]
    return head + "e" + sign + str(abs(e))


def jcs(v):
    """RFC 8785 JSON Canonicalization Scheme."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return jcs_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(jcs(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: k.encode("utf-16-be"))  # UTF-16 code unit order
        return "{" + ",".join(jcs(k) + ":" + jcs(v[k]) for k in keys) + "}"
    raise TypeError(type(v))


def record_hash(rec):
    body = {k: v for k, v in rec.items() if k != "hash"}
    return hashlib.sha256((rec["prev"] + jcs(body)).encode("utf-8")).hexdigest()


def log_files(path):
    n = 0
    while os.path.exists("%s.%d" % (path, n + 1)):
        n += 1
    files = ["%s.%d" % (path, i) for i in range(n, 0, -1)]
    if os.path.exists(path):
        files.append(path)
    return files


def main(path):
    prev, seq, count, torn = ZERO, 1, 0, None
    files = log_files(path)
    for fi, name in enumerate(files):
        with open(name, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        complete = lines[:-1]  # the part after the last newline is '' or a torn write
        tail = lines[-1]
        items = [(i + 1, line, True) for i, line in enumerate(complete)]
        if tail:
            items.append((len(complete) + 1, tail, False))
        for lineno, raw, terminated in items:
            where = "%s:%d:" % (name, lineno)
            try:
                rec = json.loads(raw.decode("utf-8"))
                ok = isinstance(rec, dict) and rec.get("hash") == record_hash(rec)
            except (ValueError, KeyError, TypeError):
                rec, ok = None, False
            if not terminated:
                if fi == len(files) - 1 and not ok:
                    torn = where
                    continue
                if fi != len(files) - 1:
                    print(where, "line has no newline but is not the end of the log")
                    return 1
            if rec is None or not isinstance(rec, dict):
                print(where, "line is not a JSON object")
                return 1
            if not ok:
                print(where, "hash mismatch: the record was modified")
                return 1
            if rec.get("prev") != prev:
                print(where, "prev does not match the previous record's hash")
                return 1
            if rec.get("seq") != seq:
                print(where, "seq is %s, expected %d" % (rec.get("seq"), seq))
                return 1
            prev, seq, count = rec["hash"], seq + 1, count + 1
    print("ok: %d records verified" % count)
    if torn:
        print("note: torn last line ignored at", torn)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: verify_audit.py PATH/audit.jsonl")
    sys.exit(main(sys.argv[1]))
