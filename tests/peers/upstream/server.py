"""An upstream MCP server built with the official Python MCP SDK 2.x (MCPServer, Streamable HTTP)
behind bearer auth, standing in for Atlassian's hosted one in the bridge's upstream mode.

    python server.py --port PORT --issuer http://127.0.0.1:AS_PORT \
        --client-id ID --client-secret SECRET

Serves http://127.0.0.1:PORT/mcp and the RFC 9728 document at
/.well-known/oauth-protected-resource/mcp naming the issuer; answers 401 with
`WWW-Authenticate: Bearer ... resource_metadata=...` without a token. Tokens are checked by RFC 7662
introspection at the issuer (endpoint from its RFC 8414 metadata) with a static confidential
client: active, an access token (not a refresh token), issued by the issuer, audience = this
server's URL, scope `mcp:tools`. Every verdict goes to stderr as one line.
Needs the venv with `mcp>=2,<3` (which brings starlette, uvicorn, anyio and pydantic).
"""

import argparse
import base64
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from itertools import count
from typing import Any

import anyio
import uvicorn
from pydantic import BaseModel

from mcp import types
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer

SCOPE = "mcp:tools"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class IntrospectionVerifier:
    """The SDK's TokenVerifier protocol over RFC 7662 introspection."""

    def __init__(self, issuer: str, resource: str, client_id: str, client_secret: str):
        self.issuer = issuer
        self.resource = resource
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.authorization = f"Basic {basic}"
        self.endpoint: str | None = None
        # Loopback only: never through a proxy from the environment.
        self.http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _introspect(self, token: str) -> dict[str, Any]:
        if self.endpoint is None:
            with self.http.open(f"{self.issuer}/.well-known/oauth-authorization-server", timeout=10) as r:
                self.endpoint = json.load(r)["introspection_endpoint"]
        req = urllib.request.Request(
            self.endpoint,
            data=urllib.parse.urlencode({"token": token}).encode(),
            headers={"Authorization": self.authorization, "Content-Type": "application/x-www-form-urlencoded"},
        )
        with self.http.open(req, timeout=10) as r:
            return json.load(r)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            body = await anyio.to_thread.run_sync(self._introspect, token)
        except (OSError, ValueError, KeyError) as e:
            log(f"introspection failed: {e!r}")
            return None
        aud = body.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        scopes = (body.get("scope") or "").split()
        problems = [
            reason
            for reason, bad in [
                ("inactive", body.get("active") is not True),
                ("not an access token", body.get("token_type") != "Bearer"),
                ("other issuer", body.get("iss") != self.issuer),
                (f"audience {aud!r}", self.resource not in auds),
                (f"scope {scopes}", SCOPE not in scopes),
            ]
            if bad
        ]
        if problems:
            log(f"token refused: {', '.join(problems)}")
            return None
        log(f"token accepted: client {body.get('client_id')} sub {body.get('sub')} exp in {body['exp'] - int(time.time())} s")
        return AccessToken(
            token=token,
            client_id=body["client_id"],
            scopes=scopes,
            expires_at=body.get("exp"),
            resource=self.resource,
            subject=body.get("sub"),
            claims={"iss": body.get("iss")},
        )


class Issue(BaseModel):
    key: str
    summary: str
    status: str
    requestedBy: str | None
    requestedByClient: str | None


class Created(BaseModel):
    key: str
    projectKey: str
    summary: str


def build(port: int, issuer: str, client_id: str, client_secret: str) -> Any:
    resource = f"http://127.0.0.1:{port}/mcp"
    server = MCPServer(
        name="upstream-peer",
        version="1.0.0",
        token_verifier=IntrospectionVerifier(issuer, resource, client_id, client_secret),
        auth=AuthSettings(
            issuer_url=issuer,
            resource_server_url=resource,
            required_scopes=[SCOPE],
            validate_token_resource=True,
        ),
    )
    created = count(101)

    @server.tool(
        annotations=types.ToolAnnotations(read_only_hint=True),
        description="Get a Jira issue by id or key.",
    )
    def getJiraIssue(issueIdOrKey: str) -> Issue:
        token = get_access_token()
        log(f"tools/call getJiraIssue {issueIdOrKey}")
        return Issue(
            key=issueIdOrKey.upper(),
            summary=f"Issue {issueIdOrKey.upper()} as the Python MCP SDK server sees it",
            status="In Progress",
            requestedBy=token.subject if token else None,
            requestedByClient=token.client_id if token else None,
        )

    @server.tool(
        annotations=types.ToolAnnotations(read_only_hint=False, destructive_hint=False),
        description="Create a Jira issue.",
    )
    def createJiraIssue(projectKey: str, summary: str) -> Created:
        key = f"{projectKey.upper()}-{next(created)}"
        log(f"tools/call createJiraIssue {key}")
        return Created(key=key, projectKey=projectKey.upper(), summary=summary)

    @server.tool(annotations=types.ToolAnnotations(read_only_hint=True), description="Echo the text back.")
    def echo(text: str) -> str:
        return text

    return server.streamable_http_app(host="127.0.0.1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--client-secret", required=True)
    a = ap.parse_args()
    app = build(a.port, a.issuer.rstrip("/"), a.client_id, a.client_secret)
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
