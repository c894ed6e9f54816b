//! The writer thread: it alone owns the [`Ledger`] (the exclusive lock, the log, the views'
//! writer). Requests reach it through a bounded channel of [`Job`]s. Appends waiting
//! together are committed as one group (one durable commit), each request's batch still
//! all or nothing. After each commit it publishes the new committed state (a view reader,
//! the head and, for a directory log, a read-only handle of the log at that head) for
//! queries, which therefore never wait for it: the views' answers, and the reads of the log
//! (history hashes, proofs, export, catch-up of subscriptions, verify's log phase) on the
//! published handle. It then broadcasts the committed envelopes to live subscribers. Only
//! reads that need the views to hold still (verify's views phase) or a log shared with other
//! nodes run on the writer thread between commits.

use crate::error::ApiError;
use arl_domain::{InputEvent, Timestamp};
use arl_log::{Envelope, Head, Log, Outcome};
use arl_privacy::KeyHome;
use arl_views::{AppendFailure, AppendOptions, FailureKind, Ledger, ViewReader};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Jobs waiting for the writer at most (then requests wait to enqueue: back-pressure).
pub const WRITER_QUEUE_MAX: usize = 1024;
/// Committed groups a live subscriber may lag behind before it catches up from the log.
pub const BROADCAST_GROUPS_MAX: usize = 256;

/// One request's batch.
pub struct AppendJob {
    /// The parsed events (their actor already set to the token's name).
    pub events: Vec<InputEvent>,
    /// The input line of each event (1-based).
    pub lines: Vec<u64>,
    /// Lines carry `recorded_at` (committed alone, never grouped).
    pub imported: bool,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Result<AppendAnswer, ApiError>>,
}

/// What an append did, for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendAnswer {
    pub appended: u64,
    pub duplicates: u64,
    /// One per input event: its seq and whether it was a duplicate.
    pub outcomes: Vec<Outcome>,
    /// The head after the commit that carried the batch.
    pub head: Head,
    /// Requests committed together in that commit.
    pub group_requests: usize,
}

/// A read of the ledger, run on the writer thread between commits.
pub type ReadJob = Box<dyn FnOnce(&Ledger) + Send>;

/// A write of the ledger other than an append of input (an erasure's audit event), run on
/// the writer thread between commits; what it commits is published after it.
pub type WriteJob = Box<dyn FnOnce(&mut Ledger) + Send>;

/// Work for the writer.
pub enum Job {
    Append(AppendJob),
    Read(ReadJob),
    Write(WriteJob),
    /// Read the shared log's head again and catch the views up to what other nodes
    /// appended (sent by the follower thread).
    Sync,
    /// Commit what came before, then stop (jobs queued after it fail with 503).
    Stop,
}

/// Envelopes of one commit, for live subscribers.
#[derive(Debug)]
pub struct Committed {
    pub envelopes: Vec<Envelope>,
}

/// The committed state queries read.
#[derive(Clone)]
pub struct Published {
    pub reader: Arc<ViewReader>,
    pub head: Head,
    /// The log at `head`, opened read-only by the writer between commits (so no commit is
    /// in flight while it opens); `None` for a log in a shared store, whose reads go to the
    /// writer thread. A [`Log`] reads through one handle at a time, hence the mutex.
    pub log: Option<Arc<Mutex<Log>>>,
    /// The key store of a directory ledger opened after the commit: only this process's
    /// writer changes it (an erasure is a commit), so it holds until the next publish.
    /// `None` for keys shared with other nodes, opened per answer.
    pub unsealer: Option<Arc<arl_privacy::Unsealer>>,
    /// What questions of one account read of `reader`, kept until the next publish: with
    /// personal fields opened by `unsealer`, and as stored.
    pub subsets: Arc<Subsets>,
}

/// The subset caches of one published state.
#[derive(Default)]
pub struct Subsets {
    /// Read through `Published::unsealer` (only when it is `Some`).
    pub opened: arl_fold::SubsetCache,
    /// Read as stored.
    pub stored: arl_fold::SubsetCache,
}

/// What the writer shares with the request handlers.
pub struct Shared {
    published: RwLock<Published>,
    /// The seq of the published head, for requests waiting for it (`min_seq`).
    applied: tokio::sync::watch::Sender<u64>,
    /// A `Job::Sync` is queued and not yet taken (the follower sends no second one).
    sync_queued: std::sync::atomic::AtomicBool,
    /// Commits made and requests they carried (for /metrics).
    pub commits: std::sync::atomic::AtomicU64,
    pub committed_requests: std::sync::atomic::AtomicU64,
    pub committed_events: std::sync::atomic::AtomicU64,
    /// 1 while the writer appends a group (validates, writes and commits it), else 0.
    pub busy: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// The last committed state.
    pub fn published(&self) -> Published {
        self.published
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Follows the seq of the published head.
    pub fn applied(&self) -> tokio::sync::watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Publishes the state first, then its seq: a request woken by the seq (`min_seq`)
    /// must find the state it waited for.
    fn publish(&self, published: Published) {
        let seq = published.head.seq;
        *self
            .published
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = published;
        self.applied.send_replace(seq);
    }
}

/// The handle requests use to reach the writer.
#[derive(Clone)]
pub struct WriterHandle {
    jobs: mpsc::Sender<Job>,
    pub shared: Arc<Shared>,
    pub committed: broadcast::Sender<Arc<Committed>>,
}

impl WriterHandle {
    /// Queues a batch and waits for its answer.
    pub async fn append(
        &self,
        events: Vec<InputEvent>,
        lines: Vec<u64>,
        imported: bool,
    ) -> Result<AppendAnswer, ApiError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Append(AppendJob {
            events,
            lines,
            imported,
            reply,
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| ApiError::writer_gone())?;
        answer.await.map_err(|_| ApiError::writer_gone())?
    }

    /// Asks the writer to catch up with the shared log, unless that is already queued;
    /// `false` once the writer is gone.
    pub fn request_sync(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        if self.jobs.is_closed() {
            return false;
        }
        if self.shared.sync_queued.swap(true, SeqCst) {
            return true;
        }
        if self.jobs.try_send(Job::Sync).is_err() {
            // A full queue: the writer is busy; the follower asks again on its next tick.
            self.shared.sync_queued.store(false, SeqCst);
        }
        !self.jobs.is_closed()
    }

    /// Runs `write` on the writer thread (between commits), publishes what it committed,
    /// and returns its result.
    pub async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&mut Ledger) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        let job: WriteJob = Box::new(move |ledger| {
            // The requester may have gone; the write stands either way.
            let _ = reply.send(write(ledger));
        });
        self.jobs
            .send(Job::Write(job))
            .await
            .map_err(|_| ApiError::writer_gone())?;
        answer.await.map_err(|_| ApiError::writer_gone())
    }

    /// Asks the writer to stop once what is queued before this is done.
    pub async fn stop(&self) {
        let _ = self.jobs.send(Job::Stop).await;
    }

    /// Runs `read` on the committed log and views published last, on a blocking thread,
    /// without waiting for the writer; on the writer thread (between commits) when there is
    /// no published log (a shared store).
    pub async fn read_log<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Log, &ViewReader) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let published = self.shared.published();
        let Some(log) = published.log else {
            return self
                .read(move |ledger| match ledger.reader() {
                    Ok(views) => Ok(read(ledger.log(), &views)),
                    Err(e) => Err(ApiError::internal(e.to_string())),
                })
                .await?;
        };
        let views = published.reader;
        tokio::task::spawn_blocking(move || {
            let log = log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            read(&log, &views)
        })
        .await
        .map_err(|e| ApiError::internal(format!("the read's thread failed: {e}")))
    }

    /// Runs `read` on the writer thread (between commits) and returns its result.
    pub async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Ledger) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |ledger| {
            let _ = reply.send(read(ledger));
        });
        self.jobs
            .send(Job::Read(job))
            .await
            .map_err(|_| ApiError::writer_gone())?;
        answer.await.map_err(|_| ApiError::writer_gone())
    }
}

/// Starts the writer thread over `ledger`; it stops when every handle is dropped and the
/// queue is empty. `group_events_max` bounds the events of one group commit.
pub fn start(
    ledger: Ledger,
    keys: KeyHome,
    group_events_max: usize,
    log_dir: Option<PathBuf>,
) -> Result<(WriterHandle, std::thread::JoinHandle<()>), ApiError> {
    let published = Published {
        log: read_log(ledger.log(), log_dir.as_deref()),
        unsealer: dir_unsealer(&keys),
        reader: Arc::new(
            ledger
                .reader()
                .map_err(|e| ApiError::internal(e.to_string()))?,
        ),
        head: ledger.log().head(),
        subsets: Default::default(),
    };
    let (applied, _) = tokio::sync::watch::channel(published.head.seq);
    let shared = Arc::new(Shared {
        published: RwLock::new(published),
        applied,
        sync_queued: Default::default(),
        commits: Default::default(),
        committed_requests: Default::default(),
        committed_events: Default::default(),
        busy: Default::default(),
    });
    let (jobs, receiver) = mpsc::channel(WRITER_QUEUE_MAX);
    let (committed, _) = broadcast::channel(BROADCAST_GROUPS_MAX);
    let handle = WriterHandle {
        jobs,
        shared: shared.clone(),
        committed: committed.clone(),
    };
    let mut writer = Writer {
        ledger,
        keys,
        shared,
        committed,
        group_events_max: group_events_max.max(1),
        log_dir,
    };
    let thread = std::thread::Builder::new()
        .name("arl-writer".into())
        .spawn(move || writer.run(receiver))
        .map_err(|e| ApiError::internal(format!("starting the writer thread: {e}")))?;
    Ok((handle, thread))
}

struct Writer {
    ledger: Ledger,
    /// The ledger's keys: each request's batch is sealed with them before it is planned.
    keys: KeyHome,
    shared: Arc<Shared>,
    committed: broadcast::Sender<Arc<Committed>>,
    group_events_max: usize,
    /// The directory of a directory log, which queries read through handles of their own.
    log_dir: Option<PathBuf>,
}

/// A read-only handle of the directory log in `dir`, at its committed head: a reader of
/// `log` sharing its files ([`Log::reader`]), else the log opened again. Called on the
/// writer thread between commits only: opening a directory log cuts frames written past the
/// committed head, which a commit in flight has.
fn read_log(log: &Log, dir: Option<&std::path::Path>) -> Option<Arc<Mutex<Log>>> {
    let dir = dir?;
    if let Some(reader) = log.reader() {
        return Some(Arc::new(Mutex::new(reader)));
    }
    match Log::open(dir) {
        Ok(log) => Some(Arc::new(Mutex::new(log))),
        Err(e) => {
            tracing::error!(error = %e, "opening the log for queries failed; they read it on the writer thread");
            None
        }
    }
}

/// The unsealer of a directory's key store, opened now; `None` for shared keys (or when it
/// does not open: answers then open it themselves and report the error).
fn dir_unsealer(keys: &KeyHome) -> Option<Arc<arl_privacy::Unsealer>> {
    match keys {
        KeyHome::Dir(_) => keys.unsealer().ok().map(Arc::new),
        KeyHome::Shared(_) => None,
    }
}

impl Writer {
    fn run(&mut self, mut receiver: mpsc::Receiver<Job>) {
        while let Some(first) = receiver.blocking_recv() {
            let mut group: Vec<AppendJob> = Vec::new();
            let mut group_events = 0usize;
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Append(append) if !append.imported => {
                        if group_events + append.events.len() > self.group_events_max
                            && !group.is_empty()
                        {
                            self.commit_group(std::mem::take(&mut group));
                            group_events = 0;
                        }
                        group_events += append.events.len();
                        group.push(append);
                    }
                    Job::Append(alone) => {
                        self.commit_group(std::mem::take(&mut group));
                        group_events = 0;
                        self.commit_group(vec![alone]);
                    }
                    Job::Read(read) => {
                        self.commit_group(std::mem::take(&mut group));
                        group_events = 0;
                        read(&self.ledger);
                    }
                    Job::Write(write) => {
                        self.commit_group(std::mem::take(&mut group));
                        group_events = 0;
                        let before = self.ledger.log().head().seq;
                        write(&mut self.ledger);
                        self.after_commit(before);
                    }
                    Job::Sync => {
                        self.commit_group(std::mem::take(&mut group));
                        group_events = 0;
                        self.sync();
                    }
                    Job::Stop => {
                        self.commit_group(std::mem::take(&mut group));
                        return;
                    }
                }
                // Take what else is waiting now, without waiting for more.
                next = receiver.try_recv().ok();
            }
            self.commit_group(group);
        }
    }

    /// Commits the batches of `group` in one append. A batch that breaks a rule is answered
    /// with its error and taken out, and the rest is tried again, so each batch is all or
    /// nothing and its fate never depends on another's.
    fn commit_group(&mut self, group: Vec<AppendJob>) {
        let mut kept = Vec::with_capacity(group.len());
        for mut job in group {
            // Sealed as `arl append` seals, each request's batch on its own: a refusal
            // answers that request only.
            let sealed =
                arl_query::privacy::seal_batch(&self.keys, self.ledger.log(), &mut job.events);
            match sealed {
                Ok(()) => kept.push(job),
                Err(e) => {
                    let error = crate::error::ApiError::seal(&e, &job.lines);
                    let _ = job.reply.send(Err(error));
                }
            }
        }
        let mut group = kept;
        while !group.is_empty() {
            let imported = group[0].imported;
            debug_assert!(!imported || group.len() == 1);
            let combined: Vec<InputEvent> = group
                .iter()
                .flat_map(|j| j.events.iter().cloned())
                .collect();
            let opts = AppendOptions {
                imported,
                actor: "unknown".to_string(),
                now: Timestamp::now(),
            };
            let before = self.ledger.log().head().seq;
            self.shared
                .busy
                .store(1, std::sync::atomic::Ordering::SeqCst);
            let appended = self.ledger.append(combined, &opts);
            self.shared
                .busy
                .store(0, std::sync::atomic::Ordering::SeqCst);
            match appended {
                Ok(report) => {
                    // Published (and broadcast) before anyone is answered: a client that
                    // reads after its append's answer sees the append.
                    self.after_commit(before);
                    self.answer_group(group, &report.outcomes, report.head);
                    return;
                }
                Err(failure) => match self.blame(&group, &failure) {
                    Some((at, local)) => {
                        let job = group.remove(at);
                        let line = job.lines.get(local).copied();
                        let _ = job.reply.send(Err(ApiError::append(&failure, line)));
                    }
                    None if group.len() > 1 && failure.kind != FailureKind::Storage => {
                        // A failure of the whole group (too large together): one by one.
                        for job in std::mem::take(&mut group) {
                            self.commit_group(vec![job]);
                        }
                    }
                    None => {
                        for job in group.drain(..) {
                            let _ = job.reply.send(Err(ApiError::append(&failure, None)));
                        }
                        // A storage failure after the log's commit moved the head.
                        self.after_commit(before);
                    }
                },
            }
        }
    }

    /// Which job (and which of its events) the failure's event index falls in.
    fn blame(&self, group: &[AppendJob], failure: &AppendFailure) -> Option<(usize, usize)> {
        let mut index = failure.index?;
        for (at, job) in group.iter().enumerate() {
            if index < job.events.len() {
                return Some((at, index));
            }
            index -= job.events.len();
        }
        None
    }

    fn answer_group(&self, group: Vec<AppendJob>, outcomes: &[Outcome], head: Head) {
        use std::sync::atomic::Ordering::Relaxed;
        let requests = group.len();
        let mut offset = 0;
        self.shared.commits.fetch_add(1, Relaxed);
        self.shared
            .committed_requests
            .fetch_add(requests as u64, Relaxed);
        for job in group {
            let mine = outcomes[offset..offset + job.events.len()].to_vec();
            offset += job.events.len();
            let appended = mine
                .iter()
                .filter(|o| matches!(o, Outcome::Appended { .. }))
                .count() as u64;
            self.shared.committed_events.fetch_add(appended, Relaxed);
            let answer = AppendAnswer {
                appended,
                duplicates: mine.len() as u64 - appended,
                outcomes: mine,
                head,
                group_requests: requests,
            };
            let _ = job.reply.send(Ok(answer));
        }
        debug_assert_eq!(offset, outcomes.len());
    }

    /// Catches the views up with what other nodes appended to the shared log; publishes and
    /// broadcasts it.
    fn sync(&mut self) {
        self.shared
            .sync_queued
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let before = self.ledger.log().head().seq;
        match self.ledger.sync() {
            Ok(_) => self.after_commit(before),
            Err(e) => {
                tracing::warn!(error = %e, "catching up with the shared log failed; retrying on the next notice");
                // What was caught up before the failure is published all the same.
                self.after_commit(before);
            }
        }
    }

    /// Publishes the committed state and broadcasts the envelopes after seq `before`.
    fn after_commit(&mut self, before: u64) {
        let head = self.ledger.log().head();
        if head.seq == before {
            return;
        }
        match self.ledger.reader() {
            Ok(reader) => self.shared.publish(Published {
                reader: Arc::new(reader),
                head,
                log: read_log(self.ledger.log(), self.log_dir.as_deref()),
                unsealer: dir_unsealer(&self.keys),
                subsets: Default::default(),
            }),
            Err(e) => {
                tracing::error!(error = %e, "opening the committed views failed; queries answer from the previous commit");
            }
        }
        if self.committed.receiver_count() == 0 {
            return;
        }
        let envelopes: Result<Vec<Envelope>, _> =
            self.ledger.log().range(before + 1, head.seq).collect();
        match envelopes {
            Ok(envelopes) => {
                let _ = self.committed.send(Arc::new(Committed { envelopes }));
            }
            Err(e) => {
                // Subscribers notice the gap and catch up from the log.
                tracing::error!(error = %e, "reading back committed envelopes failed");
            }
        }
    }
}
