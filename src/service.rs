//! `odcs serve` and `odcs worker`: the configuration wired into a running
//! service — database (migrated at start), package source, caches, the API,
//! in-process workers, the expiry reaper and the outbox sender of state-change
//! messages — with graceful shutdown (a job in progress is handed back to the
//! queue).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::api::{AppState, router, validate::Lifetime};
use crate::compose::createrepo::CacheDir;
use crate::config::Config;
use crate::domain::{TargetDir, TargetDirs};
use crate::source::PackageSource;
use crate::source::koji::{ClientOptions, KojiClient, KojiPaths};
use crate::source::koji_source::KojiSource;
use crate::source::local::LocalStore;
use crate::store::{Store, redact_url};
use crate::worker::WorkerContext;

/// The package source the configuration names: a Koji hub, or the local
/// store; module lookups through MBS when `[mbs]` is set.
pub fn package_source(cfg: &Config) -> anyhow::Result<Arc<dyn PackageSource + Send>> {
    let source = packages_from(cfg)?;
    Ok(match &cfg.mbs {
        Some(m) => {
            let options = ClientOptions {
                timeout: Duration::from_secs(m.timeout_seconds),
                ..ClientOptions::default()
            };
            let mbs = crate::source::mbs::MbsClient::new(&m.url, options, m.ca_bundle.as_deref())?;
            Arc::new(crate::source::mbs::MbsSource { mbs, inner: source })
        }
        None => source,
    })
}

fn packages_from(cfg: &Config) -> anyhow::Result<Arc<dyn PackageSource + Send>> {
    // the header cache keys files of the package volume alike on every host
    // mounting it at this path (rpm::share_volume)
    let root = match &cfg.koji {
        Some(k) => k.topdir.clone(),
        None => cfg.store_dir(),
    };
    if let Err(e) = crate::rpm::share_volume(&root) {
        tracing::warn!(
            "{}: {e}: its files are keyed by this host's device number",
            root.display()
        );
    }
    Ok(match &cfg.koji {
        Some(k) => {
            let options = ClientOptions {
                timeout: Duration::from_secs(k.timeout_seconds),
                ..ClientOptions::default()
            };
            let client = match &k.ca_bundle {
                Some(ca) => KojiClient::with_ca_bundle(k.url.clone(), options, ca)?,
                None => KojiClient::new(k.url.clone(), options),
            };
            let mut source = KojiSource::new(client, KojiPaths::new(&k.topdir));
            source.include_draft_builds = k.include_draft_builds;
            Arc::new(source)
        }
        None => Arc::new(LocalStore::open(&cfg.store_dir())?),
    })
}

/// The database, migrated.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let url = cfg.database_url();
    let store = Store::connect(&url)
        .await
        .with_context(|| format!("opening the database {}", redact_url(&url)))?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// The target directories of the configuration, created and made absolute.
fn target_dirs(cfg: &Config) -> anyhow::Result<TargetDirs> {
    let absolute = |dir: &std::path::Path| -> anyhow::Result<std::path::PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        dir.canonicalize()
            .with_context(|| format!("resolving {}", dir.display()))
    };
    let mut dirs = TargetDirs::single(absolute(&cfg.target_dir())?, cfg.target_dir_url());
    for (name, extra) in &cfg.extra_target_dirs {
        dirs.extra.insert(
            name.clone(),
            TargetDir {
                path: absolute(&extra.dir)?,
                url: extra.url.clone(),
            },
        );
    }
    Ok(dirs)
}

async fn worker_context(
    cfg: &Config,
    store: Store,
    source: Arc<dyn PackageSource + Send>,
    notify: Arc<tokio::sync::Notify>,
) -> anyhow::Result<Arc<WorkerContext>> {
    let host = hostname();
    let caches = Arc::new(CacheDir::open(&cfg.cache_dir())?);
    caches
        .resident
        .set_budget(usize::try_from(cfg.resident_index_mb << 20).unwrap_or(usize::MAX));
    let metrics = Arc::new(crate::worker::WorkerMetrics::default());
    metrics.watch(caches.clone());
    Ok(Arc::new(WorkerContext {
        store,
        source,
        caches,
        target_dirs: target_dirs(cfg)?,
        lease: Duration::from_secs(cfg.lease_seconds.max(3)),
        jobs_queued: notify,
        metrics,
        compose_timeout: Duration::from_secs(cfg.compose_timeout_seconds.max(1)),
        job_attempts: i64::from(cfg.job_attempts.max(1)),
        process_id: format!("{host}-{}", std::process::id()),
        lookaside_limits: crate::source::repo::RepoLimits {
            max_bytes: cfg.lookaside_max_bytes,
            ..Default::default()
        },
        base_modules: cfg.base_module_names.clone(),
        module_defaults_dir: cfg.module_defaults_dir.clone(),
        module_defaults_cache: cfg.cache_dir(),
        mirror_keep: Duration::from_secs(cfg.repo_mirror_keep_hours.saturating_mul(3600)),
        pungi: cfg.pungi.as_ref().map(|p| {
            let raw_configs = Arc::new(crate::compose::pungi::RawConfigs::new(
                cfg.raw_config_urls.clone(),
                cfg.raw_config_urls_file.clone(),
            ));
            let mut command = vec![p.koji.clone()];
            command.extend(p.args.iter().cloned());
            Arc::new(crate::compose::pungi::PungiSetup {
                command,
                timeout: Duration::from_secs(p.timeout_seconds.max(1)),
                raw_configs: raw_configs.clone(),
                config_validate: p.config_validate.clone(),
                mbs_api_url: cfg
                    .mbs
                    .as_ref()
                    .map(|m| format!("{}/1", m.url.trim_end_matches('/'))),
                credentials: cfg.raw_config_credentials.clone(),
            })
        }),
        pulp: match &cfg.pulp {
            Some(p) => Some(Arc::new(crate::source::pulp::PulpClient::new(p)?)),
            None => None,
        },
        arches: cfg.arches.clone(),
    }))
}

/// This host's name: worker ids must differ between hosts sharing one database.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// The outbox sender of this process (one of all processes sends at a
/// time), rendering composes as the API does.
fn spawn_sender(
    cfg: &Config,
    ctx: &Arc<WorkerContext>,
    metrics: Arc<crate::events::EventMetrics>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let dirs = ctx.target_dirs.clone();
    let sender = crate::events::Sender {
        store: ctx.store.clone(),
        cfg: cfg.messaging.clone(),
        render: Arc::new(move |c| crate::api::compose_json(c, &dirs, false)),
        metrics,
        holder: ctx.process_id.clone(),
    };
    tokio::spawn(sender.run(stop.clone()))
}

/// The consumer of bus events, when `[events]` has rules: each rule's
/// compose is checked now as POST checks it, so a mistake stops the start
/// naming the rule.
fn event_listener(
    cfg: &Config,
    ctx: &Arc<WorkerContext>,
    app: &Arc<AppState>,
) -> anyhow::Result<Option<crate::events::listen::Listener>> {
    use crate::events::listen;
    let ev = &cfg.events;
    if ev.rules.is_empty() {
        return Ok(None);
    }
    let url = ev
        .url
        .clone()
        .or_else(|| cfg.messaging.url.clone())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "configuration: [events] rules need a broker: [events] url or [messaging] url"
            )
        })?;
    let mut names = std::collections::HashSet::new();
    for rule in &ev.rules {
        let bad =
            |m: String| anyhow::anyhow!("configuration: [[events.rules]] {:?}: {m}", rule.name);
        if !names.insert(&rule.name) {
            return Err(bad("another rule has this name".into()));
        }
        if rule.on.is_empty() {
            return Err(bad("`on` names no event (tag, untag, module-ready)".into()));
        }
        let module = rule.on.contains(&crate::config::EventKind::ModuleReady);
        if module && rule.module.is_none() {
            return Err(bad(
                "module-ready needs `module` (name or name:stream)".into()
            ));
        }
        if !module && rule.tags.is_empty() {
            return Err(bad("tag and untag need `tags`".into()));
        }
        let example = listen::Event::ModuleReady {
            nsvc: "example:1:1:c".into(),
            nsvca: "example-1-1.c".into(),
        };
        crate::api::event_compose(app, &listen::compose_json(rule, &example), &ev.owner)
            .map_err(|e| bad(format!("compose: {e}")))?;
    }
    let (check, owner) = (app.clone(), ev.owner.clone());
    Ok(Some(listen::Listener {
        store: ctx.store.clone(),
        cfg: ev.clone(),
        url,
        source: ctx.source.clone(),
        make_compose: Arc::new(move |v| crate::api::event_compose(&check, v, &owner)),
        jobs_queued: app.jobs_queued.clone(),
        metrics: app.event_metrics.clone(),
    }))
}

fn spawn_workers(
    ctx: &Arc<WorkerContext>,
    n: usize,
    reaper_interval: u64,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles: Vec<_> = (0..n)
        .map(|i| {
            let id = format!("{}-{i}", ctx.process_id);
            tokio::spawn(ctx.clone().run(id, stop.clone()))
        })
        .collect();
    handles.push(tokio::spawn(
        ctx.clone()
            .reaper(Duration::from_secs(reaper_interval.max(1)), stop.clone()),
    ));
    handles
}

/// Serve the API (and, with the default target URL, the compose trees) on
/// `listener` until `shutdown` resolves.
pub async fn serve(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let source = package_source(&cfg)?;
    serve_with(cfg, source, listener, shutdown).await
}

/// [`serve`] with the package source given rather than configured (tests use
/// it to put faults where a real source could have them).
pub async fn serve_with(
    cfg: Config,
    source: Arc<dyn PackageSource + Send>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listen = listener.local_addr()?.to_string();
    cfg.auth
        .check(&listen)
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    crate::events::check(&cfg.messaging).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let auth = Arc::new(
        crate::auth::Authenticator::new(&cfg.auth, &cfg.cache_dir())
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?,
    );
    let store = open_store(&cfg).await?;
    let notify = Arc::new(tokio::sync::Notify::new());
    let ctx = worker_context(&cfg, store.clone(), source, notify.clone()).await?;
    let app = Arc::new(AppState {
        store: store.clone(),
        target_dirs: ctx.target_dirs.clone(),
        lookaside_allowed: cfg.lookaside_allowed.clone(),
        lifetime: Lifetime {
            default: cfg.seconds_to_live,
            max: cfg.max_seconds_to_live,
        },
        arches: cfg.arches.clone(),
        sigkeys: cfg.sigkeys.clone(),
        base_modules: cfg.base_module_names.clone(),
        raw_configs: ctx
            .pungi
            .as_ref()
            .map(|p| p.raw_configs.clone())
            .unwrap_or_else(|| {
                Arc::new(crate::compose::pungi::RawConfigs::new(
                    cfg.raw_config_urls.clone(),
                    cfg.raw_config_urls_file.clone(),
                ))
            }),
        pungi: cfg.pungi.is_some(),
        pulp: cfg.pulp.is_some(),
        max_body_bytes: cfg.max_body_bytes,
        jobs_queued: notify,
        worker_metrics: ctx.metrics.clone(),
        expected_workers: cfg.expected_workers,
        lease: ctx.lease,
        auth,
        allowed_clients: serde_json::to_value(&cfg.auth.allowed_clients)?,
        event_metrics: Default::default(),
    });
    // the trees are served here when the target URL is this server's /odcs
    let local_url = format!("http://{}/odcs", listener.local_addr()?);
    let serve_dir = (cfg.target_dir_url.is_none() || cfg.target_dir_url() == local_url)
        .then(|| ctx.target_dirs.default.path.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let events = event_listener(&cfg, &ctx, &app)?;
    let mut handles = spawn_workers(&ctx, cfg.workers, cfg.reaper_interval, &stop_rx);
    handles.push(spawn_sender(
        &cfg,
        &ctx,
        app.event_metrics.clone(),
        &stop_rx,
    ));
    if let Some(l) = events {
        handles.push(tokio::spawn(l.run(stop_rx.clone())));
    }
    tracing::info!("odcs serving on http://{}", listener.local_addr()?);
    tracing::info!("auth: {}", app.auth.backend_names());
    let routes = router(app, serve_dir);
    let tls = match cfg.auth.cert.as_ref().filter(|_| {
        cfg.auth
            .backends
            .contains(&crate::config::auth::Backend::Cert)
    }) {
        Some(c) => {
            let tls = crate::auth::cert::server_config(c)
                .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
            let tls_listener = tokio::net::TcpListener::bind(&c.listen)
                .await
                .with_context(|| format!("cannot listen on {} ([auth.cert] listen)", c.listen))?;
            tracing::info!(
                "odcs serving on https://{} (client certificates)",
                tls_listener.local_addr()?
            );
            Some(tokio::spawn(serve_tls(
                tls_listener,
                tokio_rustls::TlsAcceptor::from(tls),
                routes.clone(),
                stop_rx.clone(),
            )))
        }
        None => None,
    };
    axum::serve(
        listener,
        routes.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    if let Some(t) = tls {
        t.abort();
    }
    let _ = stop_tx.send(true);
    for h in handles {
        let _ = h.await;
    }
    store.close().await;
    Ok(())
}

/// The router on TLS connections, each request carrying its peer address
/// and the subject CN of a verified client certificate, until `stop`.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    routes: axum::Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use axum::extract::ConnectInfo;
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("tls: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let (acceptor, routes) = (acceptor.clone(), routes.clone());
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::info!("tls: handshake with {peer} failed: {e}");
                        return;
                    }
                    Err(_) => return,
                };
            let cn = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| crate::auth::cert::subject_cn(leaf));
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    if let Some(cn) = &cn {
                        req.extensions_mut()
                            .insert(crate::api::ClientCn(cn.clone()));
                    }
                    let mut routes = routes.clone();
                    async move { tower::Service::call(&mut routes, req).await }
                },
            );
            let io = hyper_util::rt::TokioIo::new(tls);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!("tls: connection from {peer}: {e}");
            }
        });
    }
}

/// Workers only (no API), for more hosts sharing one database and target dir.
pub async fn work(
    cfg: Config,
    workers: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    crate::events::check(&cfg.messaging).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let store = open_store(&cfg).await?;
    let ctx = worker_context(
        &cfg,
        store.clone(),
        package_source(&cfg)?,
        Arc::new(tokio::sync::Notify::new()),
    )
    .await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut handles = spawn_workers(&ctx, workers.max(1), cfg.reaper_interval, &stop_rx);
    handles.push(spawn_sender(&cfg, &ctx, Default::default(), &stop_rx));
    shutdown.await;
    let _ = stop_tx.send(true);
    for h in handles {
        let _ = h.await;
    }
    store.close().await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
