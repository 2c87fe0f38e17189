//! The Atlassian HTTP layer.
