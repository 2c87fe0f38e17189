//! `[upstream]`: an MCP server over Streamable HTTP (Atlassian's hosted one) put behind the
//! bridge's sign-in, policy and audit (SPEC §11).

use serde::Deserialize;
use url::Url;

use super::ConfigError;
use super::site::checked_url;

/// Environment override for `upstream.url` (wins over the file).
pub const UPSTREAM_URL_ENV: &str = "ATLASSIAN_MCP_BRIDGE_UPSTREAM_URL";

/// Default `upstream.prefix`.
pub const DEFAULT_UPSTREAM_PREFIX: &str = "rovo_";

/// `[upstream]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpstream {
    url: Option<String>,
    callback_host: Option<String>,
    redirect_port: Option<u16>,
    prefix: Option<String>,
    tools: Option<String>,
}

/// Which host the sign-in callback is registered under: organisations may allow only one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackHost {
    /// `http://127.0.0.1:<port>/callback`.
    Ip,
    /// `http://localhost:<port>/callback`.
    Localhost,
}

impl CallbackHost {
    /// The host as it appears in the redirect URI.
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackHost::Ip => "127.0.0.1",
            CallbackHost::Localhost => "localhost",
        }
    }
}

/// Which tools `serve` offers when an upstream is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamTools {
    /// The upstream's tools next to the bridge's own.
    Both,
    /// Only the upstream's tools.
    Upstream,
}

impl UpstreamTools {
    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamTools::Both => "both",
            UpstreamTools::Upstream => "upstream",
        }
    }
}

/// The `[upstream]` section, resolved.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// The upstream MCP endpoint (Streamable HTTP); also the RFC 8707 `resource`.
    pub url: Url,
    /// Host of the loopback redirect URI.
    pub callback_host: CallbackHost,
    /// Loopback callback port; 0 = any free port (bound first, then registered exactly).
    pub redirect_port: u16,
    /// Prefix of upstream tool names as the bridge offers them.
    pub prefix: String,
    /// Whether the bridge's own tools are offered too.
    pub tools: UpstreamTools,
}

impl UpstreamSettings {
    /// Settings for an upstream URL with every other key at its default.
    pub fn for_url(url: Url) -> Self {
        Self {
            url,
            callback_host: CallbackHost::Ip,
            redirect_port: 0,
            prefix: DEFAULT_UPSTREAM_PREFIX.to_string(),
            tools: UpstreamTools::Both,
        }
    }
}

/// Validates `[upstream]`; `None` when neither the section nor the environment names a URL.
pub(super) fn resolve_upstream(
    raw: Option<RawUpstream>,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<UpstreamSettings>, ConfigError> {
    let present = raw.is_some();
    let raw = raw.unwrap_or_default();
    let url = match (env(UPSTREAM_URL_ENV), raw.url) {
        (Some(u), _) => checked_url(&u, file, UPSTREAM_URL_ENV)?,
        (None, Some(u)) => checked_url(&u, file, "upstream.url")?,
        (None, None) if present => {
            return Err(ConfigError::key(
                file,
                "upstream.url",
                "is missing; set it to the MCP server, e.g. \"https://mcp.atlassian.com/v1/mcp\"",
            ));
        }
        (None, None) => return Ok(None),
    };
    let callback_host = match raw.callback_host.as_deref().map(str::trim) {
        None | Some("127.0.0.1") => CallbackHost::Ip,
        Some("localhost") => CallbackHost::Localhost,
        Some(other) => {
            return Err(ConfigError::key(
                file,
                "upstream.callback_host",
                format!("is `{other}`; expected \"127.0.0.1\" or \"localhost\""),
            ));
        }
    };
    let prefix = raw
        .prefix
        .unwrap_or_else(|| DEFAULT_UPSTREAM_PREFIX.to_string());
    if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        || prefix.len() > 32
    {
        return Err(ConfigError::key(
            file,
            "upstream.prefix",
            format!(
                "is `{prefix}`; use up to 32 letters, digits, `_`, `-` or `.` (tool names allow no others)"
            ),
        ));
    }
    let tools = match raw.tools.as_deref().map(str::trim) {
        None | Some("both") => UpstreamTools::Both,
        Some("upstream") => UpstreamTools::Upstream,
        Some(other) => {
            return Err(ConfigError::key(
                file,
                "upstream.tools",
                format!("is `{other}`; expected \"both\" or \"upstream\""),
            ));
        }
    };
    if tools == UpstreamTools::Both && prefix.is_empty() {
        return Err(ConfigError::key(
            file,
            "upstream.prefix",
            "is empty, but upstream.tools = \"both\" needs it to keep upstream tool names apart from the bridge's own",
        ));
    }
    Ok(Some(UpstreamSettings {
        url,
        callback_host,
        redirect_port: raw.redirect_port.unwrap_or(0),
        prefix,
        tools,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str, env: &[(&str, &str)]) -> Result<Option<UpstreamSettings>, String> {
        #[derive(Deserialize)]
        struct Wrap {
            upstream: Option<RawUpstream>,
        }
        let w: Wrap = toml::from_str(text).map_err(|e| e.to_string())?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        resolve_upstream(w.upstream, "config.toml", &lookup).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_values() {
        assert!(resolve("", &[]).unwrap().is_none());
        let u = resolve(
            "[upstream]\nurl = \"https://mcp.atlassian.com/v1/mcp\"\n",
            &[],
        )
        .unwrap()
        .unwrap();
        assert_eq!(u.url.as_str(), "https://mcp.atlassian.com/v1/mcp");
        assert_eq!(u.callback_host, CallbackHost::Ip);
        assert_eq!((u.redirect_port, u.prefix.as_str()), (0, "rovo_"));
        assert_eq!(u.tools, UpstreamTools::Both);
        let u = resolve(
            "[upstream]\nurl = \"http://127.0.0.1:9/v1/mcp\"\ncallback_host = \"localhost\"\nredirect_port = 4567\nprefix = \"\"\ntools = \"upstream\"\n",
            &[],
        )
        .unwrap()
        .unwrap();
        assert_eq!(u.callback_host.as_str(), "localhost");
        assert_eq!((u.redirect_port, u.prefix.as_str()), (4567, ""));
        assert_eq!(u.tools, UpstreamTools::Upstream);
        let u = resolve("", &[(UPSTREAM_URL_ENV, "https://mcp.example/v2/mcp")])
            .unwrap()
            .unwrap();
        assert_eq!(u.url.path(), "/v2/mcp");
    }

    #[test]
    fn mistakes_name_the_key_and_the_fix() {
        for (text, needle) in [
            ("[upstream]\n", "upstream.url"),
            ("[upstream]\nurl = \"http://mcp.example/v1/mcp\"\n", "https"),
            (
                "[upstream]\nurl = \"https://m.example\"\ncallback_host = \"0.0.0.0\"\n",
                "callback_host",
            ),
            (
                "[upstream]\nurl = \"https://m.example\"\ntools = \"all\"\n",
                "\"both\" or \"upstream\"",
            ),
            (
                "[upstream]\nurl = \"https://m.example\"\nprefix = \"a b\"\n",
                "upstream.prefix",
            ),
            (
                "[upstream]\nurl = \"https://m.example\"\nprefix = \"\"\n",
                "keep upstream tool names apart",
            ),
        ] {
            let err = resolve(text, &[]).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
