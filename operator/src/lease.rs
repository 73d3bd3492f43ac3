//! Leader election through a `coordination.k8s.io/v1` Lease, so two operator replicas never
//! reconcile at once. Optimistic concurrency (`replace` with the read `resourceVersion`) makes
//! each acquire or renew atomic: of two racing replicas, one gets a 409 and stays standby.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a lease is valid without renewal.
    pub duration: Duration,
}

impl LeaseConfig {
    /// How often the holder renews (a third of the duration).
    pub fn renew_every(&self) -> Duration {
        self.duration / 3
    }
}

/// Acquires, renews and releases the Lease.
#[derive(Clone)]
pub struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
}

/// Whether a lease held by `holder`, renewed at `renew` for `secs`, is free for `me` at `now`.
pub fn can_take(holder: Option<&str>, renew: Option<Timestamp>, secs: i32, me: &str, now: Timestamp) -> bool {
    match (holder.filter(|h| !h.is_empty()), renew) {
        (None, _) | (_, None) => true,
        (Some(h), _) if h == me => true,
        (Some(_), Some(renewed)) => renewed + SignedDuration::from_secs(i64::from(secs)) < now,
    }
}

impl Elector {
    /// An elector for `cfg`.
    pub fn new(client: Client, cfg: LeaseConfig) -> Self {
        Elector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
        }
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.cfg.identity
    }

    fn spec(&self, now: Timestamp, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.cfg.duration.as_secs()).unwrap_or(i32::MAX)),
            acquire_time: Some(acquired.unwrap_or(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One attempt to acquire or renew; `Ok(true)` while this replica is the leader.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, None, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let old = lease.spec.clone().unwrap_or_default();
        let holder = old.holder_identity.as_deref();
        let renew = old.renew_time.as_ref().map(|t| t.0);
        if !can_take(
            holder,
            renew,
            old.lease_duration_seconds.unwrap_or(15),
            &self.cfg.identity,
            now,
        ) {
            return Ok(false);
        }
        let mine = holder == Some(self.cfg.identity.as_str());
        let transitions = old.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let acquired = if mine { old.acquire_time.clone() } else { None };
        lease.spec = Some(self.spec(now, acquired, transitions));
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Polls until this replica is the leader, or `stop` resolves first (`false`).
    pub async fn acquire(&self, stop: &mut (impl std::future::Future<Output = ()> + Unpin)) -> bool {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return true,
                Ok(false) => {
                    tracing::debug!(identity = %self.cfg.identity, "lease held by another replica; standing by")
                }
                Err(e) => tracing::warn!(error = %e, "lease acquire failed"),
            }
            tokio::select! {
                _ = &mut *stop => return false,
                _ = tokio::time::sleep(self.cfg.renew_every()) => {}
            }
        }
    }

    /// Renews until a renewal has failed for a whole lease duration; returns when leadership is lost.
    pub async fn hold(&self) {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.cfg.renew_every()).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => return,
                Err(e) => tracing::warn!(error = %e, "lease renew failed"),
            }
            if last_ok.elapsed() >= self.cfg.duration {
                return;
            }
        }
    }

    /// Gives the lease up (on graceful shutdown) so a standby takes over at once.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        if let Err(e) = self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(error = %e, "lease release failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).expect("timestamp")
    }

    #[test]
    fn a_fresh_lease_of_another_holder_cannot_be_taken() {
        assert!(!can_take(Some("a"), Some(t(100)), 15, "b", t(110)));
    }

    #[test]
    fn an_expired_empty_or_own_lease_can_be_taken() {
        assert!(can_take(Some("a"), Some(t(100)), 15, "b", t(116)));
        assert!(can_take(None, Some(t(100)), 15, "b", t(101)));
        assert!(can_take(Some(""), None, 15, "b", t(101)));
        assert!(can_take(Some("b"), Some(t(100)), 15, "b", t(101)));
    }
}
