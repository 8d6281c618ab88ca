//! Running the HTTP server on a listener with graceful shutdown.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use tokio::net::TcpListener;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::hub::Hub;
use crate::state::AppState;

/// The whole application: the REST API, the dashboard (whose care-plan editor writes
/// through the hub) and the sync endpoint, with the hub behind them. The layers every
/// HTTP response shares are put on here: the body limit, request tracing by route
/// template, `no-store` under `/api/v1`, and our JSON error for unknown paths and methods.
pub fn app(state: AppState) -> (Router, Hub) {
    let hub = Hub::new(state.clone(), state.config.sync.clone());
    crate::hub::replication::spawn_listener(&hub);
    hub.spawn_checkpointer();
    let max_body = state.config.max_body_bytes;
    let router = Router::new()
        .merge(crate::api::routes())
        .merge(crate::web::router(hub.clone()))
        .fallback(crate::api::not_found)
        .method_not_allowed_fallback(crate::api::method_not_allowed)
        .layer(axum::middleware::map_response(
            crate::api::no_store_under_api,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    // The route template, never the raw URI: a URI may carry `?token=` or ids
                    // that together with timing reveal who is being looked at.
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("<unmatched>", MatchedPath::as_str);
                    tracing::info_span!("http", method = %req.method(), route)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .with_state(state)
        .merge(crate::hub::connection::router(hub.clone()));
    (router, hub)
}

/// Serves the full application on `listener` until `shutdown` completes, then stops
/// accepting, closes sync connections (each saves its sync states) and waits for
/// in-flight requests to finish. Tests bind port 0 and pass their own shutdown future.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = Duration::from_secs(state.config.shutdown_grace_secs);
    let worker = state
        .config
        .delivery
        .worker
        .then(|| crate::outbox::spawn_worker(state.clone()));
    let (router, hub) = app(state.clone());
    // Metrics on their own address (off the public listener), if configured.
    let metrics = crate::metrics::spawn_listener(&state, &hub).await?;
    let served = serve_with_hub(listener, router, hub, grace, shutdown).await;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    // The worker finishes its current round (bounded by the send timeouts) and stops.
    if let Some(worker) = worker {
        worker.stop().await;
    }
    served
}

/// Serves `router` and, once `shutdown` completes, closes the hub's WebSockets (upgraded
/// connections are not tracked by the HTTP server's own graceful shutdown).
pub async fn serve_with_hub(
    listener: TcpListener,
    router: Router,
    hub: Hub,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let closing = hub.clone();
    let follower = tokio::spawn(hub.clone().follow_access_changes());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(());
    };
    let hub_stop = tokio::spawn(async move {
        if stop_rx.await.is_ok() {
            closing.shutdown(grace).await;
        }
    });
    let served = serve_router(listener, router, shutdown).await;
    let _ = hub_stop.await;
    follower.abort();
    served
}

/// Like [`run`] for an already-built router (e.g. the application plus test-only routes).
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "listening");
    }
    // The peer address reaches handlers as `ConnectInfo` (login rate limiting per client).
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    tracing::info!("server stopped");
    Ok(())
}

/// Completes on ctrl-c or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received, shutting down"),
        () = term => tracing::info!("SIGTERM received, shutting down"),
    }
}
