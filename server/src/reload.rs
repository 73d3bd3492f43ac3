//! Hot reload: watches the fixture paths and swaps in a new set when it loads cleanly.
//!
//! An invalid edit keeps the last good set and says why (log + `mockmodel_fixture_reloads_total
//! {result="error"}`). Works on mounted ConfigMaps, whose kubelet update is an atomic `..data` swap.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::fixture::load_paths;
use crate::state::SharedState;

/// Quiet period before reloading, so an editor's burst of writes becomes one reload.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Reloads the fixtures from `paths` now; returns whether the new set was taken.
pub fn reload_now(state: &SharedState, paths: &[PathBuf]) -> bool {
    match load_paths(paths) {
        Ok(set) => {
            tracing::info!(fixtures = set.len(), files = set.files.len(), "fixtures reloaded");
            for w in &set.warnings {
                tracing::warn!("{w}");
            }
            state.replace_fixtures(set);
            state.metrics.reloads.with_label_values(&["ok"]).inc();
            true
        }
        Err(e) => {
            tracing::error!("fixture reload rejected, still serving the last good fixtures: {e}");
            state.metrics.reloads.with_label_values(&["error"]).inc();
            false
        }
    }
}

/// Starts watching; the returned watcher must be kept alive for as long as reloading should work.
pub fn watch(state: SharedState, paths: Vec<PathBuf>) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })?;
    for p in &paths {
        // A file is watched through its directory: editors and kubelet replace files by rename,
        // which would silently end a watch on the file itself.
        match p.parent().filter(|_| p.is_file()) {
            Some(dir) => watcher.watch(
                if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                },
                RecursiveMode::NonRecursive,
            )?,
            None => watcher.watch(p, RecursiveMode::Recursive)?,
        }
    }
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Drain the burst, then reload once.
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            reload_now(&state, &paths);
        }
    });
    Ok(watcher)
}
