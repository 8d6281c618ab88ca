//! `AppState`: what every handler (and later the sync hub, storage and projection) shares.
//!
//! Later modules add their handles here (the hub's document cache, the outbox notifier)
//! rather than reaching for globals.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::access_changes::AccessChanges;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{self, DbOpenError};
use crate::domain::Password;
use crate::error::ApiError;

/// Shared, cheaply clonable server state.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// What the sync hub's group commits write through (see [`db::connect_writer`]).
    pub writer: DatabaseConnection,
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Revocations and other access changes, for live sync sessions to act on.
    pub access_changes: AccessChanges,
    /// An argon2id hash of a random password, verified against when a login names an
    /// unknown email so that the response time does not reveal which emails exist.
    pub(crate) dummy_password_hash: Arc<str>,
    /// The slots password hashing runs in (bounded by `auth.hash_memory_budget_bytes`).
    pub hashing: Arc<crate::auth::password::HashGate>,
    /// The delivery channels and the worker's wake-up signal.
    pub outbox: Arc<crate::outbox::Outbox>,
    /// The VAPID key pair Web Push reminders are signed with.
    pub vapid: Arc<crate::reminders::push::Vapid>,
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Database connect or migration.
    #[error(transparent)]
    Db(#[from] DbOpenError),
    /// Preparing the login timing guard failed.
    #[error("startup: {0}")]
    Startup(#[from] ApiError),
    /// The delivery channels could not be set up.
    #[error("delivery: {0}")]
    Delivery(#[from] crate::outbox::ChannelSetupError),
    /// The VAPID key could not be loaded or generated.
    #[error("reminders: {0}")]
    Vapid(#[from] crate::reminders::push::VapidError),
}

impl AppState {
    /// Builds state over an existing, migrated connection.
    pub async fn new(
        db: DatabaseConnection,
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StateError> {
        let random: [u8; 24] = rand::random();
        let hashing = Arc::new(crate::auth::password::HashGate::new(&config.auth));
        let dummy =
            crate::auth::password::hash(&hashing, Password::for_login(&hex::encode(random)))
                .await?;
        let outbox = crate::outbox::Outbox::new(&config.delivery, &config.data_dir)?;
        let writer = db::connect_writer(&config, &db).await?;
        let vapid = Arc::new(crate::reminders::push::Vapid::load_or_generate(
            &config.reminders,
            &config.data_dir,
        )?);
        Ok(Self {
            db,
            writer,
            config: Arc::new(config),
            clock,
            access_changes: AccessChanges::default(),
            dummy_password_hash: Arc::from(dummy),
            hashing,
            outbox,
            vapid,
        })
    }

    /// Connects per `config`, applies migrations, and builds state with the system clock.
    pub async fn open(config: Config) -> Result<Self, StateError> {
        Self::open_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Like [`AppState::open`] with a chosen clock (tests use a manual one).
    pub async fn open_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StateError> {
        let conn = db::connect(&config).await?;
        db::migrate(&conn).await?;
        Self::new(conn, config, clock).await
    }
}
