"""Drives the real bridge binary with the official Python MCP SDK (a third-party client).

Usage: python python_sdk_client.py <path-to-atlassian-mcp-bridge>

Runs the same checks in both lifecycles the SDK speaks: `legacy` (initialize handshake, like
Claude Desktop) and `auto` (probes `server/discover`, then the stateless 2026-07-28 protocol).
Prints one line per check and a closing "N passed, M failed" line; exits 1 on any failure.
"""

import asyncio
import json
import os
import sys
import tempfile

from mcp import Client, StdioServerParameters, types

EXPECTED_TOOLS = {
    "atlassian_local_search",
    "atlassian_whoami",
    "confluence_bulk_create_pages",
    "confluence_create_page",
    "confluence_get_page",
    "confluence_list_spaces",
    "confluence_search",
    "confluence_summarize_page",
    "confluence_update_page",
    "jira_add_comment",
    "jira_bulk_create_issues",
    "jira_create_issue",
    "jira_get_create_fields",
    "jira_get_issue",
    "jira_list_projects",
    "jira_search",
    "jira_summarize_issue",
    "jira_summarize_search",
    "jira_transition_issue",
    "jira_update_issue",
}

WRITE_TOOLS = {
    "confluence_bulk_create_pages",
    "confluence_create_page",
    "confluence_update_page",
    "jira_add_comment",
    "jira_bulk_create_issues",
    "jira_create_issue",
    "jira_transition_issue",
    "jira_update_issue",
}

passed = 0
failed = 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def text_of(result):
    return "\n".join(getattr(c, "text", "") for c in result.content)


async def run(binary, mode, home):
    params = StdioServerParameters(
        command=binary,
        args=["serve", "--sandbox"],
        env={"ATLASSIAN_MCP_BRIDGE_HOME": home, "PATH": os.environ.get("PATH", "")},
    )
    asked = []

    async def confirm(context, params):
        # The person says yes to the first question and no to the second.
        asked.append(params.message)
        if len(asked) == 1:
            return types.ElicitResult(action="accept", content={"proceed": True})
        return types.ElicitResult(action="decline")

    async with Client(
        params, mode=mode, read_timeout_seconds=30, elicitation_callback=confirm
    ) as client:
        tools = await client.list_tools()
        names = {t.name for t in tools.tools}
        check(f"[{mode}] tools/list has the 20 tools", names == EXPECTED_TOOLS, sorted(names))
        for t in tools.tools:
            ann = t.annotations
            check(
                f"[{mode}] {t.name} declares readOnlyHint honestly",
                ann is not None and ann.read_only_hint is (t.name not in WRITE_TOOLS),
            )

        result = await client.call_tool("jira_search", {"jql": "project = ENG", "max_results": 5})
        structured = result.structured_content or {}
        check(
            f"[{mode}] jira_search returns 5 issues",
            not result.is_error and len(structured.get("issues", [])) == 5,
            text_of(result)[:300],
        )
        check(f"[{mode}] jira_search text names ENG keys", "ENG-" in text_of(result))

        result = await client.call_tool("jira_get_issue", {"key": "ENG-1"})
        check(
            f"[{mode}] jira_get_issue ENG-1",
            not result.is_error and (result.structured_content or {}).get("key") == "ENG-1",
            text_of(result)[:300],
        )

        result = await client.call_tool("jira_get_issue", {"key": "not a key"})
        check(f"[{mode}] bad key is a tool error", result.is_error is True, text_of(result)[:200])

        result = await client.call_tool("confluence_search", {"cql": "type = page", "limit": 2})
        check(
            f"[{mode}] confluence_search",
            not result.is_error and len((result.structured_content or {}).get("results", [])) == 2,
            text_of(result)[:300],
        )

        # Writes: one confirmation per call through this SDK's elicitation callback (a
        # server-to-client request in legacy mode, an input-required round in auto mode).
        progress = []

        async def on_progress(value, total, message):
            progress.append((value, total))

        items = [
            {"project": "OPS", "issue_type": "Task", "summary": f"Python {mode} {n}"}
            for n in range(60)
        ]
        result = await client.call_tool(
            "jira_bulk_create_issues", {"issues": items}, progress_callback=on_progress
        )
        out = result.structured_content or {}
        check(
            f"[{mode}] bulk create after a yes: 60 created, in order",
            not result.is_error
            and out.get("created") == 60
            and [i["index"] for i in out.get("items", [])] == list(range(60)),
            text_of(result)[:300],
        )
        check(f"[{mode}] asked once for the bulk call", len(asked) == 1, asked)
        check(
            f"[{mode}] progress counts items",
            bool(progress) and progress[-1] == (60, 60),
            progress,
        )
        result = await client.call_tool(
            "jira_create_issue", {"project": "OPS", "issue_type": "Task", "summary": "no"}
        )
        check(
            f"[{mode}] a no sends nothing",
            result.is_error is True and "declined" in text_of(result),
            text_of(result)[:300],
        )

        # Resources, completion and prompts.
        templates = await client.list_resource_templates()
        check(
            f"[{mode}] resource templates",
            [t.uri_template for t in templates.resource_templates]
            == ["jira://issue/{key}", "confluence://page/{id}"],
            templates,
        )
        read = await client.read_resource("jira://issue/ENG-2")
        body = read.contents[0]
        check(
            f"[{mode}] resources/read jira://issue/ENG-2 as Markdown",
            body.mime_type == "text/markdown" and body.text.startswith("ENG-2 "),
            str(body)[:300],
        )
        done = await client.complete(
            types.ResourceTemplateReference(type="ref/resource", uri="jira://issue/{key}"),
            {"name": "key", "value": "OPS-"},
        )
        values = done.completion.values
        check(
            f"[{mode}] completion of issue keys",
            bool(values) and all(v.startswith("OPS-") for v in values),
            values,
        )
        prompts = await client.list_prompts()
        names = [p.name for p in prompts.prompts]
        check(f"[{mode}] four prompts", len(names) == 4 and "explain_page" in names, names)
        got = await client.get_prompt("weekly_project_report", {"project": "ENG"})
        check(
            f"[{mode}] prompts/get leads into jira_summarize_search",
            "jira_summarize_search" in got.messages[0].content.text,
            got,
        )


async def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as home:
        for mode in ("legacy", "auto"):
            try:
                await run(binary, mode, home)
            except Exception as e:  # a crash is a failed check, not a traceback-only exit
                check(f"[{mode}] session completed", False, repr(e))
        audit = os.path.join(home, "audit", "audit.jsonl")
        with open(audit, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        calls = [r for r in records if r["event"] == "tool_call"]
        outcomes = [r["outcome"] for r in calls]
        check(
            "audit: a denied record for each declined create",
            outcomes.count("denied") == 2,
            outcomes,
        )
        reads = [r for r in calls if r["tool"] not in WRITE_TOOLS]
        check("audit has one record per read call (2 sessions x 4 calls)", len(reads) == 8, len(reads))
        clients = {r["client"]["name"] for r in calls if r.get("client")}
        check("audit names the Python SDK client", clients == {"mcp"}, clients)
        sessions = {r["session"] for r in calls}
        check("two bridge sessions in one log", len(sessions) == 2, sessions)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


asyncio.run(main())
