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
        out
    }
}
