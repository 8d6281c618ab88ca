//! Shared harness for Paindiary's end-to-end tests.
//!
//! [`spawn_app`] gives each test its own database (a SQLite file in a temp dir, or a
//! fresh PostgreSQL database), runs migrations, serves the real application on
//! 127.0.0.1:0 and returns a [`TestApp`] with a base URL, one HTTP client and helpers.
//! [`story!`] turns one async story function into a `sqlite` and a `postgres` test;
//! `PAINDIARY_TEST_BACKENDS` (default `sqlite,postgres`) selects which of them run.

// A test harness reports failure by panicking; that is its whole purpose here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod dashboard;
pub mod smtp;
pub mod tls;
pub mod webhook;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paindiary_server::accounts::{self, NewPatient, NewUser};
use paindiary_server::clock::ManualClock;
use paindiary_server::domain::{
    ClinicId, DisplayCode, DisplayName, Email, Password, PatientId, Role, TimeZoneName, UserId,
};
use paindiary_server::{AppState, Config};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Default PostgreSQL server for tests; override with `PAINDIARY_TEST_PG_URL`.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How to start the local PostgreSQL if it is not running.
pub const PG_START_HINT: &str =
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

/// A database backend under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Name as used in `PAINDIARY_TEST_BACKENDS`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Whether `PAINDIARY_TEST_BACKENDS` (default: both) selects this backend.
    pub fn selected(self) -> bool {
        let list =
            std::env::var("PAINDIARY_TEST_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
        list.split(',')
            .any(|b| b.trim().eq_ignore_ascii_case(self.name()))
    }
}

/// A running server with its own database.
pub struct TestApp {
    /// Which backend.
    pub backend: Backend,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// One client per test (connection reuse, like a real app).
    pub client: reqwest::Client,
    /// The server's state (database handle etc.), for direct setup and inspection.
    pub state: AppState,
    /// The server's clock; advance it to test expiry without sleeping.
    pub clock: ManualClock,
    /// The server's sync hub (cache size, eviction).
    pub hub: paindiary_server::hub::Hub,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    server: tokio::sync::Mutex<Option<JoinHandle<std::io::Result<()>>>>,
    config: Config,
    pg_database: Option<String>,
    _tmp: tempfile::TempDir,
}

/// A second server process-equivalent on the same database (own pool, own port, same
/// clock), to check that rules such as rate limits hold across replicas.
pub struct Replica {
    /// `http://127.0.0.1:<port>` of the replica.
    pub base_url: String,
    /// The replica's sync hub.
    pub hub: paindiary_server::hub::Hub,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    state: AppState,
}

impl Replica {
    /// Absolute URL on the replica.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Stops the replica and closes its pool.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = tokio::time::timeout(Duration::from_secs(30), self.server).await;
        self.state.db.close().await.ok();
    }
}

/// Serves `router` on a fresh 127.0.0.1 port until the returned sender fires.
async fn serve_on_ephemeral_port(
    router: axum::Router,
    hub: paindiary_server::hub::Hub,
) -> (String, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(paindiary_server::server::serve_with_hub(
        listener,
        router,
        hub,
        Duration::from_secs(10),
        async move {
            let _ = rx.await;
        },
    ));
    (format!("http://{addr}"), tx, server)
}

fn pg_admin_url() -> String {
    std::env::var("PAINDIARY_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// `url` with its database name replaced by `db` (the URL must name a database).
fn with_database(url: &str, db: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    format!("{base}/{db}")
}

/// Starts the application on `backend` with default test configuration.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}, axum::Router::new()).await
}

/// Starts the application, letting the test adjust the configuration and add routes
/// (e.g. a handler that blocks, for the graceful-shutdown story).
pub async fn spawn_app_with(
    backend: Backend,
    configure: impl FnOnce(&mut Config),
    extra_routes: axum::Router<AppState>,
) -> TestApp {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        data_dir: tmp.path().to_owned(),
        ..Config::default()
    };
    config.database.max_connections = 5;
    let mut pg_database = None;
    if backend == Backend::Postgres {
        let admin_url = pg_admin_url();
        let mut opts = sea_orm::ConnectOptions::new(admin_url.clone());
        // Fail fast (not after the pool's 30 s default) when the server is down.
        opts.connect_timeout(Duration::from_secs(3))
            .acquire_timeout(Duration::from_secs(3));
        let admin = Database::connect(opts).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is not reachable at {admin_url} ({e}); {PG_START_HINT}")
        });
        let name = format!("paindiary_t_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database: {e}"));
        admin.close().await.ok();
        config.database.url = Some(SecretString::from(with_database(&admin_url, &name)));
        pg_database = Some(name);
    }
    configure(&mut config);
    let clock = ManualClock::starting_now();
    let state = AppState::open_with_clock(config.clone(), Arc::new(clock.clone()))
        .await
        .expect("open state and migrate");
    let (router, hub) = paindiary_server::server::app(state.clone());
    let router = router.merge(extra_routes.with_state(state.clone()));
    let (base_url, tx, server) = serve_on_ephemeral_port(router, hub.clone()).await;
    TestApp {
        backend,
        base_url,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        state,
        clock,
        hub,
        shutdown: Mutex::new(Some(tx)),
        server: tokio::sync::Mutex::new(Some(server)),
        config,
        pg_database,
        _tmp: tmp,
    }
}

/// Runs `story` against a fresh app on `backend` (if selected), then stops the server
/// and drops the database even when the story panicked, and re-raises the panic.
pub async fn run_story<F, Fut>(backend: Backend, story: F)
where
    F: FnOnce(Arc<TestApp>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    run_story_with(backend, |_| {}, story).await
}

/// Like [`run_story`] with configuration changes applied before the app starts.
pub async fn run_story_with<F, Fut>(backend: Backend, configure: impl FnOnce(&mut Config), story: F)
where
    F: FnOnce(Arc<TestApp>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !backend.selected() {
        eprintln!(
            "backend {} not selected by PAINDIARY_TEST_BACKENDS; not run",
            backend.name()
        );
        return;
    }
    let app = Arc::new(spawn_app_with(backend, configure, axum::Router::new()).await);
    let outcome = tokio::spawn(story(app.clone())).await;
    app.stop().await;
    if let Err(e) = outcome {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("story task failed: {e}");
    }
}

/// One story, two tests: `<story>::sqlite` and `<story>::postgres`. An optional second
/// argument, a closure over `&mut Config`, changes the configuration before the app starts.
#[macro_export]
macro_rules! story {
    ($name:ident) => {
        $crate::story!($name, |_| {});
    };
    ($name:ident, $configure:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::run_story_with($crate::Backend::Sqlite, $configure, super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::run_story_with($crate::Backend::Postgres, $configure, super::$name).await
            }
        }
    };
}

/// A user created by a helper, with their credentials and a logged-in token.
#[derive(Clone, Debug)]
pub struct Actor {
    /// User id.
    pub user_id: UserId,
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// A device token from logging in.
    pub token: String,
    /// For patients: their patient id.
    pub patient_id: Option<PatientId>,
}

/// A standard password for helpers.
pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Absolute URL for `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sends a request with an optional bearer token and JSON body; returns status and JSON
    /// (or `Value::Null` for an empty body).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body {status}: {text}"))
        };
        (status, json)
    }

    /// The sync endpoint (`ws://.../sync`) for a client holding `token`.
    pub fn sync_endpoint(&self, token: &str) -> paindiary_sync::replica::ServerEndpoint {
        paindiary_sync::replica::ServerEndpoint {
            url: format!("{}/sync", self.base_url.replace("http://", "ws://")),
            token: Some(token.to_owned()),
        }
    }

    /// A care-team member (holding `clinician_token`) writes `patient`'s care plan over
    /// the sync endpoint, as the dashboard's editor or a clinician app would: `edit`
    /// changes a fresh copy of the plan (from its genesis, so it merges with the stored
    /// one), which is synced until the server has it.
    pub async fn sync_care_plan(
        &self,
        clinician_token: &str,
        patient: PatientId,
        edit: impl FnOnce(&mut automerge::AutoCommit),
    ) {
        use paindiary_sync::replica::{Connection, SyncTarget};
        let kind = paindiary_sync::schema::DocKind::CarePlan {
            patient: paindiary_sync::ids::PatientId::from_uuid(patient.uuid()),
        };
        let mut doc = kind
            .create(automerge::ActorId::random())
            .expect("care plan genesis");
        edit(&mut doc);
        let peer = paindiary_sync::protocol::PeerId::new(format!(
            "clinician-{}",
            uuid::Uuid::new_v4().simple()
        ))
        .expect("peer id");
        let mut conn = Connection::connect(
            &self.sync_endpoint(clinician_token),
            peer,
            None,
            Duration::from_secs(10),
        )
        .await
        .expect("sync connection");
        let mut state = automerge::sync::State::new();
        let outcome = conn
            .sync_documents(
                &mut [SyncTarget {
                    id: kind.document_id(),
                    doc: &mut doc,
                    state: &mut state,
                }],
                Duration::from_secs(10),
            )
            .await
            .expect("care plan sync");
        assert!(!outcome[0].unavailable, "care plan refused");
        conn.close().await;
    }

    /// Runs a query that returns one integer (a `COUNT(*)`) on the app's database.
    pub async fn count(&self, sql: &str) -> i64 {
        self.count_with(sql, Vec::new()).await
    }

    /// Like [`TestApp::count`] with bound values; write placeholders as `$1`, `$2`, ...
    /// (rewritten to `?` on SQLite).
    pub async fn count_with(&self, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
        let backend = self.state.db.get_database_backend();
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => sql.to_owned(),
            _ => (1..=values.len())
                .rev()
                .fold(sql.to_owned(), |sql, i| sql.replace(&format!("${i}"), "?")),
        };
        let row = self
            .state
            .db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                backend, sql, values,
            ))
            .await
            .expect("count query")
            .expect("one row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    /// `GET` with a token.
    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// `POST` JSON, optionally with a token.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Creates a clinic directly through the library.
    pub async fn create_clinic(&self, name: &str) -> ClinicId {
        accounts::create_clinic(&self.state, name)
            .await
            .expect("create clinic")
            .id
    }

    /// Creates a staff user through the library and logs them in over HTTP.
    pub async fn create_staff(&self, clinic: ClinicId, role: Role) -> Actor {
        let email = format!(
            "{}-{}@example.org",
            role.as_str(),
            uuid::Uuid::new_v4().simple()
        );
        let user = accounts::create_user(
            &self.state,
            None,
            NewUser {
                clinic,
                email: Email::parse(&email).expect("email"),
                display_name: DisplayName::parse("Test Person").expect("name"),
                role,
                password: Password::parse(PASSWORD).expect("password"),
            },
        )
        .await
        .expect("create user");
        let token = self.login_ok(&email, PASSWORD, Some("test device")).await;
        Actor {
            user_id: user.id,
            email,
            password: PASSWORD.into(),
            token,
            patient_id: None,
        }
    }

    /// Creates a patient through the library; returns the id and the invitation code.
    pub async fn create_patient(
        &self,
        clinic: ClinicId,
        display_code: &str,
    ) -> (PatientId, String) {
        let created = accounts::create_patient(
            &self.state,
            None,
            NewPatient {
                clinic,
                display_code: DisplayCode::parse(display_code).expect("code"),
                timezone: TimeZoneName::parse("Europe/Berlin").expect("tz"),
            },
        )
        .await
        .expect("create patient");
        (created.patient.id, created.invitation.code)
    }

    /// Creates a patient and enrols them over HTTP; returns the patient's actor.
    pub async fn enrolled_patient(&self, clinic: ClinicId, display_code: &str) -> Actor {
        let (patient_id, code) = self.create_patient(clinic, display_code).await;
        let email = format!("patient-{}@example.org", uuid::Uuid::new_v4().simple());
        let (status, body) = self
            .post(
                "/api/v1/enrol",
                None,
                json!({"code": code, "email": email, "password": PASSWORD, "device_name": "phone"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "enrol: {body}");
        let user_id: UserId = body["user"]["id"]
            .as_str()
            .expect("user id")
            .parse()
            .expect("uuid");
        Actor {
            user_id,
            email,
            password: PASSWORD.into(),
            token: body["token"].as_str().expect("token").to_owned(),
            patient_id: Some(patient_id),
        }
    }

    /// Adds a clinician to a care team through the library.
    pub async fn add_to_care_team(&self, patient: PatientId, user: UserId) {
        accounts::add_to_care_team(&self.state, None, None, patient, user)
            .await
            .expect("care team");
    }

    /// Logs in over HTTP and returns the token; panics unless 200.
    pub async fn login_ok(&self, email: &str, password: &str, device: Option<&str>) -> String {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": password, "device_name": device}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Starts another server on the same database, like a second replica.
    pub async fn spawn_replica(&self) -> Replica {
        let state = AppState::open_with_clock(self.config.clone(), Arc::new(self.clock.clone()))
            .await
            .expect("open replica state");
        let (router, hub) = paindiary_server::server::app(state.clone());
        let (base_url, shutdown, server) = serve_on_ephemeral_port(router, hub.clone()).await;
        Replica {
            hub,
            base_url,
            shutdown,
            server,
            state,
        }
    }

    /// Signals graceful shutdown (idempotent).
    pub fn trigger_shutdown(&self) {
        if let Some(tx) = self
            .shutdown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            let _ = tx.send(());
        }
    }

    /// Waits (at most `limit`) for the server task to finish; `None` if still running.
    pub async fn wait_stopped(&self, limit: Duration) -> Option<std::io::Result<()>> {
        let mut guard = self.server.lock().await;
        let handle = guard.as_mut()?;
        match tokio::time::timeout(limit, handle).await {
            Ok(joined) => {
                guard.take();
                Some(joined.expect("server task"))
            }
            Err(_) => None,
        }
    }

    /// Stops the server, closes the pool and drops a PostgreSQL test database (best effort).
    pub async fn stop(&self) {
        self.trigger_shutdown();
        let _ = self.wait_stopped(Duration::from_secs(30)).await;
        self.state.db.clone().close().await.ok();
        if let Some(name) = &self.pg_database
            && let Ok(admin) = Database::connect(pg_admin_url().as_str()).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            admin.close().await.ok();
        }
    }
}
