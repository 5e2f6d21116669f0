//! The `serve` job and the composition root: the event log, the projector (the process's one
//! log subscription) and its listeners, the application layer, and the three transports over
//! it (REST in `api/`, the WebSocket gateway in `realtime/`, media in `sfu/`), which meet only
//! here; then graceful shutdown.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{dev::Server, web};
use anyhow::Context;
use livesurgery_projections::ReadModels;

use crate::api::{self, state::ApiState};
use crate::app::dispatch::{Dispatcher, LogListener};
use crate::app::nodes::MediaNode;
use crate::app::{App, PlaybackSigner};
use crate::auth::{Keys, load_or_create_key};
use crate::demo::seed::Demo;
use crate::projector::Projector;
use crate::realtime::Gateway;
use crate::recording::lifecycle::{Recorder, TapControl};
use crate::settings::Settings;
use crate::sfu::Sfu;
use crate::store::{self, EventStore};
use crate::telemetry::Metrics;

/// A built, not yet running, server.
pub struct Application {
    addr: SocketAddr,
    public_url: Option<String>,
    /// Whether the server terminates TLS (its links are `https://`).
    tls: bool,
    app: Arc<App>,
    server: Server,
    store: Arc<dyn EventStore>,
    projector: Projector,
    gateway: Arc<Gateway>,
    sfu: Arc<Sfu>,
    /// Kept for the server's life (the dispatcher holds it weakly).
    _recorder: Arc<Recorder>,
    sweeper: tokio::task::JoinHandle<()>,
    /// Takes the Health page's SLI snapshots.
    slo_ticker: tokio::task::JoinHandle<()>,
    /// Demo mode's feeds and banner (`serve --demo`).
    demo: Option<Demo>,
    /// Signs the log's head at an interval and on shutdown (audit checkpoints).
    checkpointer: crate::audit::checkpoint::Checkpointer,
    /// Renews this node's row among the media nodes (see `app::placement`).
    heartbeat: tokio::task::JoinHandle<()>,
}

/// The archive store as the signer of playback URLs.
struct StoreSigner(Arc<dyn crate::storage::BlobStore>);

#[async_trait::async_trait]
impl PlaybackSigner for StoreSigner {
    async fn playback(
        &self,
        object_key: &str,
        ttl: std::time::Duration,
    ) -> Result<crate::app::PlaybackTarget, crate::app::error::AppError> {
        use crate::app::PlaybackTarget;
        use crate::storage::Playback;
        match self.0.playback(object_key, ttl).await {
            Ok(Playback::Url(url)) => Ok(PlaybackTarget::Url(url)),
            Ok(Playback::Local(path)) => Ok(PlaybackTarget::Local(path)),
            Err(crate::storage::StorageError::NotFound { .. }) => {
                Err(crate::app::error::AppError::unavailable(
                    "playback_unavailable",
                    "the archive's playable object is not in the archive store",
                ))
            }
            Err(error) => Err(crate::app::error::AppError::internal(error)),
        }
    }
}

impl Application {
    /// Opens the log (running migrations), starts the projections and binds the HTTP port.
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        Application::build_with_playback(settings, None).await
    }

    /// [`Application::build`], playing archives through `playback` (the archive store's side
    /// of playback URLs); without one, playback answers 503 `playback_unavailable`.
    pub async fn build_with_playback(
        settings: &Settings,
        playback: Option<Arc<dyn PlaybackSigner>>,
    ) -> anyhow::Result<Application> {
        let key = match &settings.api.jwt_secret {
            Some(secret) => secret.expose().to_owned(),
            None => load_or_create_key(&settings.api.data_dir)?,
        };
        let metrics = Arc::new(Metrics::new());
        let store = store::metered(
            store::open(settings.database_url.expose()).await?,
            metrics.log.append_duration.clone(),
        );
        let checkpointer = crate::audit::checkpoint::Checkpointer::start(
            store.clone(),
            &crate::audit::checkpoint::CheckpointPaths::resolve(
                &settings.api.data_dir,
                settings.api.checkpoint_key.as_deref(),
                settings.api.checkpoint_file.as_deref(),
            ),
            std::time::Duration::from_secs(settings.api.checkpoint_interval),
        )
        .context("starting the audit checkpoints")?;
        let dispatcher = Dispatcher::new();
        let projector = Projector::start(
            store.clone(),
            settings.database_url.expose(),
            dispatcher.clone(),
            metrics.clone(),
        )
        .await?;
        {
            let projections = projector.handle();
            let lag = metrics.log.projection_lag_events.clone();
            metrics.sample_with(move || lag.set(projections.lag() as i64));
        }
        // A pool of its own for reads, apart from the projector's writes.
        let read_models = ReadModels::connect(settings.database_url.expose())
            .await
            .context("connecting the read models")?;
        let listener = TcpListener::bind(&settings.http_addr)
            .with_context(|| format!("binding HTTP address {}", settings.http_addr))?;
        let addr = listener.local_addr()?;
        // This process as a media node: where the media of sessions placed on it is reached.
        let node = MediaNode::in_data_dir(
            &settings.api.data_dir,
            settings.api.media_url.clone().unwrap_or_else(|| {
                browser_base(addr, settings.api.public_url.as_deref(), settings.api.tls())
            }),
            settings.api.media_url.is_some() || settings.api.public_url.is_some(),
            settings.api.media_node,
        )
        .context("keeping this node's id")?;
        tracing::info!(node = %node.id, url = %node.url, holds_media = node.holds_media, "this process is node");
        let mut app = App::new(
            store.clone(),
            projector.handle(),
            read_models,
            Keys::new(key.as_bytes()),
            settings.api.clone(),
            node,
        );
        // Archives: the configured object store, which also signs playback URLs unless the
        // caller brought its own signer.
        let blobs = crate::storage::open(&settings.api).context("opening the archive store")?;
        let signer = playback
            .unwrap_or_else(|| Arc::new(StoreSigner(blobs.clone())) as Arc<dyn PlaybackSigner>);
        app = app.with_playback(signer);
        let app = Arc::new(app);
        let app_handle = app.clone();
        let gateway = Gateway::new(
            store.clone(),
            metrics.clone(),
            settings.api.ws_resume_window,
        );
        let sfu =
            Sfu::start(&settings.api, app.clone(), metrics.clone()).context("starting the SFU")?;
        // The gateway pushes, and the SFU cuts media, from the projector's one reading of the log.
        let gateway_listener: Arc<dyn LogListener> = gateway.clone();
        let sfu_listener: Arc<dyn LogListener> = sfu.clone();
        let placements_listener: Arc<dyn LogListener> = app.placements.clone();
        dispatcher.listen(Arc::downgrade(&gateway_listener));
        dispatcher.listen(Arc::downgrade(&sfu_listener));
        dispatcher.listen(Arc::downgrade(&placements_listener));
        // Alive among the media nodes before serving a join; renewed until it stops.
        app.node_heartbeat().await;
        let heartbeat = crate::app::placement::spawn_heartbeat(app.clone());
        // The recorder follows the log too: it taps the SFU for the sessions being recorded.
        let taps: Arc<dyn TapControl> = sfu.clone();
        let recorder = Recorder::start(app.clone(), blobs.clone(), taps)
            .await
            .context("starting the recorder")?;
        {
            let recorder = Arc::downgrade(&recorder);
            let recording = (
                metrics.recording.upload_backlog.clone(),
                metrics.recording.upload_failures.clone(),
            );
            metrics.sample_with(move || {
                let Some(recorder) = recorder.upgrade() else {
                    return;
                };
                let (backlog, failures) = recorder.upload_state();
                recording.0.set(backlog as i64);
                // A counter follows the spool's own count of failures.
                let counted = recording.1.get();
                if failures > counted {
                    recording.1.inc_by(failures - counted);
                }
            });
        }
        let slo_window = Arc::new(crate::telemetry::slo::Window::new(&metrics));
        let slo_ticker = slo_window.clone().run(metrics.clone());
        let recorder_listener: Arc<dyn LogListener> = recorder.clone();
        dispatcher.listen(Arc::downgrade(&recorder_listener));
        {
            let recorder = recorder.clone();
            tokio::spawn(async move {
                if let Err(error) = recorder.recover().await {
                    tracing::error!(
                        error = format!("{error:#}"),
                        "recovering archives left by a previous run failed"
                    );
                }
            });
        }
        {
            // Read before this process serves anything: what is past it is this process's own.
            let head = store
                .head_position()
                .await
                .context("reading the log's head")?;
            let app = app.clone();
            tokio::spawn(async move {
                if let Err(error) = app.recover_after_restart(head).await {
                    tracing::error!(
                        error = format!("{error:#}"),
                        "closing the media a previous run left open failed"
                    );
                }
                app.placements.set_ready();
            });
        }
        let sweeper = crate::recording::retention::spawn_sweeper(
            store.clone(),
            app.read_models.clone(),
            blobs.clone(),
            std::time::Duration::from_secs(settings.api.archive_gc_interval_secs.max(1)),
        );
        let demo = if settings.api.demo {
            let url = browser_base(addr, settings.api.public_url.as_deref(), settings.api.tls());
            Some(Demo::start(app.clone(), sfu.clone(), &dispatcher, &url).await?)
        } else {
            None
        };
        let state = web::Data::new(ApiState::new(app.clone()));
        let app_data = web::Data::from(app);
        // Decided once: what start-up says is what every worker serves.
        let web_app = crate::web::WebApp::choose(settings.api.web_dir.as_deref());
        web_app.log();
        let source_maps = settings.api.web_source_maps;
        let edge_policy = web::Data::new(api::headers::EdgePolicy::new(&settings.api));
        let tls = tls_config(&settings.api)?;
        let metrics = web::Data::from(metrics);
        let gateway_data = web::Data::from(gateway.clone());
        let slo_data = web::Data::from(slo_window);
        let sfu_data = web::Data::from(sfu.clone());
        let api_settings = settings.api.clone();
        let server = api::wire::serve(listener, tls, 10, move || {
            let api_settings = api_settings.clone();
            actix_web::App::new()
                .app_data(state.clone())
                .app_data(app_data.clone())
                .app_data(metrics.clone())
                .app_data(slo_data.clone())
                .app_data(gateway_data.clone())
                .app_data(sfu_data.clone())
                .app_data(edge_policy.clone())
                .service(
                    web::resource("/v1/sessions/{id}/ws")
                        .wrap(from_fn(crate::realtime::check_origin))
                        .route(web::get().to(crate::realtime::connection::ws)),
                )
                .configure(|cfg| api::configure(cfg, &api_settings))
                .configure(|cfg| crate::web::configure(cfg, &web_app, source_maps))
                .wrap(from_fn(api::idempotency::idempotency))
                // Outside idempotency: a replayed answer is for a caller still allowed it.
                .wrap(from_fn(api::authorize::authorize_first))
                // Inside the envelope: its refusals get the envelope, and every answer,
                // the envelope's errors included, gets its headers.
                .wrap(from_fn(api::headers::edge))
                // Inside the envelope, which chose the request id the span records.
                .wrap(from_fn(api::request_span::request_span))
                .wrap(from_fn(api::error::envelope))
                // Outermost: every answer is measured as the client gets it.
                .wrap(from_fn(crate::telemetry::http::measure))
        })
        .context("serving HTTP")?;
        Ok(Application {
            addr,
            public_url: settings.api.public_url.clone(),
            tls: settings.api.tls(),
            app: app_handle,
            server,
            store,
            projector,
            gateway,
            sfu,
            _recorder: recorder,
            sweeper,
            slo_ticker,
            demo,
            checkpointer,
            heartbeat,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// First start: when no active admin exists, makes the one-time setup token and prints the
    /// setup link once on standard output (the log says that it did, without the token);
    /// returns the link. Start-up calls it
    /// after anything that may create an admin (the demo's seed), so then there is no link.
    pub async fn offer_setup(&self) -> anyhow::Result<Option<String>> {
        let Some(token) = self
            .app
            .offer_setup()
            .await
            .context("checking whether an admin exists")?
        else {
            return Ok(None);
        };
        let base = browser_base(self.addr, self.public_url.as_deref(), self.tls);
        let link = format!("{base}/setup?token={token}");
        let everywhere = self.addr.ip().is_unspecified().then(|| {
            format!(
                "the server listens on all interfaces ({}): from another machine, put this \
                 machine's address in place of {}",
                self.addr.ip(),
                reachable(self.addr).ip()
            )
        });
        println!(
            "First start: no admin exists yet. Create the first admin at\n\n    {link}\n\n\
             The link works once, until this server stops.{}\n\
             (`livesurgery users create` still works for scripts.)",
            everywhere
                .as_deref()
                .map(|e| format!(" Note: {e}."))
                .unwrap_or_default()
        );
        // The link holds a secret: standard output only, never the log (which may be shipped
        // elsewhere); the log says where to look.
        tracing::info!(
            setup_page = %format!("{base}/setup"),
            note = everywhere.as_deref().unwrap_or(""),
            "first start: no admin exists; the one-time setup link (valid once, until restart) \
             is printed on standard output"
        );
        Ok(Some(link))
    }

    /// Demo mode's banner for standard output, once: the URL, the personas (with their
    /// passwords on the start that created them), and that everything is synthetic.
    pub fn take_demo_banner(&mut self) -> Option<String> {
        self.demo.as_mut().and_then(Demo::take_banner)
    }

    /// The public key (hex) that checks this server's audit checkpoints (not a secret).
    pub fn checkpoint_public_key(&self) -> &str {
        self.checkpointer.public_key()
    }

    /// The media server (for whatever drives it besides HTTP: the recorder, a benchmark).
    pub fn sfu(&self) -> Arc<Sfu> {
        self.sfu.clone()
    }

    /// Serves until SIGTERM or SIGINT, then drains: in-flight requests finish, queued appends
    /// commit, the projections stop after their current batch.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        // WebSocket connections are told to close (1001) as the server begins to stop, so each
        // records its participant's leave while the log is still open.
        let gateway = self.gateway.clone();
        let closer = tokio::spawn(async move {
            shutdown_signal().await;
            gateway.close_all();
        });
        let served = self.server.await;
        closer.abort();
        served.context("HTTP server")?;
        tracing::info!("HTTP server stopped; draining");
        // Gone from the media nodes at once: the other nodes place this one's sessions again
        // at their next heartbeat, and its clients are told where to reconnect.
        self.heartbeat.abort();
        let placements = &self.app.placements;
        if let Err(error) = placements.nodes.remove(&placements.node.id).await {
            tracing::warn!(%error, "could not remove this node from the media nodes");
        }
        // The synthetic feeds stop first, as a publisher that leaves would.
        if let Some(demo) = self.demo {
            demo.stop().await;
        }
        // Peer connections end (recorded as `shutdown`) while the log is still open.
        self.sfu.stop().await;
        self.sweeper.abort();
        self.slo_ticker.abort();
        self.projector.stop().await;
        // The last events appended (the leaves above) are signed before the log closes.
        self.checkpointer.stop().await;
        self.store.close().await;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// The TLS configuration of `--tls-cert` and `--tls-key` (PEM), when both are given.
fn tls_config(
    settings: &crate::settings::ApiSettings,
) -> anyhow::Result<Option<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) => return Ok(None),
        _ => anyhow::bail!(
            "TLS needs both --tls-cert and --tls-key (LIVESURGERY_TLS_CERT, LIVESURGERY_TLS_KEY)"
        ),
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the TLS certificate chain {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "no certificate in {}", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the TLS private key {}", key.display()))?;
    // One provider named here: the dependency tree enables two, and rustls then picks none.
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not make a pair")?;
    Ok(Some(config))
}

/// Where a browser on this machine reaches the server listening on `addr`: the public URL when
/// one is configured, else `http://` (`https://` under TLS) and the [`reachable`] address (for
/// the setup link and the demo's banner).
fn browser_base(addr: SocketAddr, public_url: Option<&str>, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    match public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("{scheme}://{}", reachable(addr)),
    }
}

/// The listen address as a browser on this machine reaches it: a wildcard address (`0.0.0.0`,
/// `::`) becomes loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if !ip.is_unspecified() => addr,
        std::net::IpAddr::V4(_) => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        std::net::IpAddr::V6(_) => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
    }
}

/// SIGTERM or SIGINT (the signals the HTTP server stops on).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
