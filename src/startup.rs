//! The `serve` job: event log, projections, HTTP front door, graceful shutdown.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, dev::Server, web};
use anyhow::Context;

use crate::projector::Projector;
use crate::settings::Settings;
use crate::store::{self, EventStore};

/// A built, not yet running, server.
pub struct Application {
    port: u16,
    server: Server,
    store: Arc<dyn EventStore>,
    projector: Projector,
}

impl Application {
    /// Opens the log (running migrations), starts the projections and binds the HTTP port.
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        let store = store::open(settings.database_url.expose()).await?;
        let projector = Projector::start(store.clone(), settings.database_url.expose()).await?;
        let listener = TcpListener::bind(&settings.http_addr)
            .with_context(|| format!("binding HTTP address {}", settings.http_addr))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            store: store.clone(),
            projector: projector.handle(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/healthz", web::get().to(healthz))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        Ok(Application {
            port,
            server,
            store,
            projector,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or SIGINT, then drains: in-flight requests finish, queued appends
    /// commit, the projections stop after their current batch.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await.context("HTTP server")?;
        tracing::info!("HTTP server stopped; draining");
        self.projector.stop().await;
        self.store.close().await;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// Shared state of the HTTP handlers.
pub struct AppState {
    pub store: Arc<dyn EventStore>,
    pub projector: crate::projector::ProjectorHandle,
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "status": "ok",
        "projections_position": state.projector.position(),
        "projections_lag": state.projector.lag(),
    }))
}
