//! Paindiary's tools beside the server, run by the `paindiary-tools` binary: they drive a
//! server (in this process or over the network) the way phones and clinics do, and are not
//! part of the deployed server.
//!
//! - [`demo`]: a demo clinic with synthetic diaries synced like real phones.
//! - [`phone`]: a phone on the command line (log in, record, edit and delete offline,
//!   sync); [`local_time`]: its times in the patient's zone.
//! - [`load`], [`load_check`], [`load_delivery`]: the sync load generator, its crash
//!   verification and the alert-delivery load run.
//! - [`cli`]: the command line.
//!
//! Dependency direction: tools -> server (library) and sync; nothing depends on tools.

pub mod cli;
pub mod demo;
pub mod load;
pub mod load_check;
pub mod load_delivery;
pub mod local_time;
pub mod phone;
