//! Confluence tools, one file per tool (its arguments, output, rendering and handler together).

pub mod get_page;
pub mod list_spaces;
pub mod search;
