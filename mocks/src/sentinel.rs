//! PLACEHOLDER: the sentinel mock.
