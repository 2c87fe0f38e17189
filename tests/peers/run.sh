#!/usr/bin/env bash
# Drives the real binary with third-party MCP clients from public registries:
#   - the official Python MCP SDK 2.x (pip), in both the initialize and 2026-07-28 lifecycles;
#   - the MCP Inspector CLI (npm): tools/list, tools/call, resources and prompts;
# and the OAuth client (login/status/logout) against oidc-provider 9 (npm) as the authorization server.
# Installs them under target/peers/ (cached between runs). Each section prints "N passed, M failed".
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
peers="$root/target/peers"
mkdir -p "$peers"

cargo build --quiet --bin atlassian-mcp-bridge
bin="$root/target/debug/atlassian-mcp-bridge"

# --- Python MCP SDK -------------------------------------------------------------------------
if [ ! -x "$peers/venv/bin/python" ] || ! "$peers/venv/bin/python" -c 'import mcp' 2>/dev/null; then
  python3 -m venv "$peers/venv"
  "$peers/venv/bin/pip" install --quiet --disable-pip-version-check "mcp>=2,<3"
fi
"$peers/venv/bin/python" tests/peers/python_sdk_client.py "$bin"

# --- MCP Inspector CLI ------------------------------------------------------------------------
inspector="$peers/inspector"
if [ ! -x "$inspector/node_modules/.bin/mcp-inspector-cli" ]; then
  mkdir -p "$inspector"
  (cd "$inspector" && { [ -f package.json ] || echo '{"name":"peers","private":true}' > package.json; } \
    && npm install --silent --no-audit --no-fund @modelcontextprotocol/inspector-cli@1 >/dev/null)
fi
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
pass=0; fail=0
run_inspector() {
  # The CLI resolves ../package.json from its working directory, so run it from a subfolder.
  (cd "$inspector/node_modules" && ATLASSIAN_MCP_BRIDGE_HOME="$home" \
    ./.bin/mcp-inspector-cli --cli "$bin" serve --sandbox "$@")
}
check() {
  local name="$1" out="$2" needle="$3"
  if grep -q -- "$needle" <<<"$out"; then pass=$((pass+1)); echo "ok   $name";
  else fail=$((fail+1)); echo "FAIL $name"; echo "$out" | head -20; fi
}
out="$(run_inspector --method tools/list 2>&1 || true)"
check "inspector tools/list names jira_search" "$out" '"jira_search"'
check "inspector tools/list names atlassian_whoami" "$out" '"atlassian_whoami"'
out="$(run_inspector --method tools/call --tool-name jira_get_issue --tool-arg key=ENG-1 2>&1 || true)"
check "inspector tools/call jira_get_issue" "$out" 'ENG-1'
out="$(run_inspector --method tools/call --tool-name jira_search --tool-arg 'jql=project = OPS' --tool-arg max_results=3 2>&1 || true)"
check "inspector tools/call jira_search" "$out" 'OPS-'
out="$(run_inspector --method resources/templates/list 2>&1 || true)"
check "inspector resources/templates/list" "$out" 'jira://issue/{key}'
out="$(run_inspector --method resources/read --uri jira://issue/ENG-1 2>&1 || true)"
check "inspector resources/read jira://issue/ENG-1" "$out" 'text/markdown'
out="$(run_inspector --method prompts/get --prompt-name weekly_project_report --prompt-args project=ENG 2>&1 || true)"
check "inspector prompts/get weekly_project_report" "$out" 'jira_summarize_search'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

# --- OAuth: oidc-provider 9 as an independent authorization server ----------------------------
# login (authorization code + PKCE via a scripted browser), refresh with rotation (also four
# processes at once), an invalid_grant after the grant is revoked, logout with RFC 7009 revocation.
oidc="$peers/oidc"
if [ ! -d "$oidc/node_modules/oidc-provider" ] || ! cmp -s tests/peers/oidc/package.json "$oidc/package.json"; then
  mkdir -p "$oidc"
  cp tests/peers/oidc/package.json "$oidc/package.json"
  (cd "$oidc" && npm install --silent --no-audit --no-fund >/dev/null)
fi
python3 tests/peers/oidc/drive.py "$bin" --peer-dir "$oidc"

# --- Upstream mode: oidc-provider (DCR) + Python MCP SDK server behind bearer auth ---
# SPEC §11 against independent peers: `login --upstream` (RFC 9728 discovery, RFC 7591 registration
# at oidc-provider, PKCE + resource + RFC 9207 iss), `serve` proxying an MCP server built with the
# Python SDK (token introspection, audience = its URL) with policy and audit, refresh with rotation
# and after a 401, `logout --upstream` with revocation. Uses the venv and oidc-provider from above.
"$peers/venv/bin/python" tests/peers/upstream/drive.py "$bin" --peer-dir "$oidc"
