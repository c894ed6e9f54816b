//! [`At`]: the point a question is asked at, as the user gives it; [`At::point`] resolves it
//! against a source.

use arl_domain::Timestamp;
use arl_fold::{Point, Source, SourceError};

/// The point of a question as given: valid time (`as_of`, default now) and knowledge
/// (`known_at` or `at_seq`, default everything the source holds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct At {
    /// Valid time.
    pub as_of: Option<Timestamp>,
    /// Only events recorded by then (wins over `at_seq`).
    pub known_at: Option<Timestamp>,
    /// Only events up to this seq.
    pub at_seq: Option<u64>,
}

impl At {
    /// The point this resolves to in `source`: `as_of` or `now`, and the last seq known at
    /// `known_at`, else `at_seq` (no further than the source's checkpoint), else the
    /// checkpoint.
    pub fn point_at(&self, source: &dyn Source, now: Timestamp) -> Result<Point, SourceError> {
        let as_of = self.as_of.unwrap_or(now);
        let checkpoint = source.checkpoint();
        let at_seq = match (self.known_at, self.at_seq) {
            (Some(known_at), _) => source.seq_known_at(known_at)?,
            (None, Some(seq)) => seq.min(checkpoint),
            (None, None) => checkpoint,
        };
        Ok(Point { as_of, at_seq })
    }

    /// [`At::point_at`] with `now` the current time.
    pub fn point(&self, source: &dyn Source) -> Result<Point, SourceError> {
        self.point_at(source, Timestamp::now())
    }
}
