//! `install <client>` with the real binary against temp copies of each client's config file in a
//! temp HOME: merges that leave everything else byte-for-byte, backups, idempotence, refusal
//! and `--force`, `--print`, invalid files, missing files, and `install/install.sh`. Claude Code
//! through a recording `claude` double is in `claude_code`; closed pipes, duplicate keys, backups
//! that never lose the original, symlinked binaries and the home/config variables in `safety`.

/// Claude Code through `claude mcp get/add/remove` (a recording double) or `.mcp.json`.
mod claude_code;
/// `--print` into a closed pipe, duplicated keys, backups, symlinked binaries, and
/// `ATLASSIAN_MCP_BRIDGE_HOME` / `ATLASSIAN_MCP_BRIDGE_CONFIG` carried into the entry.
mod safety;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::BIN;

/// A temp HOME, a project directory to run in, and an empty directory to use as PATH.
struct Home {
    root: TempDir,
}

impl Home {
    fn new() -> Home {
        let root = tempfile::tempdir().expect("temp dir");
        for dir in ["home", "project", "empty-bin"] {
            std::fs::create_dir(root.path().join(dir)).expect("mkdir");
        }
        Home { root }
    }

    fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    fn project(&self) -> PathBuf {
        self.root.path().join("project")
    }

    fn desktop(&self) -> PathBuf {
        self.app_data()
            .join("Claude")
            .join("claude_desktop_config.json")
    }

    fn vscode(&self) -> PathBuf {
        self.app_data().join("Code").join("User").join("mcp.json")
    }

    fn cursor(&self) -> PathBuf {
        self.home().join(".cursor").join("mcp.json")
    }

    fn app_data(&self) -> PathBuf {
        if cfg!(target_os = "macos") {
            self.home().join("Library").join("Application Support")
        } else {
            self.home().join(".config")
        }
    }

    /// Writes `text` to `path`, creating its directory.
    fn put(&self, path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    /// Runs the binary in the project dir with only HOME and PATH (`PATH` = `path`, or an empty
    /// directory) set: (exit code, stdout, stderr).
    fn run(&self, args: &[&str], path: Option<&Path>) -> (i32, String, String) {
        self.run_with(args, path, &[])
    }

    /// [`Home::run`] with extra environment variables.
    fn run_with(
        &self,
        args: &[&str],
        path: Option<&Path>,
        env: &[(&str, &Path)],
    ) -> (i32, String, String) {
        self.run_as(BIN.as_ref(), args, path, env)
    }

    /// [`Home::run_with`] starting the binary as `program` (a symlink, or a bare name looked up
    /// on `path`).
    fn run_as(
        &self,
        program: &Path,
        args: &[&str],
        path: Option<&Path>,
        env: &[(&str, &Path)],
    ) -> (i32, String, String) {
        let empty = self.root.path().join("empty-bin");
        let out = Command::new(program)
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .env("HOME", self.home())
            .env("PATH", path.unwrap_or(&empty))
            .env("CLAUDE_DOUBLE_DIR", self.root.path())
            .current_dir(self.project())
            .output()
            .expect("run the binary");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Every file under the temp root, relative to it.
    fn files(&self) -> BTreeSet<String> {
        fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
            for entry in std::fs::read_dir(dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else {
                    let rel = path.strip_prefix(base).expect("under base");
                    out.insert(rel.display().to_string());
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(self.root.path(), self.root.path(), &mut out);
        out
    }
}

/// The binary under test as it is started (absolute): what `install` writes, symlinks and all.
fn exe() -> String {
    assert!(Path::new(BIN).is_absolute(), "{BIN}");
    BIN.to_string()
}

/// `template` with `"EXE"` replaced by the binary's path as a JSON string.
fn with_exe(template: &str) -> String {
    template.replace(
        "\"EXE\"",
        &serde_json::to_string(&exe()).expect("json string"),
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `<path>` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().expect("file name").to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Where `install` keeps the file as it was before it first changed it.
fn backup_of(path: &Path) -> PathBuf {
    with_suffix(path, ".atlassian-mcp-bridge.bak")
}

/// The names of the files in `path`'s directory.
fn dir_files(path: &Path) -> BTreeSet<String> {
    std::fs::read_dir(path.parent().expect("dir"))
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// Installs into `path` (already holding `original`), checks the exact result, the backup, the
/// messages, and that a second run changes nothing.
fn check_merge(home: &Home, client: &str, path: &Path, original: &str, expected: &str) {
    home.put(path, original);
    let (code, stdout, stderr) = home.run(&["install", client], None);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(stdout, "", "stdout stays empty");
    assert_eq!(read(path), expected);
    assert_eq!(
        read(&backup_of(path)),
        original,
        "backup holds the previous file"
    );
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("doctor"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        dir_files(path),
        BTreeSet::from([name.clone(), format!("{name}.atlassian-mcp-bridge.bak")])
    );

    let (code, stdout, stderr) = home.run(&["install", client], None);
    assert_eq!((code, stdout.as_str()), (0, ""), "stderr: {stderr}");
    assert!(stderr.contains("already installed"), "{stderr}");
    assert_eq!(read(path), expected, "second run leaves the file as it was");
    assert_eq!(
        read(&backup_of(path)),
        original,
        "second run keeps the backup"
    );
}

#[test]
fn claude_desktop_entry_is_added_beside_other_keys_and_servers() {
    let home = Home::new();
    let original = r#"{
    "globalShortcut": "Alt+Space",
    "mcpServers": {
        "filesystem": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"]
        }
    },
    "preferences": {"menuBarEnabled": false}
}
"#;
    let expected = with_exe(
        r#"{
    "globalShortcut": "Alt+Space",
    "mcpServers": {
        "filesystem": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"]
        },
        "atlassian-mcp-bridge": {
            "command": "EXE",
            "args": ["serve"]
        }
    },
    "preferences": {"menuBarEnabled": false}
}
"#,
    );
    check_merge(
        &home,
        "claude-desktop",
        &home.desktop(),
        original,
        &expected,
    );
}

#[test]
fn vscode_comments_trailing_commas_and_tabs_survive() {
    let home = Home::new();
    let original = "{\n\
        \t// Servers for every workspace.\n\
        \t\"inputs\": [\n\
        \t\t{ \"type\": \"promptString\", \"id\": \"gh-token\", \"password\": true, },\n\
        \t],\n\
        \t\"servers\": {\n\
        \t\t/* GitHub's hosted server */\n\
        \t\t\"github\": {\n\
        \t\t\t\"type\": \"http\",\n\
        \t\t\t\"url\": \"https://api.githubcopilot.com/mcp/\",\n\
        \t\t}, // keep\n\
        \t\t// \"playwright\": { \"command\": \"npx\" },\n\
        \t},\n\
        }\n";
    let expected = with_exe(
        "{\n\
        \t// Servers for every workspace.\n\
        \t\"inputs\": [\n\
        \t\t{ \"type\": \"promptString\", \"id\": \"gh-token\", \"password\": true, },\n\
        \t],\n\
        \t\"servers\": {\n\
        \t\t/* GitHub's hosted server */\n\
        \t\t\"github\": {\n\
        \t\t\t\"type\": \"http\",\n\
        \t\t\t\"url\": \"https://api.githubcopilot.com/mcp/\",\n\
        \t\t}, // keep\n\
        \t\t\"atlassian-mcp-bridge\": {\n\
        \t\t\t\"type\": \"stdio\",\n\
        \t\t\t\"command\": \"EXE\",\n\
        \t\t\t\"args\": [\"serve\"],\n\
        \t\t},\n\
        \t\t// \"playwright\": { \"command\": \"npx\" },\n\
        \t},\n\
        }\n",
    );
    check_merge(&home, "vscode", &home.vscode(), original, &expected);
    let text = read(&home.vscode());
    let value = jsonc_parser::parse_to_value(&text, &Default::default())
        .expect("still JSONC")
        .expect("a value");
    let jsonc_parser::JsonValue::Object(top) = value else {
        panic!("not an object: {text}");
    };
    assert_eq!(top.get_object("servers").expect("servers").len(), 2);
}

#[test]
fn cursor_block_comments_and_crlf_survive() {
    let home = Home::new();
    let original = "{\r\n  /* managed by hand */\r\n  \"mcpServers\": {\r\n    \"sentry\": { \"url\": \"https://mcp.sentry.dev/mcp\" }, // remote\r\n  }, // end of servers\r\n  \"other\": [1, 2,],\r\n}\r\n";
    let expected = with_exe(
        "{\r\n  /* managed by hand */\r\n  \"mcpServers\": {\r\n    \"sentry\": { \"url\": \"https://mcp.sentry.dev/mcp\" }, // remote\r\n    \"atlassian-mcp-bridge\": {\r\n      \"command\": \"EXE\",\r\n      \"args\": [\"serve\"],\r\n    },\r\n  }, // end of servers\r\n  \"other\": [1, 2,],\r\n}\r\n",
    );
    check_merge(&home, "cursor", &home.cursor(), original, &expected);
}

#[test]
fn missing_files_and_directories_are_created() {
    let home = Home::new();
    let cases = [
        (
            "claude-desktop",
            home.desktop(),
            "{\n  \"mcpServers\": {\n    \"atlassian-mcp-bridge\": {\n      \"command\": \"EXE\",\n      \"args\": [\"serve\"]\n    }\n  }\n}\n",
        ),
        (
            "vscode",
            home.vscode(),
            "{\n  \"servers\": {\n    \"atlassian-mcp-bridge\": {\n      \"type\": \"stdio\",\n      \"command\": \"EXE\",\n      \"args\": [\"serve\"]\n    }\n  }\n}\n",
        ),
        (
            "cursor",
            home.cursor(),
            "{\n  \"mcpServers\": {\n    \"atlassian-mcp-bridge\": {\n      \"command\": \"EXE\",\n      \"args\": [\"serve\"]\n    }\n  }\n}\n",
        ),
    ];
    for (client, path, expected) in cases {
        assert!(!path.parent().expect("dir").exists());
        let (code, stdout, stderr) = home.run(&["install", client], None);
        assert_eq!((code, stdout.as_str()), (0, ""), "{client}: {stderr}");
        assert_eq!(read(&path), with_exe(expected), "{client}");
        assert!(
            !backup_of(&path).exists(),
            "no backup without a previous file"
        );
        assert!(stderr.contains("added"), "{stderr}");
    }
}

#[test]
fn an_entry_for_another_binary_is_refused_unless_forced() {
    let home = Home::new();
    let path = home.desktop();
    let original = r#"{
  "mcpServers": {
    "atlassian-mcp-bridge": {
      "command": "/opt/old/atlassian-mcp-bridge",
      "args": ["serve"],
      "env": {"ATLASSIAN_MCP_BRIDGE_HOME": "/Users/me/amb"}
    },
    "other": {"command": "uvx", "args": ["mcp-atlassian"]}
  }
}"#;
    home.put(&path, original);
    let (code, stdout, stderr) = home.run(&["install", "claude-desktop"], None);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(stderr.contains("/opt/old/atlassian-mcp-bridge"), "{stderr}");
    assert!(stderr.contains(&exe()), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(read(&path), original, "refusal touches nothing");
    assert!(!backup_of(&path).exists());

    let (code, stdout, stderr) = home.run(&["install", "claude-desktop", "--force"], None);
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    assert!(
        stderr.contains("pointed the `atlassian-mcp-bridge` entry at this binary"),
        "{stderr}"
    );
    let expected = with_exe(
        r#"{
  "mcpServers": {
    "atlassian-mcp-bridge": {
      "command": "EXE",
      "args": ["serve"],
      "env": {"ATLASSIAN_MCP_BRIDGE_HOME": "/Users/me/amb"}
    },
    "other": {"command": "uvx", "args": ["mcp-atlassian"]}
  }
}"#,
    );
    assert_eq!(
        read(&path),
        expected,
        "only command changed; env and the rest kept"
    );
    assert_eq!(read(&backup_of(&path)), original);

    let (code, _, stderr) = home.run(&["install", "claude-desktop"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("already installed"), "{stderr}");
}

#[test]
fn other_arguments_for_this_binary_count_as_a_conflict_too() {
    let home = Home::new();
    let path = home.vscode();
    let original = with_exe(
        "{\n  \"servers\": {\n    \"atlassian-mcp-bridge\": {\"command\": \"EXE\", \"args\": [\"serve\", \"--sandbox\"]}\n  }\n}\n",
    );
    home.put(&path, &original);
    let (code, _, stderr) = home.run(&["install", "vscode"], None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("serve --sandbox"), "{stderr}");
    assert_eq!(read(&path), original);

    let (code, _, stderr) = home.run(&["install", "vscode", "--force"], None);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        read(&path),
        with_exe(
            "{\n  \"servers\": {\n    \"atlassian-mcp-bridge\": {\n      \"type\": \"stdio\",\n      \"command\": \"EXE\",\n      \"args\": [\"serve\"]\n    }\n  }\n}\n"
        )
    );
}

#[test]
fn print_shows_each_clients_shape_and_writes_nothing() {
    let home = Home::new();
    let bin = claude_code::double_claude(&home);
    let before = home.files();
    let exe = exe();
    let cases = [
        (
            "claude-desktop",
            json!({"mcpServers": {"atlassian-mcp-bridge": {"command": exe, "args": ["serve"]}}}),
        ),
        (
            "cursor",
            json!({"mcpServers": {"atlassian-mcp-bridge": {"command": exe, "args": ["serve"]}}}),
        ),
        (
            "claude-code",
            json!({"mcpServers": {"atlassian-mcp-bridge":
                {"type": "stdio", "command": exe, "args": ["serve"]}}}),
        ),
        (
            "vscode",
            json!({"servers": {"atlassian-mcp-bridge":
                {"type": "stdio", "command": exe, "args": ["serve"]}}}),
        ),
    ];
    for (client, expected) in cases {
        let (code, stdout, stderr) = home.run(&["install", client, "--print"], Some(&bin));
        assert_eq!((code, stderr.as_str()), (0, ""), "{client}");
        let printed: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
        assert_eq!(printed, expected, "{client}");
        assert!(Path::new(&exe).is_absolute());
    }
    assert_eq!(
        home.files(),
        before,
        "--print writes nothing (and runs no `claude`)"
    );
}

#[test]
fn invalid_files_are_refused_with_file_and_line_and_left_alone() {
    let home = Home::new();
    let cases = [
        // Claude Desktop reads plain JSON: a comment there is an error, not something to keep.
        (
            "claude-desktop",
            home.desktop(),
            "{\n  \"mcpServers\": {\n    // mine\n  }\n}\n",
            "line 3",
        ),
        (
            "vscode",
            home.vscode(),
            "{\n  // ok here\n  \"servers\": {\n    \"a\": {\"command\": \"x\"}\n    \"b\": {}\n  }\n}\n",
            "line 4, column 26",
        ),
        (
            "cursor",
            home.cursor(),
            "{\n  \"mcpServers\": {\n",
            "line 3",
        ),
        (
            "cursor",
            home.cursor(),
            "{\"mcpServers\": [\"not\", \"an object\"]}",
            "`mcpServers` is not a JSON object",
        ),
    ];
    for (client, path, text, says) in cases {
        home.put(&path, text);
        let (code, stdout, stderr) = home.run(&["install", client], None);
        assert_eq!((code, stdout.as_str()), (1, ""), "{client}: {stderr}");
        assert!(stderr.contains(&path.display().to_string()), "{stderr}");
        assert!(stderr.contains(says), "{client}: {stderr}");
        assert!(stderr.contains("nothing was changed"), "{stderr}");
        assert_eq!(read(&path), text, "untouched");
        assert!(!backup_of(&path).exists(), "no backup either");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn xdg_config_home_is_honoured_and_a_symlinked_file_stays_a_link_with_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let xdg = home.root.path().join("xdg");
    let dotfiles = home.root.path().join("dotfiles");
    let real = dotfiles.join("code-mcp.json");
    let original = "{\n  \"servers\": {}\n}\n";
    home.put(&real, original);
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let link = xdg.join("Code/User/mcp.json");
    std::fs::create_dir_all(link.parent().expect("dir")).expect("mkdir");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");

    let (code, _, stderr) =
        home.run_with(&["install", "vscode"], None, &[("XDG_CONFIG_HOME", &xdg)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&link.display().to_string()), "{stderr}");
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        read(&real),
        with_exe(
            "{\n  \"servers\": {\n    \"atlassian-mcp-bridge\": {\n      \"type\": \"stdio\",\n      \"command\": \"EXE\",\n      \"args\": [\"serve\"]\n    }\n  }\n}\n"
        )
    );
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&real), 0o640);
    assert_eq!(read(&backup_of(&real)), original);
    assert_eq!(mode(&backup_of(&real)), 0o640);
    assert!(
        !home.vscode().exists(),
        "HOME/.config is not used when XDG_CONFIG_HOME is set"
    );
}

#[cfg(unix)]
#[test]
fn install_sh_copies_the_binary_to_local_bin_and_installs_that_copy() {
    let home = Home::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install/install.sh");
    let check = Command::new("sh")
        .arg("-n")
        .arg(&script)
        .status()
        .expect("sh -n");
    assert!(check.success(), "sh -n install/install.sh");
    let out = Command::new("sh")
        .arg(&script)
        .args(["cursor", BIN])
        .env_clear()
        .env("HOME", home.home())
        .env("PATH", "/usr/bin:/bin")
        .current_dir(home.project())
        .output()
        .expect("run install.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let copy = home.home().join(".local/bin/atlassian-mcp-bridge");
    assert_eq!(
        std::fs::metadata(&copy).expect("copied").len(),
        std::fs::metadata(BIN).expect("built").len()
    );
    assert!(stderr.contains("not on PATH"), "{stderr}");
    let config: Value = serde_json::from_str(&read(&home.cursor())).expect("JSON");
    assert_eq!(
        config["mcpServers"]["atlassian-mcp-bridge"],
        json!({"command": copy.to_str().expect("UTF-8"), "args": ["serve"]})
    );
}
