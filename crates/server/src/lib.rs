//! The Paindiary server library: everything the `paindiary` binary runs.
