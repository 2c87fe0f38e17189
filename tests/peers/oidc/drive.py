#!/usr/bin/env python3
"""The bridge's OAuth client against a real, independent authorization server: oidc-provider 9.

    python3 tests/peers/oidc/drive.py <bridge binary> [--peer-dir DIR]

DIR (default: <repo>/target/peers/oidc, or $OIDC_PEER_DIR) must hold node_modules/oidc-provider
(tests/peers/run.sh installs it there from tests/peers/oidc/package.json).

Starts tests/peers/oidc/server.mjs and plays the browser for `login --no-browser` with a cookie
jar (oidc-provider's interaction cookies) up to the loopback callback. Checks, in order:
  - a declined consent (error=access_denied) fails the login cleanly;
  - login (code + PKCE S256 + state, client_secret_post), a forged-state callback ignored,
    credentials.json (0600) with site, cloud id and account;
  - `status` after the 3 s access token expired: refresh, rotated refresh token persisted;
  - four `status` processes at once after expiry: all succeed (oidc-provider revokes the whole
    grant if a rotated-away refresh token is ever reused, so this needs single-flight refresh);
  - replaying an old refresh token revokes the grant; `status` then exits 1 and says to log in;
  - a second login with oauth.redirect_port = 0, then `logout` revoking at /token/revocation;
  - the audit log (login / token_refresh / logout records, `audit verify`), and that no token
    or the client secret appears in the audit log or any bridge output.
Prints one line per check and "N passed, M failed"; exits 1 on any failure.
Python 3 standard library only.
"""

import argparse
import http.cookiejar
import json
import os
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

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
CLIENT_ID = "bridge-test"
CLIENT_SECRET = "bridge-test-secret"
HTTP_TIMEOUT = 15  # seconds, every HTTP request
PROC_TIMEOUT = 45  # seconds, every bridge command

# Everything is on 127.0.0.1: never go through an http_proxy from the environment.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

passed = 0
failed = 0
outputs = []  # (label, text) of everything the bridge printed, for the leak check


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
    """The first line of a pipe, or Abort after `timeout` seconds."""
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


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # surface every 3xx as an HTTPError, so each hop is seen


def browser(authorize_url, callback_prefix, deny=False):
    """Follows the authorization redirects with a cookie jar until one points at the bridge's
    loopback callback; returns that callback URL. With `deny`, the person declines at the
    first interaction."""
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
                raise Abort(
                    f"GET {urllib.parse.urlsplit(url).path} answered {r.status} instead of a "
                    f"redirect: {body}\nhops: {hops}"
                )
        except urllib.error.HTTPError as e:
            if e.code not in (301, 302, 303, 307, 308):
                body = e.read(2000).decode("utf-8", "replace")
                raise Abort(
                    f"GET {urllib.parse.urlsplit(url).path} answered {e.code}: {body}\nhops: {hops}"
                ) from None
            location = e.headers.get("Location")
            if not location:
                raise Abort(f"{e.code} without Location from {url}") from None
            hops.append(f"{e.code} {urllib.parse.urlsplit(url).path}")
            url = urllib.parse.urljoin(url, location)
            if deny and urllib.parse.urlsplit(url).path.startswith("/interaction/"):
                url += "&deny=1" if "?" in url else "?deny=1"
    raise Abort(f"no redirect to {callback_prefix} after {len(hops)} hops: {hops}")


def start_server(peer_dir, redirect_port, log_path):
    node = shutil.which("node")
    if not node:
        raise Abort("node is not on PATH (Node 20 or newer is needed for oidc-provider 9)")
    if not (Path(peer_dir) / "node_modules" / "oidc-provider").is_dir():
        raise Abort(
            f"{peer_dir}/node_modules/oidc-provider is missing; install it with\n"
            f"  mkdir -p {peer_dir} && cp {HERE}/package.json {peer_dir}/ && "
            f"(cd {peer_dir} && npm install --no-audit --no-fund)\n"
            "or run tests/peers/run.sh"
        )
    env = dict(os.environ, OIDC_PEER_DIR=str(peer_dir))
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [node, str(HERE / "server.mjs"), "0", str(redirect_port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
        start_new_session=True,
    )
    log.close()
    try:
        line, rest = read_line(proc.stdout, 20, "node server.mjs")
    except Abort as e:
        stop(proc)
        raise Abort(f"{e}\n--- server stderr ---\n{Path(log_path).read_text(errors='replace')}")
    if not line.startswith("listening "):
        stop(proc)
        raise Abort(f"unexpected first line from server.mjs: {line!r}")
    proc.drain = Drain(proc.stdout, rest)
    return proc, int(line.split()[1])


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def run_bridge(bin_path, env, label, *args):
    """Runs a bridge command to completion (bounded); returns (code, stdout, stderr)."""
    try:
        r = subprocess.run(
            [bin_path, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            timeout=PROC_TIMEOUT,
        )
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        err = (e.stderr or b"").decode("utf-8", "replace")
        outputs.append((label, out + err))
        return None, out, err
    out, err = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    outputs.append((label, out + err))
    return r.returncode, out, err


def load_creds(home):
    return json.loads((home / "credentials.json").read_text())


def get_page(url):
    """GET without cookies; returns (status, body), status 0 when nothing answered."""
    try:
        with DIRECT.open(url, timeout=HTTP_TIMEOUT) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except OSError as e:
        return 0, str(e)


def token_post(url, **form):
    """POST a form to an oidc-provider endpoint as the bridge-test client (client_secret_post);
    returns (status, JSON body or text)."""
    data = urllib.parse.urlencode(dict(form, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    try:
        with DIRECT.open(req, timeout=HTTP_TIMEOUT) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode("utf-8", "replace")


def active(disco, token):
    """RFC 7662 introspection at oidc-provider: is this token alive?"""
    status, body = token_post(disco["introspection_endpoint"], token=token)
    if status != 200 or not isinstance(body, dict):
        raise Abort(f"introspection answered {status}: {body}")
    return body.get("active") is True


def login(bin_path, env, redirect_port, label="login", probe_forged_state=False, deny=False):
    """`login --no-browser`, with this script as the browser. Returns (check passed, output):
    the check is "exits 0", or with `deny` "exits 1 naming access_denied"."""
    proc = subprocess.Popen(
        # A declined consent ends the flow at once (exit 1, naming the server's error); the
        # 60 s timeout is never reached.
        [bin_path, "login", "--no-browser", "--timeout", "60"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    err_drain = Drain(proc.stderr)
    out_drain = None
    try:
        try:
            url, rest = read_line(proc.stdout, 15, "login --no-browser")
        except Abort as e:
            raise Abort(f"{e}\n--- login stderr ---\n{err_drain.text()}") from None
        out_drain = Drain(proc.stdout, rest)
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        tag = "" if label == "login" else f"{label}: "
        if redirect_port == 0:
            # oauth.redirect_port = 0: the bridge picked a free port; oidc-provider accepts any
            # loopback port for a native client (RFC 8252 section 7.3).
            redirect_port = urllib.parse.urlsplit(q.get("redirect_uri", "")).port or -1
        check(
            f"{tag}authorize URL: code + S256 PKCE + state + prompt=consent + scopes, no audience",
            q.get("response_type") == "code"
            and q.get("code_challenge_method") == "S256"
            and len(q.get("code_challenge", "")) >= 43
            and len(q.get("state", "")) >= 16
            and q.get("prompt") == "consent"
            and q.get("client_id") == CLIENT_ID
            and q.get("redirect_uri") == f"http://127.0.0.1:{redirect_port}/callback"
            and set(q.get("scope", "").split()) == {"openid", "offline_access"}
            and "audience" not in q,
            url,
        )
        prefix = f"http://127.0.0.1:{redirect_port}/callback"
        try:
            callback, hops = browser(url, prefix, deny)
        except Abort as e:
            check(f"{tag}browser reached the loopback callback through oidc-provider", False, e)
            raise
        cq = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
        if deny:
            check(
                f"{tag}oidc-provider redirected to the callback with error=access_denied",
                cq.get("error") == "access_denied" and cq.get("state") == q.get("state"),
                f"hops: {hops}; callback query: {cq}",
            )
            status, page = get_page(callback)
            check(
                f"{tag}callback page says sign-in not completed",
                status == 200 and "not completed" in page and "access_denied" in page,
                f"{status}: {page}",
            )
        else:
            check(
                f"{tag}oidc-provider redirected to the callback with a code and the same state",
                "code" in cq and cq.get("state") == q.get("state") and "error" not in cq,
                f"hops: {hops}; callback query keys: {sorted(cq)}; error: {cq.get('error')} "
                f"{cq.get('error_description', '')}",
            )
            if probe_forged_state:
                status, page = get_page(f"{prefix}?code=forged-code&state=forged-state")
                check(
                    "a callback with a forged state is refused and does not end the sign-in",
                    status == 200 and "not recognised" in page and proc.poll() is None,
                    f"{status}: {page}",
                )
            status, page = get_page(callback)
            check(f"{tag}callback page says signed in", status == 200 and "Signed in" in page, f"{status}: {page}")
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
    outputs.append((label, f"{url if out_drain else ''}\n{out}{err}"))
    detail = f"exit {code}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    if deny:
        return check(f"{label} exits 1 and names access_denied", code == 1 and "access_denied" in err, detail), out + err
    return check(f"{label} exits 0", code == 0, detail), out + err


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bridge", help="path to the atlassian-mcp-bridge binary")
    ap.add_argument(
        "--peer-dir",
        default=os.environ.get("OIDC_PEER_DIR", str(REPO / "target" / "peers" / "oidc")),
        help="directory whose node_modules holds oidc-provider",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary home")
    a = ap.parse_args()
    bin_path = str(Path(a.bridge).resolve())
    if not os.access(bin_path, os.X_OK):
        print(f"FAIL bridge binary {bin_path} is not executable")
        return 1

    tmp = Path(tempfile.mkdtemp(prefix="bridge-oidc-"))
    home = tmp / "home"
    home.mkdir()
    server_log = tmp / "server.log"
    server = None
    try:
        redirect_port = free_port()
        server, port = start_server(Path(a.peer_dir).resolve(), redirect_port, server_log)
        base = f"http://127.0.0.1:{port}"
        with DIRECT.open(f"{base}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT) as r:
            disco = json.load(r)
        check(
            "oidc-provider discovery: /auth, /token, S256",
            disco.get("authorization_endpoint") == f"{base}/auth"
            and disco.get("token_endpoint") == f"{base}/token"
            and disco.get("code_challenge_methods_supported") == ["S256"],
            json.dumps(disco, indent=1),
        )
        (home / "config.toml").write_text(
            f"""[site]
url = "{base}/site"
deployment = "cloud"
auth = "oauth"

[oauth]
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
audience = ""
redirect_port = {redirect_port}
scopes = ["openid", "offline_access"]
authorize_url = "{disco['authorization_endpoint']}"
token_url = "{disco['token_endpoint']}"
resources_url = "{base}/oauth/token/accessible-resources"
api_base = "{base}"
revocation_url = "{disco['revocation_endpoint']}"
"""
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATLASSIAN_")}
        no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))
        env.update(ATLASSIAN_MCP_BRIDGE_HOME=str(home), NO_COLOR="1", NO_PROXY=no_proxy, no_proxy=no_proxy)

        # The person declines at oidc-provider's interaction: an RFC 6749 error redirect.
        login(bin_path, env, redirect_port, label="declined login", deny=True)
        check("declined login stored no credentials", not (home / "credentials.json").exists())

        ok, login_text = login(bin_path, env, redirect_port, probe_forged_state=True)
        if not ok:
            raise Abort("login failed")
        check(
            "login output names the signed-in account",
            "Oidc Peer User" in login_text or "peer.user@example.test" in login_text,
            login_text,
        )
        cred_path = home / "credentials.json"
        if not check("credentials.json exists", cred_path.is_file()):
            raise Abort("no credentials")
        mode = stat.S_IMODE(cred_path.stat().st_mode)
        check("credentials.json has mode 0600", mode == 0o600, f"mode {mode:o}")
        c1 = load_creds(home)
        check(
            "credentials: site, cloud id, account, refresh token from oidc-provider",
            c1.get("site_url", "").rstrip("/") == f"{base}/site"
            and c1.get("cloud_id") == "oidc-peer-cloud-0001"
            and (c1.get("account") or {}).get("account_id") == "oidc-peer-account-42"
            and bool(c1.get("refresh_token"))
            and bool(c1.get("access_token")),
            json.dumps({k: v for k, v in c1.items() if not k.endswith("_token")}, indent=1),
        )
        tokens = {c1.get("access_token"), c1.get("refresh_token")}

        time.sleep(4)  # the access token lives 3 s
        code, out, err = run_bridge(bin_path, env, "status 1", "status")
        check("status after expiry exits 0 (refresh + myself)", code == 0, f"exit {code}\n{out}\n{err}")
        check(
            "status reports the account from /myself",
            "knows you as Oidc Peer User <peer.user@example.test>" in out,
            out,
        )
        c2 = load_creds(home)
        tokens |= {c2.get("access_token"), c2.get("refresh_token")}
        check(
            "refresh persisted a new (rotated) refresh token",
            bool(c2.get("refresh_token")) and c2.get("refresh_token") != c1.get("refresh_token"),
        )
        check("refresh persisted a new access token", c2.get("access_token") != c1.get("access_token"))
        mode = stat.S_IMODE(cred_path.stat().st_mode)
        check("credentials.json still 0600 after the refresh", mode == 0o600, f"mode {mode:o}")

        code, out, err = run_bridge(bin_path, env, "status 2", "status")
        check("second status exits 0 (rotated refresh token works)", code == 0, f"exit {code}\n{out}\n{err}")
        c3 = load_creds(home)
        tokens |= {c3.get("access_token"), c3.get("refresh_token")}

        # Expire again, then four bridge processes at once (two AI desktops, say). oidc-provider
        # revokes the whole grant when a rotated-away refresh token is reused, so this passes only
        # if the bridge's cross-process refresh is single-flight.
        time.sleep(4)
        results = [None] * 4

        def one(i):
            results[i] = run_bridge(bin_path, env, f"parallel status {i}", "status")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(PROC_TIMEOUT + 5)
        codes = [r[0] if r else None for r in results]
        check(
            "four concurrent status runs after expiry all exit 0",
            codes == [0, 0, 0, 0],
            "\n".join(f"exit {r[0]}\n{r[1]}\n{r[2]}" for r in results if r and r[0] != 0) or codes,
        )
        c4 = load_creds(home)
        tokens |= {c4.get("access_token"), c4.get("refresh_token")}
        check(
            "the concurrent runs rotated the refresh token again",
            c4.get("refresh_token") not in (c1.get("refresh_token"), c3.get("refresh_token")),
        )

        # A rotated-away refresh token comes back (a stolen copy, or a second process that
        # missed the rotation): oidc-provider revokes the whole grant. The bridge must then say
        # "sign in again", not loop or crash.
        check("the current refresh token is active at oidc-provider", active(disco, c4["refresh_token"]))
        status, body = token_post(
            disco["token_endpoint"], grant_type="refresh_token", refresh_token=c1["refresh_token"]
        )
        check(
            "replaying the first (rotated-away) refresh token is refused with invalid_grant",
            status == 400 and isinstance(body, dict) and body.get("error") == "invalid_grant",
            f"{status}: {body}",
        )
        check(
            "oidc-provider revoked the whole grant (current refresh token dead)",
            not active(disco, c4["refresh_token"]),
        )
        time.sleep(4)
        code, out, err = run_bridge(bin_path, env, "status 4", "status")
        check(
            "status with a revoked grant exits 1 and says to run login",
            code == 1 and "atlassian-mcp-bridge login" in out + err,
            f"exit {code}\n{out}\n{err}",
        )

        # Sign in again, this time with oauth.redirect_port = 0 (any free loopback port), then
        # log out: RFC 7009 revocation at oidc-provider's endpoint.
        config = home / "config.toml"
        config.write_text(config.read_text().replace(f"redirect_port = {redirect_port}\n", "redirect_port = 0\n"))
        ok, _ = login(bin_path, env, 0, label="second login (redirect_port = 0)")
        if not ok:
            raise Abort("second login failed")
        c5 = load_creds(home)
        tokens |= {c5.get("access_token"), c5.get("refresh_token")}
        check("second login: refresh token active", active(disco, c5["refresh_token"]))
        code, out, err = run_bridge(bin_path, env, "logout", "logout")
        check("logout exits 0", code == 0, f"exit {code}\n{out}\n{err}")
        check("logout deleted credentials.json", not cred_path.exists())
        check(
            "logout revoked the refresh token at oidc-provider (introspection: inactive)",
            not active(disco, c5["refresh_token"]),
            out,
        )

        audit_path = home / "audit" / "audit.jsonl"
        audit_text = audit_path.read_text() if audit_path.is_file() else ""
        records = []
        for line in audit_text.splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                check("audit line is JSON", False, line)
        events = [(r.get("event"), r.get("outcome")) for r in records]
        check("audit has two login records with outcome ok", events.count(("login", "ok")) == 2, events)
        denied = [r for r in records if r.get("event") == "login" and r.get("outcome") != "ok"]
        check(
            "audit has one failed login record naming access_denied",
            len(denied) == 1 and "access_denied" in (denied[0].get("error") or ""),
            json.dumps(denied, indent=1),
        )
        refreshes = [r for r in records if r.get("event") == "token_refresh"]
        good = [r for r in refreshes if r.get("outcome") == "ok"]
        bad = [r for r in refreshes if r.get("outcome") != "ok"]
        # status 1, maybe status 2 (when it ran after the 80 % mark), the concurrent batch (one,
        # or more only if a process got the lock after the new token neared expiry again).
        check("audit has token_refresh records with outcome ok (two to four)", 2 <= len(good) <= 4, events)
        check(
            "token_refresh ok records name the token endpoint call (POST /token 200)",
            all(any(u.get("path") == "/token" and u.get("status") == 200 for u in r.get("upstream", []))
                for r in good),
            json.dumps(refreshes, indent=1),
        )
        check(
            "audit has one failed token_refresh naming invalid_grant",
            len(bad) == 1 and bad[0].get("outcome") == "error" and "invalid_grant" in (bad[0].get("error") or ""),
            json.dumps(bad, indent=1),
        )
        logout = [r for r in records if r.get("event") == "logout"]
        check(
            "audit has a logout record with the revocation call (POST /token/revocation 200)",
            len(logout) == 1 and logout[0].get("outcome") == "ok"
            and any(u.get("method") == "POST" and u.get("path") == "/token/revocation" and u.get("status") == 200
                    for u in logout[0].get("upstream", [])),
            json.dumps(logout, indent=1),
        )
        code, out, err = run_bridge(bin_path, env, "audit verify", "audit", "verify")
        check("audit verify exits 0", code == 0, f"exit {code}\n{out}\n{err}")

        tokens.discard(None)
        tokens.discard("")
        leaks = [label for label, text in [("audit log", audit_text), *outputs] if any(t in text for t in tokens)]
        check(f"no token ({len(tokens)} seen) in the audit log or any bridge output", not leaks, leaks)
        leaks = [label for label, text in [("audit log", audit_text), *outputs] if CLIENT_SECRET in text]
        check("client secret in no audit record or output", not leaks, leaks)
    except Abort as e:
        check("run completed", False, e)
    except Exception as e:  # noqa: BLE001 - report, then fail
        import traceback

        check("run completed", False, traceback.format_exc() or e)
    finally:
        stop(server)
        if failed and server_log.is_file():
            print("--- oidc-provider server log (last lines) ---")
            for line in server_log.read_text(errors="replace").splitlines()[-40:]:
                print(f"     {line}")
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
