//! Shared harness for Paindiary's end-to-end tests.
