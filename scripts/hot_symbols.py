#!/usr/bin/env python3
"""Records which functions a serving session runs, for dist/hot-symbols.txt (see build.rs).

    python3 scripts/hot_symbols.py [path/to/binary]     # default: target/dist/atlassian-mcp-bridge

Runs the binary's own sandbox, then `serve` under valgrind's callgrind through a representative
session (initialize, tools/list, searches, reads, a summary; three rounds), and a second short
session against an HTTPS site so that the TLS client's code is recorded too (real sites are
HTTPS, the sandbox is not; HOT_SYMBOLS_TLS_URL, default https://index.crates.io/, answers 404s,
which is enough: the handshake and the request are what matter; skipped with a warning when
unreachable). Writes every function of the binary that ran, hottest first, as the linker's
symbol ordering file. The binary
must keep its symbols (the dist profile does: strip = "debuginfo"). Regenerate after changing
the code a session runs, the lock file or the compiler: names that no longer exist are skipped
by the linker, new ones land after the packed part.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "dist", "hot-symbols.txt")

CALLS = [
    ("jira_search", {"jql": "project = ENG ORDER BY key", "max_results": 50}),
    ("jira_search", {"jql": "project = ENG", "max_results": 20}),
    ("jira_get_issue", {"key": "ENG-3"}),
    ("confluence_search", {"cql": "type = page", "limit": 10}),
    ("jira_list_projects", {}),
    ("confluence_get_page", {"page_id": "300101"}),
    ("jira_summarize_search", {"jql": "project = ENG"}),
    ("atlassian_whoami", {}),
]


def session(cmd, env, calls=None, rounds=3, must_succeed=True):
    """One MCP session over stdio; with `must_succeed`, every call must succeed."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env)
    n = 0

    def rpc(method, params):
        nonlocal n
        n += 1
        msg = {"jsonrpc": "2.0", "id": n, "method": method, "params": params}
        p.stdin.write((json.dumps(msg) + "\n").encode())
        p.stdin.flush()
        while True:
            line = p.stdout.readline()
            if not line:
                sys.exit(f"serve ended during {method}")
            m = json.loads(line)
            if m.get("id") == n:
                return m

    rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "hot-symbols", "version": "1"}})
    p.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    p.stdin.flush()
    rpc("tools/list", {})
    for _ in range(rounds):
        for name, args in calls or CALLS:
            r = rpc("tools/call", {"name": name, "arguments": args})
            if must_succeed and ("error" in r or r["result"].get("isError")):
                sys.exit(f"{name} failed: {r}")
    p.stdin.close()
    p.wait()


def costs(path, binary):
    """Self cost (instructions) per function of `binary` in a callgrind output file."""
    names = {"ob": {}, "fn": {}}
    total = defaultdict(int)
    ob = fn = None
    skip_next = False
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"^(c?)(ob|fn)=(?:\((\d+)\))?\s*(.*)$", line)
        if m:
            called, kind, ref, name = m.groups()
            if ref is not None:
                if name:
                    names[kind][ref] = name
                name = names[kind].get(ref, "")
            if not called:
                if kind == "ob":
                    ob = name
                else:
                    fn = name
            continue
        if line.startswith("calls="):
            skip_next = True  # the next cost line is the call's inclusive cost
            continue
        if line[:1].isdigit() or line[:1] in "+-*":
            if skip_next:
                skip_next = False
                continue
            parts = line.split()
            if len(parts) >= 2 and ob == binary and fn:
                total[fn] += int(parts[1])
    return total


def record(binary, config, **session_args):
    """Instruction counts per function of `binary` over one `serve` session under callgrind,
    with `config` as its config.toml in a fresh home."""
    with tempfile.TemporaryDirectory() as home:
        with open(os.path.join(home, "config.toml"), "w") as f:
            f.write(config)
        env = dict(os.environ, ATLASSIAN_MCP_BRIDGE_HOME=home)
        out = os.path.join(home, "callgrind.out")
        session(["valgrind", "--tool=callgrind", "--demangle=no",
                 f"--callgrind-out-file={out}", binary, "serve"], env, **session_args)
        return costs(out, binary)


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                             else os.path.join(ROOT, "target", "dist", "atlassian-mcp-bridge"))
    sandbox = subprocess.Popen([binary, "sandbox", "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", sandbox.stdout.readline()).group(0)
        hot = record(binary, f'[site]\nurl = "{url}"\ndeployment = "cloud"\n'
                             'email = "demo@example.com"\napi_token = "sandbox-api-token"\n')
    finally:
        sandbox.terminate()
        sandbox.wait()
    tls = os.environ.get("HOT_SYMBOLS_TLS_URL", "https://index.crates.io/")
    tls_hot = record(binary, f'[site]\nurl = "{tls}"\ndeployment = "cloud"\n'
                             'email = "demo@example.com"\napi_token = "not-a-token"\n'
                             '[cache]\noffline = "never"\n',
                     calls=CALLS[:3], rounds=1, must_succeed=False)
    if not any("rustls" in name for name in tls_hot):
        print(f"warning: no TLS code recorded ({tls} unreachable?)", file=sys.stderr)
    for name, cost in tls_hot.items():
        hot[name] += cost
    names = [n for n, c in sorted(hot.items(), key=lambda kv: -kv[1]) if c > 0]
    if len(names) < 100:
        sys.exit(f"only {len(names)} functions recorded: does {binary} keep its symbols?")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(names) + "\n")
    print(f"{len(names)} functions written to {OUT}")


if __name__ == "__main__":
    main()
