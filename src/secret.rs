//! A wrapper that keeps credentials out of logs, errors and `Debug` output.

use std::fmt;

/// A secret value (API token, PAT, OAuth token or client secret).
///
/// `Debug` prints a fixed placeholder and there is deliberately no `Display`, so a secret
/// can only leave this type through [`Secret::expose`], which marks every place where the
/// value is handed to the one consumer that needs it (an HTTP header, the credential store).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value so it cannot be printed by accident.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Hands out the raw value; call only where the secret is actually sent or stored.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the wrapped value is empty (an unset token read from an empty env var).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    /// Reads a secret from config text straight into the wrapper, so even the raw config
    /// structures never hold it as a printable `String`.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2-token");
        let shown = format!("{s:?} {:?}", Some(&s));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(s.expose(), "hunter2-token");
    }
}
