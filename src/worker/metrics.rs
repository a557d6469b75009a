//! What this process's workers did, for `/api/1/metrics/`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Time spent per compose phase, and composes finished and failed.
#[derive(Default)]
pub struct WorkerMetrics {
    phases: Mutex<BTreeMap<&'static str, (f64, u64)>>,
    done: AtomicU64,
    failed: AtomicU64,
    /// The caches of the workers, whose resident index the metrics show.
    caches: std::sync::OnceLock<std::sync::Arc<crate::compose::createrepo::CacheDir>>,
}

impl WorkerMetrics {
    pub(super) fn record(&self, timings: &[(&'static str, Duration)]) {
        if let Ok(mut p) = self.phases.lock() {
            for (name, d) in timings {
                let e = p.entry(name).or_insert((0.0, 0));
                e.0 += d.as_secs_f64();
                e.1 += 1;
            }
        }
        self.done.fetch_add(1, Relaxed);
    }

    pub(super) fn failed(&self) {
        self.failed.fetch_add(1, Relaxed);
    }

    /// Show the resident index of these caches in the metrics.
    pub fn watch(&self, caches: std::sync::Arc<crate::compose::createrepo::CacheDir>) {
        let _ = self.caches.set(caches);
    }

    /// Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP odcs_compose_phase_seconds Time spent in each compose phase by this process's workers\n# TYPE odcs_compose_phase_seconds summary\n",
        );
        if let Ok(p) = self.phases.lock() {
            for (name, (sum, count)) in p.iter() {
                out.push_str(&format!(
                    "odcs_compose_phase_seconds_sum{{phase=\"{name}\"}} {sum:.6}\n"
                ));
                out.push_str(&format!(
                    "odcs_compose_phase_seconds_count{{phase=\"{name}\"}} {count}\n"
                ));
            }
        }
        out.push_str(&format!(
            "# HELP odcs_composes_generated_total Composes this process's workers finished\n# TYPE odcs_composes_generated_total counter\nodcs_composes_generated_total {}\n",
            self.done.load(Relaxed)
        ));
        out.push_str(&format!(
            "# HELP odcs_compose_errors_total Composes this process's workers failed\n# TYPE odcs_compose_errors_total counter\nodcs_compose_errors_total {}\n",
            self.failed.load(Relaxed)
        ));
        out.push_str(&format!(
            "# HELP odcs_rpm_files_read_total RPM files this process read whole (hashed, digests checked)\n# TYPE odcs_rpm_files_read_total counter\nodcs_rpm_files_read_total {}\n",
            crate::rpm::FILES_READ.load(Relaxed)
        ));
        out.push_str(&format!(
            "# HELP odcs_rpm_headers_read_total RPM files this process read only to the end of their headers\n# TYPE odcs_rpm_headers_read_total counter\nodcs_rpm_headers_read_total {}\n",
            crate::rpm::HEADERS_READ.load(Relaxed)
        ));
        if let Some(c) = self.caches.get() {
            out.push_str(&c.resident.render_metrics());
        }
        out
    }
}
