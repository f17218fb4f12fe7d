//! Splunk-style `*` wildcard globs: matching, and whether two globs can match a common string.
