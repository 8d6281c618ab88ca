//! Paindiary's database schema, as sea-orm migrations applied in order.
