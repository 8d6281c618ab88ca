//! Sea-orm entities: one module per table created by `paindiary-migrations`.
//!
//! These are plain row types. Rules (who may see what, what a role means) live in the
//! domain and service modules, so the entities stay a faithful mirror of the schema.

pub mod alert_events;
pub mod alerts;
pub mod audit_events;
pub mod auth_tokens;
pub mod care_plan_medications;
pub mod care_plan_projections;
pub mod care_team_members;
pub mod clinic_notification_settings;
pub mod clinic_reminder_defaults;
pub mod clinics;
pub mod delivery_attempts;
pub mod device_tokens;
pub mod document_chunks;
pub mod documents;
pub mod entry_issues;
pub mod exercise_sessions;
pub mod invitations;
pub mod login_failures;
pub mod medication_intakes;
pub mod missed_logging_checks;
pub mod notification_outbox;
pub mod pain_entries;
pub mod patients;
pub mod peer_sync_states;
pub mod peg_checkins;
pub mod push_subscriptions;
pub mod questionnaire_responses;
pub mod reminder_settings;
pub mod reminders;
pub mod users;
pub mod web_sessions;
pub mod wellbeing_entries;
