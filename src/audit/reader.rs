//! Reading the log across rotated files: verify, query, stats.
