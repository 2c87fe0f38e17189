//! Claude Code: `claude mcp get/add/remove` through a recording double on `PATH` (user scope,
//! refusal and `--force` in the entry's own scope, variables passed with `--env`), and the
//! project `.mcp.json` when `claude` is not there.

use std::path::PathBuf;

use super::{Home, backup_of, exe, read, with_exe};

/// A `claude` stand-in on a PATH of its own: logs each call to `<root>/calls` and keeps one
/// server in `<root>/server`, answering `mcp get/add/remove` in Claude Code's report format
/// (`--env VAR=value` options listed under `Environment:`).
#[cfg(unix)]
pub(super) fn double_claude(home: &Home) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = home.root.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let script = r#"#!/bin/sh
printf '%s\n' "$*" >> "$CLAUDE_DOUBLE_DIR/calls"
state=$CLAUDE_DOUBLE_DIR/server
case "$1 $2" in
"mcp get")
    if [ -f "$state" ]; then cat "$state"; exit 0; fi
    echo "No MCP server named \"$3\"." >&2
    exit 1 ;;
"mcp remove")
    rm "$state" && echo "Removed MCP server" && exit 0
    exit 1 ;;
"mcp add")
    shift 2
    env=
    while [ "$1" != "--" ]; do
        if [ "$1" = "--env" ]; then env="$env $2"; shift; fi
        name=$1
        shift
    done
    shift
    command=$1
    shift
    {
        echo "$name:"
        echo "  Scope: User config (available in all your projects)"
        echo "  Status: ✓ Connected"
        echo "  Type: stdio"
        echo "  Command: $command"
        echo "  Args: $*"
        echo "  Environment:"
        for pair in $env; do echo "    $pair"; done
        echo
        echo "To remove this server, run: claude mcp remove \"$name\" -s user"
    } > "$state"
    echo "Added stdio MCP server $name to user config"
    exit 0 ;;
esac
exit 2
"#;
    let path = bin.join("claude");
    std::fs::write(&path, script).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin
}

#[cfg(not(unix))]
pub(super) fn double_claude(home: &Home) -> PathBuf {
    home.root.path().join("empty-bin")
}

/// The `claude` double's calls so far.
fn claude_calls(home: &Home) -> Vec<String> {
    std::fs::read_to_string(home.root.path().join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[cfg(unix)]
#[test]
fn claude_code_uses_claude_mcp_add_at_user_scope_once() {
    let home = Home::new();
    let bin = double_claude(&home);
    let path = std::env::join_paths([bin.clone(), PathBuf::from("/usr/bin"), "/bin".into()])
        .expect("PATH");
    let path = PathBuf::from(path);
    let (code, stdout, stderr) = home.run(&["install", "claude-code"], Some(&path));
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    let get = "mcp get atlassian-mcp-bridge".to_string();
    let add = format!(
        "mcp add --transport stdio --scope user atlassian-mcp-bridge -- {} serve",
        exe()
    );
    assert_eq!(claude_calls(&home), vec![get.clone(), add.clone()]);
    assert!(stderr.contains("--scope user"), "{stderr}");

    let (code, stdout, stderr) = home.run(&["install", "claude-code"], Some(&path));
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    assert!(stderr.contains("already installed"), "{stderr}");
    assert_eq!(claude_calls(&home), vec![get.clone(), add, get]);
    assert!(!home.project().join(".mcp.json").exists());
}

#[cfg(unix)]
#[test]
fn claude_code_refuses_another_binary_then_replaces_it_in_its_scope_with_force() {
    let home = Home::new();
    let bin = double_claude(&home);
    let path = PathBuf::from(
        std::env::join_paths([bin.clone(), PathBuf::from("/usr/bin"), "/bin".into()])
            .expect("PATH"),
    );
    std::fs::write(
        home.root.path().join("server"),
        "atlassian-mcp-bridge:\n  Scope: Local config (private to you in this project)\n  \
         Status: ✗ Failed to connect\n  Type: stdio\n  Command: /opt/old/atlassian-mcp-bridge\n  \
         Args: serve\n  Environment:\n\nTo remove this server, run: claude mcp remove \
         \"atlassian-mcp-bridge\" -s local\n",
    )
    .expect("seed");
    let (code, _, stderr) = home.run(&["install", "claude-code"], Some(&path));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("/opt/old/atlassian-mcp-bridge"), "{stderr}");
    assert!(
        stderr.contains(&exe()) && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(
        stderr.contains("(Local config"),
        "names the scope: {stderr}"
    );
    assert_eq!(claude_calls(&home), vec!["mcp get atlassian-mcp-bridge"]);

    let (code, stdout, stderr) = home.run(&["install", "claude-code", "--force"], Some(&path));
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    assert_eq!(
        claude_calls(&home),
        vec![
            "mcp get atlassian-mcp-bridge".to_string(),
            "mcp get atlassian-mcp-bridge".to_string(),
            "mcp remove --scope local atlassian-mcp-bridge".to_string(),
            format!(
                "mcp add --transport stdio --scope user atlassian-mcp-bridge -- {} serve",
                exe()
            ),
        ]
    );
}

#[test]
fn claude_code_without_claude_merges_the_project_mcp_json() {
    let home = Home::new();
    let path = home.project().join(".mcp.json");
    let original = r#"{
  "mcpServers": {
    "postgres": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-postgres", "${DATABASE_URL}"]
    }
  }
}
"#;
    let expected = with_exe(
        r#"{
  "mcpServers": {
    "postgres": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-postgres", "${DATABASE_URL}"]
    },
    "atlassian-mcp-bridge": {
      "type": "stdio",
      "command": "EXE",
      "args": ["serve"]
    }
  }
}
"#,
    );
    home.put(&path, original);
    let (code, stdout, stderr) = home.run(&["install", "claude-code"], None);
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    assert!(stderr.contains("not on PATH"), "{stderr}");
    assert!(stderr.contains("project"), "{stderr}");
    assert_eq!(read(&path), expected);
    assert_eq!(read(&backup_of(&path)), original);
    assert!(!home.home().join(".claude.json").exists());
}

#[cfg(unix)]
#[test]
fn claude_code_gets_the_home_variable_with_env_before_the_scope() {
    let home = Home::new();
    let bin = double_claude(&home);
    let path = PathBuf::from(
        std::env::join_paths([bin.clone(), PathBuf::from("/usr/bin"), "/bin".into()])
            .expect("PATH"),
    );
    let amb = home.root.path().join("amb");
    let env = [("ATLASSIAN_MCP_BRIDGE_HOME", amb.as_path())];
    let (code, stdout, stderr) = home.run_with(&["install", "claude-code"], Some(&path), &env);
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    let add = format!(
        "mcp add --transport stdio --env ATLASSIAN_MCP_BRIDGE_HOME={} --scope user \
         atlassian-mcp-bridge -- {} serve",
        amb.display(),
        exe()
    );
    assert_eq!(
        claude_calls(&home),
        vec!["mcp get atlassian-mcp-bridge".to_string(), add.clone()]
    );
    assert!(
        stderr.contains(&format!("sets ATLASSIAN_MCP_BRIDGE_HOME={}", amb.display())),
        "{stderr}"
    );

    let (code, _, stderr) = home.run_with(&["install", "claude-code"], Some(&path), &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("already installed"), "{stderr}");

    let other = home.root.path().join("other");
    let env = [("ATLASSIAN_MCP_BRIDGE_HOME", other.as_path())];
    let (code, _, stderr) = home.run_with(&["install", "claude-code"], Some(&path), &env);
    assert_eq!(code, 1, "another home is a different entry: {stderr}");
    assert!(
        stderr.contains(&format!("ATLASSIAN_MCP_BRIDGE_HOME={}", amb.display())),
        "{stderr}"
    );
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(claude_calls(&home).len(), 4, "get, add, get, get");
}
