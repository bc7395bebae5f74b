//! The status readout: drives and backlog per namespace (read through a
//! short cache, since sensing scans every exchange), the running pass, the
//! last one, the next scheduled time.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Dream, drives};
use crate::config::DreamConfig;
use crate::cron as schedule;
use crate::store::DreamBacklog;

/// How long status reuses its reading of the drives.
const STATUS_TTL: Duration = Duration::from_secs(2);

impl Dream {
    /// Status: drives and backlog per namespace (at most 16), the running
    /// pass, the last one, the next scheduled time.
    pub async fn status(&self) -> Value {
        let cfg = self.cfg();
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let cached = self
            .status_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|(at, g, _)| *g == generation && at.elapsed() < STATUS_TTL);
        let reading = match cached {
            Some((_, _, v)) => v,
            None => {
                let v = self.read_drives(&cfg).await;
                *self.status_cache.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), generation, v.clone()));
                v
            }
        };
        let next = if cfg.enabled {
            schedule::next_after(&cfg.schedule, &cfg.timezone, chrono::Utc::now())
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        } else {
            None
        };
        json!({
            "enabled": cfg.enabled,
            "provider": self.provider.name(),
            "schedule": cfg.schedule,
            "timezone": cfg.timezone,
            "idle_after_s": cfg.idle_after_s,
            "running": self.running.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            "last_run": self.last_run.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            "next_scheduled": next,
            "namespaces": reading["namespaces"],
            "drives": reading["drives"],
            "backlog": reading["backlog"],
        })
    }

    /// Drives and backlog of the first 16 namespaces.
    async fn read_drives(&self, cfg: &DreamConfig) -> Value {
        let namespaces = self.store.dream_namespaces().await.unwrap_or_default();
        let mut drives = serde_json::Map::new();
        let mut backlogs = serde_json::Map::new();
        for ns in namespaces.iter().take(16) {
            if let Ok(b) = self.sense(ns, cfg).await {
                drives.insert(
                    ns.clone(),
                    serde_json::to_value(drives::levels(&b)).unwrap_or(Value::Null),
                );
                backlogs.insert(ns.clone(), serde_json::to_value(&b).unwrap_or(Value::Null));
            }
        }
        json!({"namespaces": namespaces.len(), "drives": drives, "backlog": backlogs})
    }
}
