#!/usr/bin/env python3
"""The bridge's upstream mode (SPEC §11) against independent peers from the package registries:
oidc-provider 9 (npm) as the authorization server and an MCP server built with the official Python
MCP SDK 2.x (PyPI) behind bearer auth.

    target/peers/venv/bin/python tests/peers/upstream/drive.py <bridge binary> [--peer-dir DIR]

Run it with the venv's Python (it drives `serve` with the SDK's client). DIR (default:
<repo>/target/peers/oidc, or $OIDC_PEER_DIR) must hold node_modules/oidc-provider; tests/peers/run.sh
installs both. Starts the bridge's sandbox site (the `[site]` every `serve` needs), as.mjs and
server.py on free 127.0.0.1 ports, and checks, in order:
  - the peers: 401 + `resource_metadata`, the path-aware RFC 9728 document naming the issuer;
  - `login --upstream --no-browser`, this script as the browser: discovery, open Dynamic Client
    Registration (native, exact loopback redirect, auth none), authorize with PKCE S256 + state +
    resource, `iss` in the callback (RFC 9207), the token exchange, credentials.json (0600), and
    what the authorization server says about the tokens (introspection: audience = the MCP URL);
  - `serve` (tools = "both"): the prefixed upstream tools next to the bridge's own, annotations,
    a proxied read with the Python server's structured answer, a proxied write after a yes to the
    confirmation, the bridge's own tool beside them;
  - refresh: past the access token's 8 s, a call still works, the refresh token was rotated (the
    old one is dead at the server); an access token the server dropped early is replaced after
    the upstream's 401;
  - `[policy] read_only = true` hides and refuses the write tool; `tools = "upstream"` offers only
    the upstream's tools;
  - the audit log: tool_call records (prefixed tool, `tools/call <name>`, touched keys), login and
    token_refresh records, `audit verify`, and no token in the log or any output;
  - `logout --upstream`: revocation at the server (introspection: inactive), the entry gone, and a
    proxied call then says to run `login --upstream`.
Prints one line per check and "N passed, M failed"; exits 1 on any failure. Child processes are
always stopped.
"""

import argparse
import asyncio
import base64
import http.cookiejar
import json
import os
import re
import selectors
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from mcp import Client, StdioServerParameters, types
from mcp.client.stdio import stdio_client

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
RS_CLIENT_ID = "mcp-resource-server"  # as.mjs's static confidential client, used by server.py
RS_CLIENT_SECRET = "mcp-resource-server-secret"
ACCOUNT_ID = "upstream-peer-account-7"  # as.mjs's test account
ACCESS_TTL = 8  # seconds; the bridge refreshes after 80 % of it
HTTP_TIMEOUT = 15
PROC_TIMEOUT = 45

# Everything is on 127.0.0.1: never through an http_proxy from the environment.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

passed = 0
failed = 0
outputs = []  # (label, text) of everything the bridge printed, for the leak check
tokens_seen = set()


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}", flush=True)
        if detail:
            for line in str(detail).rstrip().splitlines()[-40:]:
                print(f"     {line}", flush=True)
    return ok


class Abort(Exception):
    """A step failed and later steps cannot run."""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_line(stream, timeout, what):
    """The first line of a pipe and the bytes after it, or Abort after `timeout` seconds."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b""
    try:
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Abort(f"no line from {what} within {timeout} s (got {buf!r})")
            if not sel.select(left):
                continue
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                raise Abort(f"{what} closed its output before a full line (got {buf!r})")
            buf += chunk
    finally:
        sel.close()
    line, _, rest = buf.partition(b"\n")
    return line.decode("utf-8", "replace").strip(), rest


class Drain(threading.Thread):
    """Collects the rest of a pipe so the child never blocks on a full pipe."""

    def __init__(self, stream, prefix=b""):
        super().__init__(daemon=True)
        self.stream, self.data = stream, bytearray(prefix)
        self.start()

    def run(self):
        while True:
            chunk = os.read(self.stream.fileno(), 65536)
            if not chunk:
                break
            self.data += chunk

    def text(self, wait=2.0):
        self.join(wait)
        return self.data.decode("utf-8", "replace")


class Children:
    """Every long-running child, stopped (its whole process group) whatever happens."""

    def __init__(self):
        self.procs = []

    def start(self, label, argv, env, log_path):
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            start_new_session=True,
        )
        log.close()
        proc.label, proc.log_path = label, Path(log_path)
        self.procs.append(proc)
        return proc

    def first_line(self, proc, timeout=20):
        try:
            line, rest = read_line(proc.stdout, timeout, proc.label)
        except Abort as e:
            raise Abort(f"{e}\n--- {proc.label} stderr ---\n{self.log(proc)}") from None
        proc.drain = Drain(proc.stdout, rest)
        return line

    @staticmethod
    def log(proc):
        return proc.log_path.read_text(errors="replace") if proc.log_path.is_file() else ""

    def stop_all(self):
        for proc in reversed(self.procs):
            if proc.poll() is not None:
                continue
            try:
                os.killpg(proc.pid, 15)
                proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, 9)
                except ProcessLookupError:
                    pass
                proc.wait(5)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # surface every 3xx as an HTTPError, so each hop is seen


def browser(authorize_url, callback_prefix):
    """Follows the authorization redirects with a cookie jar until one points at the bridge's
    loopback callback; returns that URL and the hops."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar), NoRedirect()
    )
    url, hops = authorize_url, []
    for _ in range(12):
        if url.startswith(callback_prefix):
            return url, hops
        try:
            with opener.open(url, timeout=HTTP_TIMEOUT) as r:
                body = r.read(2000).decode("utf-8", "replace")
                raise Abort(f"GET {urllib.parse.urlsplit(url).path} answered {r.status}: {body}\nhops: {hops}")
        except urllib.error.HTTPError as e:
            if e.code not in (301, 302, 303, 307, 308):
                body = e.read(2000).decode("utf-8", "replace")
                raise Abort(f"GET {urllib.parse.urlsplit(url).path} answered {e.code}: {body}\nhops: {hops}") from None
            location = e.headers.get("Location")
            if not location:
                raise Abort(f"{e.code} without Location from {url}") from None
            hops.append(f"{e.code} {urllib.parse.urlsplit(url).path}")
            url = urllib.parse.urljoin(url, location)
    raise Abort(f"no redirect to {callback_prefix} after {len(hops)} hops: {hops}")


def http_call(url, data=None, headers=None, method=None):
    """(status, headers, body text); status 0 when nothing answered."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with DIRECT.open(req, timeout=HTTP_TIMEOUT) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")
    except OSError as e:
        return 0, {}, str(e)


def form_post(url, form, basic=None):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
    status, _, body = http_call(url, urllib.parse.urlencode(form).encode(), headers, "POST")
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def introspect(disco, token):
    """RFC 7662 at oidc-provider as the resource server's client."""
    status, body = form_post(disco["introspection_endpoint"], {"token": token}, (RS_CLIENT_ID, RS_CLIENT_SECRET))
    if status != 200 or not isinstance(body, dict):
        raise Abort(f"introspection answered {status}: {body}")
    return body


def run_bridge(bin_path, env, label, *args):
    """Runs a bridge command to completion (bounded); returns (code, stdout, stderr)."""
    try:
        r = subprocess.run([bin_path, *args], stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=PROC_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        err = (e.stderr or b"").decode("utf-8", "replace")
        outputs.append((label, out + err))
        return None, out, err
    out, err = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    outputs.append((label, out + err))
    return r.returncode, out, err


def load_upstream(home):
    path = home / "credentials.json"
    if not path.is_file():
        return None
    up = json.loads(path.read_text()).get("upstream")
    if up and up.get("tokens"):
        tokens_seen.update(filter(None, [up["tokens"].get("access_token"), up["tokens"].get("refresh_token")]))
    return up


def audit_records(home):
    path = home / "audit" / "audit.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_config(home, site_url, rs_url, upstream_extra="", extra=""):
    (home / "config.toml").write_text(
        f"""[site]
url = "{site_url}"
deployment = "cloud"
auth = "api-token"
email = "demo@example.com"
api_token = "sandbox-api-token"

[upstream]
url = "{rs_url}"
{upstream_extra}
{extra}"""
    )


def login_upstream(bin_path, env, issuer, rs_url, as_log):
    """`login --upstream --no-browser` with this script as the browser; returns the client id."""
    proc = subprocess.Popen(
        [bin_path, "login", "--upstream", "--no-browser", "--timeout", "60"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    err_drain = Drain(proc.stderr)
    out_drain = None
    code = None
    try:
        try:
            url, rest = read_line(proc.stdout, 20, "login --upstream --no-browser")
        except Abort as e:
            raise Abort(f"{e}\n--- login stderr ---\n{err_drain.text()}") from None
        out_drain = Drain(proc.stdout, rest)
        split = urllib.parse.urlsplit(url)
        q = dict(urllib.parse.parse_qsl(split.query))
        redirect = urllib.parse.urlsplit(q.get("redirect_uri", ""))
        check(
            "stdout's first line is oidc-provider's authorize URL",
            f"{split.scheme}://{split.netloc}{split.path}" == f"{issuer}/auth",
            url,
        )
        check(
            "authorize URL: code, PKCE S256, state, resource = the MCP URL, scope from the RFC 9728 document",
            q.get("response_type") == "code"
            and q.get("code_challenge_method") == "S256"
            and len(q.get("code_challenge", "")) >= 43
            and len(q.get("state", "")) >= 16
            and q.get("resource") == rs_url
            and "mcp:tools" in q.get("scope", "").split(),
            json.dumps(q, indent=1),
        )
        check(
            "authorize URL: exact loopback redirect http://127.0.0.1:<port>/callback, a registered client id",
            redirect.scheme == "http"
            and redirect.hostname == "127.0.0.1"
            and bool(redirect.port)
            and redirect.path == "/callback"
            and q.get("client_id") not in (None, "", RS_CLIENT_ID),
            json.dumps(q, indent=1),
        )
        registered = [line for line in as_log().splitlines() if line.startswith("registered ")]
        check(
            "oidc-provider registered one client by DCR: native, auth none, that redirect URI, code + refresh",
            len(registered) == 1
            and registered[0].split()[1] == q.get("client_id")
            and " native none " in registered[0]
            and json.dumps([q.get("redirect_uri")], separators=(",", ":")) in registered[0]
            and '"authorization_code"' in registered[0]
            and '"refresh_token"' in registered[0],
            "\n".join(registered) or as_log()[-2000:],
        )
        prefix = f"http://127.0.0.1:{redirect.port}/callback"
        try:
            callback, hops = browser(url, prefix)
        except Abort as e:
            check("browser reached the loopback callback through oidc-provider", False, e)
            raise
        cq = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
        check(
            "oidc-provider redirected to the callback with a code, the same state and iss (RFC 9207)",
            "code" in cq and cq.get("state") == q.get("state") and cq.get("iss") == issuer and "error" not in cq,
            f"hops: {hops}; callback query keys: {sorted(cq)}; iss {cq.get('iss')}; error {cq.get('error')}",
        )
        status, _, page = http_call(callback)
        check("callback page says signed in", status == 200 and "Signed in" in page, f"{status}: {page}")
        try:
            code = proc.wait(PROC_TIMEOUT)
        except subprocess.TimeoutExpired:
            code = None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    out = out_drain.text() if out_drain else ""
    err = err_drain.text()
    outputs.append(("login --upstream", f"{out}{err}"))
    if not check("login --upstream exits 0", code == 0, f"exit {code}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"):
        raise Abort("login --upstream failed")
    exchanges = [line for line in as_log().splitlines() if line.startswith("grant.success authorization_code")]
    check(
        "the code exchange carried resource = the MCP URL (RFC 8707)",
        exchanges == [f"grant.success authorization_code resource={rs_url}"],
        "\n".join(exchanges) or as_log()[-1500:],
    )
    return q["client_id"], q["redirect_uri"]


def text_of(result):
    return "\n".join(getattr(c, "text", "") for c in result.content)


class Serve:
    """`serve` over stdio, driven by the Python SDK's client (initialize lifecycle)."""

    def __init__(self, bin_path, env, errlog_path, asked):
        self.params = StdioServerParameters(command=bin_path, args=["serve"], env=env)
        self.errlog_path = errlog_path
        self.asked = asked

    async def __aenter__(self):
        self.errlog = open(self.errlog_path, "a")

        async def confirm(context, params):
            self.asked.append(params.message)
            return types.ElicitResult(action="accept", content={"proceed": True})

        self.client = Client(
            stdio_client(self.params, errlog=self.errlog),
            mode="legacy",
            read_timeout_seconds=30,
            elicitation_callback=confirm,
        )
        return await self.client.__aenter__()

    async def __aexit__(self, *exc):
        try:
            return await self.client.__aexit__(*exc)
        finally:
            self.errlog.close()


async def tool_names(client):
    return {t.name: t for t in (await client.list_tools()).tools}


async def drive_serve(bin_path, env, home, tmp, site_url, issuer, rs_url, client_id, disco, as_log, rs_log):
    errlog = tmp / "serve.stderr"
    asked = []

    # --- tools = "both", no policy ---------------------------------------------------------
    async with Serve(bin_path, env, errlog, asked) as client:
        tools = await tool_names(client)
        check(
            "tools/list: rovo_getJiraIssue, rovo_createJiraIssue, rovo_echo next to jira_search",
            {"rovo_getJiraIssue", "rovo_createJiraIssue", "rovo_echo", "jira_search", "jira_get_issue"} <= set(tools),
            sorted(tools),
        )
        get, create = tools.get("rovo_getJiraIssue"), tools.get("rovo_createJiraIssue")
        check(
            "upstream annotations forwarded: getJiraIssue read-only, createJiraIssue not",
            get is not None
            and create is not None
            and get.annotations is not None
            and get.annotations.read_only_hint is True
            and (create.annotations is None or create.annotations.read_only_hint is not True),
            f"{get}\n{create}",
        )
        check(
            "upstream input schema forwarded (issueIdOrKey required)",
            get is not None and "issueIdOrKey" in (get.input_schema or {}).get("required", []),
            get,
        )

        r = await client.call_tool("rovo_getJiraIssue", {"issueIdOrKey": "ENG-7"})
        s = r.structured_content or {}
        check(
            "rovo_getJiraIssue returns the Python server's structured answer",
            not r.is_error and s.get("key") == "ENG-7" and "Python MCP SDK server" in s.get("summary", ""),
            f"{r.is_error} {s} {text_of(r)[:300]}",
        )
        check(
            "the Python server saw the bridge's bearer: the signed-in account and the registered client",
            s.get("requestedBy") == ACCOUNT_ID and s.get("requestedByClient") == client_id,
            s,
        )
        r = await client.call_tool("jira_get_issue", {"key": "ENG-1"})
        check(
            "the bridge's own jira_get_issue (sandbox site) works beside them",
            not r.is_error and (r.structured_content or {}).get("key") == "ENG-1",
            text_of(r)[:300],
        )
        r = await client.call_tool("rovo_createJiraIssue", {"projectKey": "ENG", "summary": "Filed through the bridge"})
        s = r.structured_content or {}
        check(
            "rovo_createJiraIssue after a yes to the confirmation: the server created ENG-101",
            not r.is_error and s.get("key") == "ENG-101" and len(asked) == 1,
            f"asked {asked}; {s} {text_of(r)[:300]}",
        )
        r = await client.call_tool("rovo_echo", {"text": "hello upstream"})
        check("rovo_echo round-trips text", not r.is_error and "hello upstream" in text_of(r), text_of(r)[:300])

        first = load_upstream(home) or {}
        first_tokens = first.get("tokens") or {}
        # Past the access token's lifetime: the next call refreshes (rotation) first.
        await asyncio.sleep(ACCESS_TTL + 1)
        r = await client.call_tool("rovo_getJiraIssue", {"issueIdOrKey": "ENG-8"})
        check(
            f"after the {ACCESS_TTL} s access token expired, rovo_getJiraIssue still works",
            not r.is_error and (r.structured_content or {}).get("key") == "ENG-8",
            f"{text_of(r)[:500]}\n--- serve stderr ---\n{errlog.read_text(errors='replace')[-2000:]}",
        )
        second = load_upstream(home) or {}
        second_tokens = second.get("tokens") or {}
        check(
            "the refresh stored a new access token and a rotated refresh token",
            bool(second_tokens.get("refresh_token"))
            and second_tokens.get("refresh_token") != first_tokens.get("refresh_token")
            and second_tokens.get("access_token") != first_tokens.get("access_token"),
        )
        if first_tokens.get("refresh_token") and second_tokens.get("refresh_token"):
            old, new = introspect(disco, first_tokens["refresh_token"]), introspect(disco, second_tokens["refresh_token"])
            check(
                "oidc-provider: the rotated-away refresh token is inactive, the new one active",
                old.get("active") is False and new.get("active") is True,
                f"old {old}\nnew {new}",
            )
        grants = [line for line in as_log().splitlines() if line.startswith("grant.success refresh_token")]
        check(
            "the refresh request carried resource = the MCP URL (RFC 8707)",
            bool(grants) and all(line.endswith(f"resource={rs_url}") for line in grants),
            "\n".join(grants) or as_log()[-1500:],
        )

        # An access token the server dropped before its expiry: the upstream answers 401 and the
        # bridge must fetch a fresh one (its clock says the token is still good). (RFC 7009
        # revocation would not do: oidc-provider then ends every token of the grant.)
        access = second_tokens.get("access_token")
        if access:
            status, _, body = http_call(
                f"{issuer}/test/forget-access-token", urllib.parse.urlencode({"token": access}).encode(), {}, "POST"
            )
            check(
                "oidc-provider dropped the current access token (introspection: inactive)",
                status == 204 and introspect(disco, access).get("active") is False,
                f"{status}: {body}",
            )
            refused_before = rs_log().count("token refused")
            r = await client.call_tool("rovo_getJiraIssue", {"issueIdOrKey": "ENG-9"})
            check(
                "after the upstream's 401 for a dropped token, the bridge refreshes and the call succeeds",
                not r.is_error and (r.structured_content or {}).get("key") == "ENG-9",
                f"{text_of(r)[:500]}\n--- python server log ---\n{rs_log()[-1500:]}",
            )
            check(
                "the Python server refused the dropped token (introspection: inactive)",
                rs_log().count("token refused") > refused_before,
                rs_log()[-1500:],
            )
            third = (load_upstream(home) or {}).get("tokens") or {}
            check("a new access token was stored after the 401", third.get("access_token") not in (None, access))

    # --- [policy] read_only = true --------------------------------------------------------
    write_config(home, site_url, rs_url, extra="[policy]\nread_only = true\n")
    async with Serve(bin_path, env, errlog, asked) as client:
        tools = await tool_names(client)
        check(
            "read_only: rovo_createJiraIssue hidden, rovo_getJiraIssue and rovo_echo offered",
            "rovo_createJiraIssue" not in tools and {"rovo_getJiraIssue", "rovo_echo"} <= set(tools),
            sorted(tools),
        )
        creates_before = rs_log().count("tools/call createJiraIssue")
        try:
            r = await client.call_tool("rovo_createJiraIssue", {"projectKey": "ENG", "summary": "must not arrive"})
            refused, detail = r.is_error is True, text_of(r)[:300]
        except Exception as e:  # noqa: BLE001 - a protocol error is a refusal too
            refused, detail = True, repr(e)
        check(
            "read_only: calling rovo_createJiraIssue anyway is refused and never reaches the server",
            refused and rs_log().count("tools/call createJiraIssue") == creates_before,
            detail,
        )
        r = await client.call_tool("rovo_getJiraIssue", {"issueIdOrKey": "OPS-3"})
        check(
            "read_only: rovo_getJiraIssue still works",
            not r.is_error and (r.structured_content or {}).get("key") == "OPS-3",
            text_of(r)[:300],
        )

    # --- tools = "upstream" ---------------------------------------------------------------
    write_config(home, site_url, rs_url, upstream_extra='tools = "upstream"')
    async with Serve(bin_path, env, errlog, asked) as client:
        tools = await tool_names(client)
        check(
            'tools = "upstream": the three rovo_ tools, none of the bridge\'s Jira/Confluence tools',
            {"rovo_getJiraIssue", "rovo_createJiraIssue", "rovo_echo"} <= set(tools)
            and not any(n.startswith(("jira_", "confluence_")) for n in tools),
            sorted(tools),
        )
    write_config(home, site_url, rs_url)


async def serve_after_logout(bin_path, env, tmp):
    async with Serve(bin_path, env, tmp / "serve.stderr", []) as client:
        tools = await tool_names(client)
        check("after logout, serve still offers the bridge's own tools", "jira_search" in tools, sorted(tools))
        try:
            r = await client.call_tool("rovo_getJiraIssue", {"issueIdOrKey": "ENG-1"})
            ok, detail = r.is_error is True and "login --upstream" in text_of(r), text_of(r)[:400]
        except Exception as e:  # noqa: BLE001 - an MCP error naming the fix is fine too
            ok, detail = "login --upstream" in str(e), repr(e)
        check("after logout, a proxied call is an error saying to run `login --upstream`", ok, detail)


def check_audit(home, bin_path, env):
    records = audit_records(home)
    calls = [r for r in records if r.get("event") == "tool_call"]
    gets = [r for r in calls if r.get("tool") == "rovo_getJiraIssue"]
    first = next((r for r in gets if "ENG-7" in (r.get("touched") or [])), None)
    up = (first or {}).get("upstream") or [{}]
    check(
        "audit: tool_call rovo_getJiraIssue with upstream [MCP tools/call getJiraIssue 200], touched ENG-7",
        first is not None
        and first.get("outcome") == "ok"
        and up[0].get("method") == "MCP"
        and up[0].get("path") == "tools/call getJiraIssue"
        and up[0].get("status") == 200,
        json.dumps(gets, indent=1)[:3000],
    )
    check(
        "audit: one ok record per proxied getJiraIssue call (ENG-7, ENG-8, ENG-9, OPS-3)",
        sorted(k for r in gets if r.get("outcome") == "ok" for k in (r.get("touched") or []))
        == ["ENG-7", "ENG-8", "ENG-9", "OPS-3"],
        json.dumps([(r.get("outcome"), r.get("touched")) for r in gets]),
    )
    creates = [r for r in calls if r.get("tool") == "rovo_createJiraIssue"]
    ok_creates = [r for r in creates if r.get("outcome") == "ok"]
    check(
        "audit: rovo_createJiraIssue ok once, touched names the created ENG-101, upstream tools/call createJiraIssue",
        len(ok_creates) == 1
        and "ENG-101" in (ok_creates[0].get("touched") or [])
        and (ok_creates[0].get("upstream") or [{}])[0].get("path") == "tools/call createJiraIssue",
        json.dumps(creates, indent=1)[:3000],
    )
    check(
        "audit: the read_only refusal is recorded (denied), not forwarded",
        any(r.get("outcome") == "denied" and not r.get("upstream") for r in creates),
        json.dumps(creates, indent=1)[:3000],
    )
    logins = [r for r in records if r.get("event") == "login"]
    paths = [u.get("path") for r in logins for u in r.get("upstream") or []]
    expected = ["/mcp", "/.well-known/oauth-protected-resource/mcp", "/reg", "/token"]
    check(
        "audit: login record ok, listing the 401 probe, RFC 9728 document, AS metadata, /reg and /token",
        len(logins) == 1
        and logins[0].get("outcome") == "ok"
        and all(p in paths for p in expected)
        and any(p and p.startswith("/.well-known/oauth-authorization-server") or p == "/.well-known/openid-configuration" for p in paths),
        json.dumps(logins, indent=1)[:3000],
    )
    refreshes = [r for r in records if r.get("event") == "token_refresh"]
    good = [r for r in refreshes if r.get("outcome") == "ok"]
    check(
        "audit: token_refresh records with outcome ok (expiry and the 401), POST /token 200, actor oauth-upstream",
        len(good) >= 2
        and all(any(u.get("path") == "/token" and u.get("status") == 200 for u in r.get("upstream") or []) for r in good)
        and all((r.get("actor") or {}).get("auth") == "oauth-upstream" for r in good),
        json.dumps(refreshes, indent=1)[:3000],
    )
    check("audit: no failed token_refresh", len(good) == len(refreshes), json.dumps(refreshes, indent=1)[:3000])
    logouts = [r for r in records if r.get("event") == "logout"]
    check(
        "audit: logout record ok with POST /token/revocation 200",
        len(logouts) == 1
        and logouts[0].get("outcome") == "ok"
        and any(
            u.get("method") == "POST" and u.get("path") == "/token/revocation" and u.get("status") == 200
            for u in logouts[0].get("upstream") or []
        ),
        json.dumps(logouts, indent=1)[:3000],
    )
    code, out, err = run_bridge(bin_path, env, "audit verify", "audit", "verify")
    check("audit verify exits 0", code == 0, f"exit {code}\n{out}\n{err}")
    return records


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bridge", help="path to the atlassian-mcp-bridge binary")
    ap.add_argument(
        "--peer-dir",
        default=os.environ.get("OIDC_PEER_DIR", str(REPO / "target" / "peers" / "oidc")),
        help="directory whose node_modules holds oidc-provider",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    bin_path = str(Path(a.bridge).resolve())
    if not os.access(bin_path, os.X_OK):
        print(f"FAIL bridge binary {bin_path} is not executable")
        return 1
    peer_dir = Path(a.peer_dir).resolve()
    node = shutil.which("node")

    tmp = Path(tempfile.mkdtemp(prefix="bridge-upstream-"))
    home = tmp / "home"
    home.mkdir()
    (tmp / "sandbox-home").mkdir()
    children = Children()
    as_proc = rs_proc = None
    as_log = lambda: Children.log(as_proc) if as_proc else ""  # noqa: E731
    rs_log = lambda: Children.log(rs_proc) if rs_proc else ""  # noqa: E731
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("ATLASSIAN_")}
    base_env.update(NO_PROXY=no_proxy, no_proxy=no_proxy, NO_COLOR="1")
    try:
        if not node:
            raise Abort("node is not on PATH (Node 20 or newer is needed for oidc-provider 9)")
        if not (peer_dir / "node_modules" / "oidc-provider").is_dir():
            raise Abort(f"{peer_dir}/node_modules/oidc-provider is missing; run tests/peers/run.sh")

        # The bridge's sandbox: the Cloud site `serve` needs beside the upstream.
        sandbox = children.start(
            "sandbox",
            [bin_path, "sandbox", "--port", "0"],
            dict(base_env, ATLASSIAN_MCP_BRIDGE_HOME=str(tmp / "sandbox-home")),
            tmp / "sandbox.log",
        )
        m = re.search(r"(http://127\.0\.0\.1:\d+)", children.first_line(sandbox))
        if not m:
            raise Abort("the sandbox printed no URL")
        site_url = m.group(1)

        rs_port = free_port()
        rs_url = f"http://127.0.0.1:{rs_port}/mcp"
        as_proc = children.start(
            "as.mjs",
            [node, str(HERE / "as.mjs"), "0", rs_url, str(ACCESS_TTL)],
            dict(base_env, OIDC_PEER_DIR=str(peer_dir)),
            tmp / "as.log",
        )
        line = children.first_line(as_proc)
        if not line.startswith("listening "):
            raise Abort(f"unexpected first line from as.mjs: {line!r}")
        issuer = f"http://127.0.0.1:{int(line.split()[1])}"
        rs_proc = children.start(
            "server.py",
            [sys.executable, str(HERE / "server.py"), "--port", str(rs_port), "--issuer", issuer,
             "--client-id", RS_CLIENT_ID, "--client-secret", RS_CLIENT_SECRET],
            base_env,
            tmp / "server.log",
        )
        prm_url = f"http://127.0.0.1:{rs_port}/.well-known/oauth-protected-resource/mcp"
        deadline = time.monotonic() + 20
        while True:
            status, _, body = http_call(prm_url)
            if status == 200:
                break
            if rs_proc.poll() is not None or time.monotonic() > deadline:
                raise Abort(f"server.py did not come up ({status} {body})\n{rs_log()}")
            time.sleep(0.2)

        status, _, disco_text = http_call(f"{issuer}/.well-known/oauth-authorization-server")
        disco = json.loads(disco_text)
        check(
            "oidc-provider metadata: /reg, S256, introspection, revocation, iss in responses",
            disco.get("issuer") == issuer
            and disco.get("registration_endpoint") == f"{issuer}/reg"
            and disco.get("code_challenge_methods_supported") == ["S256"]
            and bool(disco.get("introspection_endpoint"))
            and disco.get("revocation_endpoint") == f"{issuer}/token/revocation"
            and disco.get("authorization_response_iss_parameter_supported") is True,
            json.dumps(disco, indent=1),
        )
        prm = json.loads(body)
        check(
            "Python SDK server: path-aware RFC 9728 document names the MCP URL and the issuer",
            prm.get("resource") == rs_url and [s.rstrip("/") for s in prm.get("authorization_servers", [])] == [issuer],
            body,
        )
        status, headers, body = http_call(
            rs_url,
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode(),
            {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
            "POST",
        )
        www = headers.get("WWW-Authenticate", "") if headers else ""
        check(
            "Python SDK server: an unauthenticated POST gets 401 with resource_metadata",
            status == 401 and f'resource_metadata="{prm_url}"' in www,
            f"{status} {www} {body}",
        )

        write_config(home, site_url, rs_url)
        env = dict(base_env, ATLASSIAN_MCP_BRIDGE_HOME=str(home))
        t0 = time.monotonic()
        client_id, redirect_uri = login_upstream(bin_path, env, issuer, rs_url, as_log)
        up = load_upstream(home) or {}
        reg, toks = up.get("registration") or {}, up.get("tokens") or {}
        check(
            "credentials.json: the upstream entry with the registration and both tokens",
            up.get("url") == rs_url
            and reg.get("client_id") == client_id
            and reg.get("issuer") == issuer
            and reg.get("redirect_uri") == redirect_uri
            and reg.get("auth_method") == "none"
            and reg.get("iss_in_response") is True
            and reg.get("revocation_endpoint") == f"{issuer}/token/revocation"
            and bool(toks.get("access_token"))
            and bool(toks.get("refresh_token")),
            json.dumps({**up, "tokens": sorted(toks)}, indent=1),
        )
        mode = stat.S_IMODE((home / "credentials.json").stat().st_mode)
        check("credentials.json has mode 0600", mode == 0o600, f"{mode:o}")
        if toks.get("access_token"):
            info = introspect(disco, toks["access_token"])
            aud = info.get("aud")
            check(
                "oidc-provider: the access token is active, audience = the MCP URL, scope mcp:tools, our client",
                info.get("active") is True
                and (aud == rs_url or (isinstance(aud, list) and rs_url in aud))
                and "mcp:tools" in (info.get("scope") or "").split()
                and info.get("client_id") == client_id
                and info.get("sub") == ACCOUNT_ID,
                json.dumps(info, indent=1),
            )

        asyncio.run(drive_serve(bin_path, env, home, tmp, site_url, issuer, rs_url, client_id, disco, as_log, rs_log))

        last = (load_upstream(home) or {}).get("tokens") or {}
        code, out, err = run_bridge(bin_path, env, "logout --upstream", "logout", "--upstream")
        check("logout --upstream exits 0", code == 0, f"exit {code}\n{out}\n{err}")
        check("logout --upstream deleted the upstream entry", load_upstream(home) is None)
        check(
            "oidc-provider saw POST /token/revocation -> 200",
            "POST /token/revocation -> 200" in as_log(),
            as_log()[-1500:],
        )
        if last.get("refresh_token"):
            info = introspect(disco, last["refresh_token"])
            check("oidc-provider: the last refresh token is inactive after logout", info.get("active") is False, info)
        asyncio.run(serve_after_logout(bin_path, env, tmp))

        check_audit(home, bin_path, env)
        audit_text = (home / "audit" / "audit.jsonl").read_text() if (home / "audit" / "audit.jsonl").is_file() else ""
        serve_err = (tmp / "serve.stderr").read_text(errors="replace") if (tmp / "serve.stderr").is_file() else ""
        texts = [("audit log", audit_text), ("serve stderr", serve_err), *outputs]
        leaks = [label for label, text in texts if any(t in text for t in tokens_seen)]
        check(f"no token ({len(tokens_seen)} seen) in the audit log or any bridge output", bool(tokens_seen) and not leaks, leaks)
        print(f"(upstream section took {time.monotonic() - t0:.1f} s after the peers started)", flush=True)
    except Abort as e:
        check("run completed", False, e)
    except Exception:  # noqa: BLE001 - report, then fail
        import traceback

        check("run completed", False, traceback.format_exc())
    finally:
        children.stop_all()
        if failed:
            for proc in children.procs:
                print(f"--- {proc.label} log (last lines) ---")
                for line in Children.log(proc).splitlines()[-30:]:
                    print(f"     {line}")
            if (tmp / "serve.stderr").is_file():
                print("--- serve stderr (last lines) ---")
                for line in (tmp / "serve.stderr").read_text(errors="replace").splitlines()[-30:]:
                    print(f"     {line}")
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
