//! Paindiary's database schema, as sea-orm migrations applied in order.
//!
//! One file per migration. Migrations describe tables with sea-query only and never
//! import the server's entities, so an old migration keeps compiling (and meaning the
//! same thing) after the entities move on.

pub use sea_orm_migration::prelude::*;

mod m20251127_000001_create_clinics;
mod m20251127_000002_create_users;
mod m20251127_000003_create_patients;
mod m20251127_000004_create_care_team_members;
mod m20251127_000005_create_invitations;
mod m20251127_000006_create_auth_tokens;
mod m20251127_000007_create_login_failures;
mod m20251127_000008_create_audit_events;
mod m20251127_000009_create_documents;
mod m20251127_000010_create_projection;
mod m20251203_000011_create_alerts;
mod m20251203_000012_create_outbox;
mod m20251204_000013_create_web_sessions;
mod m20251204_000017_clinic_timezone;
mod m20251204_000018_create_missed_logging_checks;
mod m20251205_000019_document_touch_trigger;
mod m20251205_000020_pain_window_index;
mod m20251205_000021_care_plan_projection;
mod m20261207_000022_alert_currency;
mod m20261207_000023_reminders;
mod m20261207_000024_push_subscriptions;
mod m20261208_000025_reminder_settings;
mod m20261208_000026_clinic_reminder_defaults;
mod m20261208_000027_device_tokens;
mod m20261208_000028_last_entry_index;
mod m20261208_000030_questionnaire_responses;

/// Every Paindiary migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20251127_000001_create_clinics::Migration),
            Box::new(m20251127_000002_create_users::Migration),
            Box::new(m20251127_000003_create_patients::Migration),
            Box::new(m20251127_000004_create_care_team_members::Migration),
            Box::new(m20251127_000005_create_invitations::Migration),
            Box::new(m20251127_000006_create_auth_tokens::Migration),
            Box::new(m20251127_000007_create_login_failures::Migration),
            Box::new(m20251127_000008_create_audit_events::Migration),
            Box::new(m20251127_000009_create_documents::Migration),
            Box::new(m20251127_000010_create_projection::Migration),
            Box::new(m20251203_000011_create_alerts::Migration),
            Box::new(m20251203_000012_create_outbox::Migration),
            Box::new(m20251204_000013_create_web_sessions::Migration),
            Box::new(m20251204_000017_clinic_timezone::Migration),
            Box::new(m20251204_000018_create_missed_logging_checks::Migration),
            Box::new(m20251205_000019_document_touch_trigger::Migration),
            Box::new(m20251205_000020_pain_window_index::Migration),
            Box::new(m20251205_000021_care_plan_projection::Migration),
            Box::new(m20261207_000022_alert_currency::Migration),
            Box::new(m20261207_000023_reminders::Migration),
            Box::new(m20261207_000024_push_subscriptions::Migration),
            Box::new(m20261208_000025_reminder_settings::Migration),
            Box::new(m20261208_000026_clinic_reminder_defaults::Migration),
            Box::new(m20261208_000027_device_tokens::Migration),
            Box::new(m20261208_000028_last_entry_index::Migration),
            Box::new(m20261208_000030_questionnaire_responses::Migration),
        ]
    }
}
