//! Asynchronous invocations in flight and done (Bedrock's StartAsyncInvoke), bounded: the oldest
//! finished job makes room for a new one, so a long-running server's memory stays flat.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::Value;

/// Jobs kept; past this the oldest finished job (else the oldest) is forgotten.
pub const MAX_JOBS: usize = 1000;

/// A job's state, named as `AsyncInvokeStatus` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Still running.
    InProgress,
    /// The output was written.
    Completed,
    /// The model or the store failed; `failure` says why.
    Failed,
}

impl Status {
    /// The service model's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "InProgress",
            Status::Completed => "Completed",
            Status::Failed => "Failed",
        }
    }
}

/// One invocation.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id (the ARN's last segment).
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// The model's ARN.
    pub model_arn: String,
    /// The caller's idempotency token.
    pub token: Option<String>,
    /// What the request asked for, to tell a retry (same token, same request) from a conflict.
    pub request: Value,
    /// Where the output goes, echoed as the request gave it (`outputDataConfig`).
    pub output: Value,
    /// Its state.
    pub status: Status,
    /// Why it failed.
    pub failure: Option<String>,
    /// When it was submitted.
    pub submitted: SystemTime,
    /// When it last changed.
    pub modified: SystemTime,
    /// When it finished.
    pub ended: Option<SystemTime>,
}

/// The jobs, oldest first.
#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<VecDeque<Job>>,
}

/// What [`Jobs::start`] did.
#[derive(Debug)]
pub enum Started {
    /// A new job was recorded.
    New,
    /// The token named an earlier identical request: its job.
    Existing(Box<Job>),
    /// The token named an earlier request that differs.
    Conflict,
}

impl Jobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        // A panic elsewhere while holding the lock leaves consistent data: keep serving it.
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `job` unless its token was used before (then the earlier job, or a conflict).
    pub fn start(&self, job: Job) -> Started {
        let mut jobs = self.lock();
        if let Some(token) = &job.token
            && let Some(old) = jobs.iter().find(|j| j.token.as_ref() == Some(token))
        {
            return if old.request == job.request {
                Started::Existing(Box::new(old.clone()))
            } else {
                Started::Conflict
            };
        }
        if jobs.len() >= MAX_JOBS {
            let victim = jobs
                .iter()
                .position(|j| j.status != Status::InProgress)
                .unwrap_or(0);
            jobs.remove(victim);
        }
        jobs.push_back(job);
        Started::New
    }

    /// The job with this ARN.
    pub fn get(&self, arn: &str) -> Option<Job> {
        self.lock().iter().find(|j| j.arn == arn).cloned()
    }

    /// Every job, oldest first.
    pub fn all(&self) -> Vec<Job> {
        self.lock().iter().cloned().collect()
    }

    /// Marks a job finished: completed, or failed with a message.
    pub fn finish(&self, id: &str, failure: Option<String>) {
        let mut jobs = self.lock();
        if let Some(j) = jobs.iter_mut().find(|j| j.id == id) {
            let now = SystemTime::now();
            j.status = if failure.is_some() {
                Status::Failed
            } else {
                Status::Completed
            };
            j.failure = failure;
            j.modified = now;
            j.ended = Some(now);
        }
    }

    /// Forgets every job (`/__mockmodel/reset`).
    pub fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(id: &str, token: Option<&str>, request: Value) -> Job {
        let now = SystemTime::now();
        Job {
            id: id.into(),
            arn: format!("arn:{id}"),
            model_arn: "m".into(),
            token: token.map(str::to_string),
            request,
            output: json!({}),
            status: Status::InProgress,
            failure: None,
            submitted: now,
            modified: now,
            ended: None,
        }
    }

    #[test]
    fn a_token_returns_the_same_job_for_the_same_request_and_conflicts_otherwise() {
        let jobs = Jobs::default();
        assert!(matches!(jobs.start(job("a", Some("t"), json!(1))), Started::New));
        assert!(matches!(jobs.start(job("b", Some("t"), json!(1))), Started::Existing(j) if j.id == "a"));
        assert!(matches!(
            jobs.start(job("c", Some("t"), json!(2))),
            Started::Conflict
        ));
        jobs.finish("a", Some("boom".into()));
        let a = jobs.get("arn:a").unwrap();
        assert_eq!((a.status, a.failure.as_deref()), (Status::Failed, Some("boom")));
        assert!(a.ended.is_some());
    }

    #[test]
    fn the_oldest_finished_job_makes_room() {
        let jobs = Jobs::default();
        for i in 0..MAX_JOBS {
            jobs.start(job(&i.to_string(), None, json!(i)));
        }
        jobs.finish("5", None);
        jobs.start(job("new", None, json!("new")));
        assert_eq!(jobs.all().len(), MAX_JOBS);
        assert!(jobs.get("arn:5").is_none());
        assert!(jobs.get("arn:0").is_some() && jobs.get("arn:new").is_some());
    }
}
