//! Paindiary's alerting: clinical rules over daily series, the alert lifecycle, message
//! rendering and delivery channels. It knows nothing of HTTP routing or the database.

#![warn(missing_docs)]

pub mod render;
pub mod rules;
