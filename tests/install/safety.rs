//! What must never go wrong around `install`: `--print` into a closed pipe, duplicated keys
//! (clients read the last one), backups that never lose the user's own `.bak` or the original
//! file, the binary's path when it was started through a symlink, and the
//! `ATLASSIAN_MCP_BRIDGE_HOME` / `ATLASSIAN_MCP_BRIDGE_CONFIG` a desktop app would not see.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::{Home, backup_of, dir_files, exe, read, with_exe, with_suffix};
use crate::support::BIN;

#[test]
fn print_into_a_closed_pipe_exits_0_without_a_panic() {
    let home = Home::new();
    let (reader, writer) = std::io::pipe().expect("pipe");
    // The read end is gone before the binary starts, so its write fails with a broken pipe.
    drop(reader);
    let out = Command::new(BIN)
        .args(["install", "cursor", "--print"])
        .env_clear()
        .env("HOME", home.home())
        .env("PATH", home.root.path().join("empty-bin"))
        .current_dir(home.project())
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run the binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// Runs `install <client>` (and with `--force`) on a file holding `text`: both are refused as a
/// content error naming the file, `key` and `lines`, and nothing is written.
fn refused_as_duplicate(home: &Home, client: &str, path: &Path, text: &str, says: &str) {
    home.put(path, text);
    for args in [vec!["install", client], vec!["install", client, "--force"]] {
        let (code, stdout, stderr) = home.run(&args, None);
        assert_eq!((code, stdout.as_str()), (1, ""), "{args:?}: {stderr}");
        assert!(stderr.contains(&path.display().to_string()), "{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(stderr.contains("nothing was changed"), "{stderr}");
        assert_eq!(read(path), text, "untouched");
        let name = path.file_name().expect("name").to_string_lossy();
        assert_eq!(
            dir_files(path),
            BTreeSet::from([name.into_owned()]),
            "no backup"
        );
    }
}

#[test]
fn a_duplicated_server_map_is_refused_with_its_lines() {
    let home = Home::new();
    let text = r#"{
  "mcpServers": {"filesystem": {"command": "npx"}},
  "globalShortcut": "Alt+Space",
  "mcpServers": {"memory": {"command": "npx"}}
}
"#;
    refused_as_duplicate(
        &home,
        "claude-desktop",
        &home.desktop(),
        text,
        "`mcpServers` appears 2 times (lines 2 and 4)",
    );
}

#[test]
fn a_duplicated_bridge_entry_is_refused_with_its_lines() {
    let home = Home::new();
    let text = with_exe(
        "{\n  // two entries: VS Code runs the second\n  \"servers\": {\n    \
         \"atlassian-mcp-bridge\": {\"type\": \"stdio\", \"command\": \"EXE\", \"args\": [\"serve\"]},\n    \
         \"github\": {\"type\": \"http\", \"url\": \"https://api.githubcopilot.com/mcp/\"},\n    \
         \"atlassian-mcp-bridge\": {\"type\": \"stdio\", \"command\": \"/opt/old/atlassian-mcp-bridge\"},\n  },\n}\n",
    );
    refused_as_duplicate(
        &home,
        "vscode",
        &home.vscode(),
        &text,
        "`servers.atlassian-mcp-bridge` appears 2 times (lines 4 and 6)",
    );
}

#[test]
fn a_users_own_bak_survives_and_the_first_original_stays_recoverable() {
    let home = Home::new();
    let path = home.cursor();
    let original = "{\n  \"mcpServers\": {\n    \"sentry\": {\"url\": \"https://mcp.sentry.dev/mcp\"}\n  }\n}\n";
    home.put(&path, original);
    let users_bak = with_suffix(&path, ".bak");
    std::fs::write(&users_bak, "my own backup, from last year").expect("write");
    let first = backup_of(&path);
    let previous = with_suffix(&path, ".atlassian-mcp-bridge.prev.bak");

    let (code, _, stderr) = home.run(&["install", "cursor"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&first.display().to_string()), "{stderr}");
    let after_first = read(&path);
    assert_eq!(read(&first), original);

    // A second change: the entry now also carries ATLASSIAN_MCP_BRIDGE_HOME.
    let amb = home.root.path().join("amb");
    let env = [("ATLASSIAN_MCP_BRIDGE_HOME", amb.as_path())];
    let (code, _, stderr) = home.run_with(&["install", "cursor"], None, &env);
    assert_eq!(code, 1, "a different entry needs --force: {stderr}");
    let (code, _, stderr) = home.run_with(&["install", "cursor", "--force"], None, &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&previous.display().to_string()), "{stderr}");
    assert!(stderr.contains(&first.display().to_string()), "{stderr}");

    assert_eq!(
        read(&users_bak),
        "my own backup, from last year",
        "never touched"
    );
    assert_eq!(read(&first), original, "the very first original is kept");
    assert_eq!(
        read(&previous),
        after_first,
        "the one before the last change"
    );
    let config: Value = serde_json::from_str(&read(&path)).expect("JSON");
    assert_eq!(
        config["mcpServers"]["atlassian-mcp-bridge"]["env"],
        json!({"ATLASSIAN_MCP_BRIDGE_HOME": amb.to_str().expect("UTF-8")})
    );
    assert_eq!(dir_files(&path).len(), 4, "{:?}", dir_files(&path));
}

#[cfg(unix)]
#[test]
fn a_symlinked_binary_is_installed_by_its_link_and_matches_its_target() {
    let home = Home::new();
    // Like Homebrew: bin/<name> links to a versioned Cellar path that an upgrade replaces.
    let bin = home.root.path().join("brew").join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let link = bin.join("atlassian-mcp-bridge");
    std::os::unix::fs::symlink(BIN, &link).expect("symlink");
    let link_text = link.to_str().expect("UTF-8").to_string();

    let (code, _, stderr) = home.run_as(&link, &["install", "cursor"], None, &[]);
    assert_eq!(code, 0, "{stderr}");
    let config: Value = serde_json::from_str(&read(&home.cursor())).expect("JSON");
    assert_eq!(
        config["mcpServers"]["atlassian-mcp-bridge"]["command"],
        json!(link_text),
        "the link, not its target"
    );
    let written = read(&home.cursor());

    // The real path is the same program: nothing to do.
    let (code, _, stderr) = home.run(&["install", "cursor"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("already installed"), "{stderr}");
    assert_eq!(read(&home.cursor()), written);

    // Started by bare name from PATH, as a shell does: the PATH entry is what gets written.
    let other = Home::new();
    let (code, stdout, stderr) = other.run_as(
        Path::new("atlassian-mcp-bridge"),
        &["install", "vscode", "--print"],
        Some(&bin),
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        printed["servers"]["atlassian-mcp-bridge"]["command"],
        json!(link_text)
    );
}

#[test]
fn the_home_variable_goes_into_env_and_counts_for_already_installed() {
    let home = Home::new();
    let path = home.desktop();
    home.put(
        &path,
        "{\"mcpServers\": {\"atlassian-mcp-bridge\": {\"command\": \"/opt/old/atlassian-mcp-bridge\", \
         \"args\": [\"serve\"], \"env\": {\"RUST_LOG\": \"debug\"}}}}",
    );
    // Relative, as typed in a shell: written absolute, against the current directory.
    let env = [("ATLASSIAN_MCP_BRIDGE_HOME", Path::new("amb-home"))];
    let abs = home.project().join("amb-home");
    let abs = abs.to_str().expect("UTF-8");

    let (code, stdout, stderr) =
        home.run_with(&["install", "claude-desktop", "--print"], None, &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("sets ATLASSIAN_MCP_BRIDGE_HOME={abs}")),
        "{stderr}"
    );
    let printed: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        printed["mcpServers"]["atlassian-mcp-bridge"],
        json!({"command": exe(), "args": ["serve"], "env": {"ATLASSIAN_MCP_BRIDGE_HOME": abs}})
    );

    let (code, _, stderr) = home.run_with(&["install", "claude-desktop", "--force"], None, &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("sets ATLASSIAN_MCP_BRIDGE_HOME={abs}")),
        "says what was added: {stderr}"
    );
    let config: Value = serde_json::from_str(&read(&path)).expect("JSON");
    assert_eq!(
        config["mcpServers"]["atlassian-mcp-bridge"],
        json!({"command": exe(), "args": ["serve"],
               "env": {"RUST_LOG": "debug", "ATLASSIAN_MCP_BRIDGE_HOME": abs}}),
        "the user's variables stay"
    );
    let written = read(&path);

    let (code, _, stderr) = home.run_with(&["install", "claude-desktop"], None, &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("already installed"), "{stderr}");

    let other = [("ATLASSIAN_MCP_BRIDGE_HOME", Path::new("/elsewhere"))];
    let (code, _, stderr) = home.run_with(&["install", "claude-desktop"], None, &other);
    assert_eq!(code, 1, "another home is another entry: {stderr}");
    assert!(
        stderr.contains(&format!("ATLASSIAN_MCP_BRIDGE_HOME={abs}"))
            && stderr.contains("ATLASSIAN_MCP_BRIDGE_HOME=/elsewhere")
            && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(read(&path), written, "refusal touches nothing");
}

#[test]
fn an_explicit_config_file_is_passed_before_serve() {
    let home = Home::new();
    let config = home.project().join("team").join("config.toml");
    home.put(&config, "[site]\nurl = \"https://acme.atlassian.net\"\n");
    let env = [("ATLASSIAN_MCP_BRIDGE_CONFIG", Path::new("team/config.toml"))];
    let abs = config.to_str().expect("UTF-8");

    let (code, stdout, stderr) = home.run_with(&["install", "vscode"], None, &env);
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    assert!(
        stderr.contains(&format!("passes --config {abs}")),
        "{stderr}"
    );
    let written: Value = serde_json::from_str(&read(&home.vscode())).expect("JSON");
    assert_eq!(
        written["servers"]["atlassian-mcp-bridge"],
        json!({"type": "stdio", "command": exe(), "args": ["--config", abs, "serve"]})
    );

    let (code, _, stderr) = home.run_with(&["install", "vscode"], None, &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("already installed"), "{stderr}");

    let (code, _, stderr) = home.run(&["install", "vscode"], None);
    assert_eq!(code, 1, "without the config it is another entry: {stderr}");
    assert!(
        stderr.contains(&format!("--config {abs} serve")),
        "{stderr}"
    );

    let missing = [(
        "ATLASSIAN_MCP_BRIDGE_CONFIG",
        Path::new("team/missing.toml"),
    )];
    let before = read(&home.vscode());
    let (code, _, stderr) = home.run_with(&["install", "vscode", "--force"], None, &missing);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("missing.toml") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert_eq!(read(&home.vscode()), before);
}

/// The global `--config` flag reaches the entry just like `ATLASSIAN_MCP_BRIDGE_CONFIG`.
#[test]
fn the_config_flag_is_passed_before_serve() {
    let home = Home::new();
    let config = home.project().join("team").join("config.toml");
    home.put(&config, "[site]\nurl = \"https://acme.atlassian.net\"\n");
    let abs = config.to_str().expect("UTF-8");
    let (code, stdout, stderr) =
        home.run(&["--config", "team/config.toml", "install", "cursor"], None);
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    let written: Value = serde_json::from_str(&read(&home.cursor())).expect("JSON");
    assert_eq!(
        written["mcpServers"]["atlassian-mcp-bridge"]["args"],
        json!(["--config", abs, "serve"])
    );
}
