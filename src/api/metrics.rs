//! `GET /api/1/metrics/`: the original's Prometheus series (odcs-api.md §10)
//! from the database, and this process's worker figures.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, cors};
use crate::domain::SourceType;
use crate::store::{ComposeState, JobKind};

pub(super) async fn metrics(State(app): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let text = render_metrics(&app).await?;
    Ok(cors(
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
    ))
}

/// The metrics of odcs-api.md §10 under the original's names, so dashboards
/// and alerts built on them keep working, plus ours (`odcs_*`). The
/// `celery_*` gauges describe our database queue and workers: a queue per job
/// kind (`pungi_composes` for generate jobs, `cleanup` for removals, the
/// original's default queue names), every worker consuming both, and a worker
/// alive while its heartbeats (each poll and lease renewal) are recent.
async fn render_metrics(app: &AppState) -> Result<String, ApiError> {
    use std::fmt::Write;
    fn head(out: &mut String, name: &str, kind: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    let mut out = String::new();
    // a worker heartbeats at least every third of its lease while working
    // and every few seconds while idle
    let alive_ms = i64::try_from(app.lease.as_millis())
        .unwrap_or(i64::MAX / 2)
        .max(15_000)
        + 5_000;
    let presence = app.store.worker_presence(alive_ms, 86_400_000).await?;
    head(
        &mut out,
        "celery_workers_expected",
        "gauge",
        "Number of expected workers",
    );
    let _ = writeln!(out, "celery_workers_expected {}", app.expected_workers);
    head(
        &mut out,
        "celery_workers_totals",
        "gauge",
        "Number of alive workers",
    );
    let _ = writeln!(out, "celery_workers_totals {}", presence.alive());
    head(
        &mut out,
        "celery_workers",
        "gauge",
        "Number of alive workers",
    );
    for (name, alive) in &presence.workers {
        let _ = writeln!(
            out,
            "celery_workers{{worker_name=\"{}\"}} {}",
            label_value(name),
            u8::from(*alive)
        );
    }
    let queued = app.store.queued_job_counts().await?;
    head(
        &mut out,
        "celery_queue_length",
        "gauge",
        "Number of tasks in the queue.",
    );
    for (kind, n) in &queued {
        let _ = writeln!(
            out,
            "celery_queue_length{{queue_name=\"{}\"}} {n}",
            queue_name(*kind)
        );
    }
    head(
        &mut out,
        "celery_queue_worker",
        "gauge",
        "Number of workers consume tasks from the queue.",
    );
    for (kind, _) in &queued {
        let _ = writeln!(
            out,
            "celery_queue_worker{{queue_name=\"{}\"}} {}",
            queue_name(*kind),
            presence.alive()
        );
    }

    // every source type × state, zeros included
    head(
        &mut out,
        "composes_total",
        "gauge",
        "Total number of composes",
    );
    let counts = app.store.count_composes_by_type_and_state().await?;
    for source_type in SourceType::ALL {
        let (type_name, type_code) = (source_type.name(), source_type.code());
        for s in ComposeState::ALL {
            let n = counts
                .iter()
                .find(|(t, st, _)| *t == type_code && *st == s as i64)
                .map_or(0, |c| c.2);
            let _ = writeln!(
                out,
                "composes_total{{source_type=\"{type_name}\",state=\"{}\"}} {n}",
                s.name()
            );
        }
    }

    // raw_config composes per source, as the original exposes them
    let raw = app
        .store
        .count_composes_by_source_and_state(SourceType::RawConfig.code())
        .await?;
    let mut per_source: std::collections::BTreeMap<&str, u64> = Default::default();
    for (source, _, n) in &raw {
        *per_source.entry(source).or_default() += n;
    }
    // sources with fewer than 5 composes are summed per config name
    let mut counted: std::collections::BTreeMap<String, u64> = Default::default();
    for (source, n) in per_source {
        let key = if n < 5 {
            let name = source.split('#').next().unwrap_or(source);
            format!("{name}#other_commits_or_branches")
        } else {
            source.to_owned()
        };
        *counted.entry(key).or_default() += n;
    }
    head(
        &mut out,
        "raw_config_composes_count_total",
        "counter",
        "Total number of raw_config composes per source",
    );
    for (source, n) in &counted {
        let _ = writeln!(
            out,
            "raw_config_composes_count_total{{source=\"{}\"}} {n}",
            label_value(source)
        );
    }
    head(
        &mut out,
        "raw_config_composes",
        "gauge",
        "Count of raw config composes broken down by state. Removed composes are not counted.",
    );
    for (source, state, n) in &raw {
        let Some(s) = ComposeState::ALL.iter().find(|s| **s as i64 == *state) else {
            continue;
        };
        if *s == ComposeState::Removed {
            continue;
        }
        let _ = writeln!(
            out,
            "raw_config_composes{{source=\"{}\",state=\"{}\"}} {n}",
            label_value(source),
            s.name()
        );
    }

    let live = app.store.live_job_count().await?;
    head(
        &mut out,
        "odcs_jobs_queued",
        "gauge",
        "Jobs waiting for or held by a worker",
    );
    let _ = writeln!(out, "odcs_jobs_queued {live}");
    out.push_str(&app.worker_metrics.render());

    // the outbox of state-change messages (src/events)
    let (waiting, oldest_ms) = app.store.outbox_waiting().await?;
    head(
        &mut out,
        "odcs_messages_waiting",
        "gauge",
        "State-change messages in the outbox, not yet confirmed by the broker",
    );
    let _ = writeln!(out, "odcs_messages_waiting {waiting}");
    head(
        &mut out,
        "odcs_messages_oldest_waiting_seconds",
        "gauge",
        "How long the oldest message in the outbox has waited",
    );
    let _ = writeln!(
        out,
        "odcs_messages_oldest_waiting_seconds {:.3}",
        oldest_ms.unwrap_or(0).max(0) as f64 / 1000.0
    );
    let m = &app.event_metrics;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    for (name, help, value) in [
        (
            "odcs_messages_published_total",
            "State-change messages this process published (confirmed by the broker, or logged)",
            get(&m.published),
        ),
        (
            "odcs_messages_failed_total",
            "Attempts of this process to publish a message that failed",
            get(&m.failed),
        ),
        (
            "odcs_messages_retried_total",
            "Messages this process published after a failed attempt",
            get(&m.retried),
        ),
        (
            "odcs_events_consumed_total",
            "Bus messages this process consumed ([events])",
            get(&m.consumed),
        ),
        (
            "odcs_events_composes_total",
            "Composes that bus events caused",
            get(&m.composes_caused),
        ),
        (
            "odcs_events_unchanged_total",
            "Rule decisions not to compose: the input was unchanged",
            get(&m.unchanged),
        ),
        (
            "odcs_events_refused_total",
            "Rule decisions not to compose: refused by the policy (or an invalid request)",
            get(&m.refused),
        ),
    ] {
        head(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    head(
        &mut out,
        "odcs_message_delay_seconds",
        "summary",
        "From a state change to the broker's confirmation of its message",
    );
    let _ = writeln!(
        out,
        "odcs_message_delay_seconds_sum {:.3}\nodcs_message_delay_seconds_count {}",
        get(&m.delay_ms_sum) as f64 / 1000.0,
        get(&m.delay_count)
    );
    Ok(out)
}

fn queue_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Generate => "pungi_composes",
        JobKind::Remove => "cleanup",
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
