//! Progress: cumulative bytes, the total, speed and time left, throttled to about ten reports a
//! second per transfer, always with a final one.
//!
//! Time comes from a [`Clock`], so the throttling and the speed arithmetic are tested exactly.
//!
//! Invariant: no count, total or instant makes the meter panic. Sizes come from the service and
//! may be anything up to `u64::MAX`, so sums saturate, differences cannot go below zero, and an
//! ETA too long for a [`Duration`] is reported as unknown.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

/// A source of monotonic time.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The operating system's monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The least time between two progress reports of one transfer.
pub const REPORT_INTERVAL: Duration = Duration::from_millis(100);

/// How far back the speed is averaged.
const SPEED_WINDOW: Duration = Duration::from_secs(3);

/// A progress report. `transferred` is cumulative: it counts every byte of the transfer so far,
/// never just the last chunk.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Bytes moved so far.
    pub transferred: u64,
    /// Bytes in all.
    pub total: u64,
    /// Recent speed, in bytes per second.
    pub bytes_per_second: f64,
    /// Estimated time left, when the speed is known.
    #[serde(serialize_with = "serialize_seconds")]
    pub eta: Option<Duration>,
}

fn serialize_seconds<S: serde::Serializer>(
    value: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => serializer.serialize_some(&duration.as_secs_f64()),
        None => serializer.serialize_none(),
    }
}

/// Turns a stream of byte counts into throttled [`Progress`] reports.
#[derive(Debug)]
pub struct ProgressMeter {
    total: u64,
    transferred: u64,
    last_report: Option<Instant>,
    samples: VecDeque<(Instant, u64)>,
}

impl ProgressMeter {
    /// A meter for a transfer of `total` bytes, started at `now`.
    pub fn new(total: u64, now: Instant) -> Self {
        let mut samples = VecDeque::new();
        samples.push_back((now, 0));
        Self {
            total,
            transferred: 0,
            last_report: None,
            samples,
        }
    }

    /// A meter for a transfer of `total` bytes of which `done` were moved before `now` (a resumed
    /// upload): they count in the total moved, never in the speed.
    pub fn resumed(total: u64, done: u64, now: Instant) -> Self {
        let mut samples = VecDeque::new();
        samples.push_back((now, done));
        Self {
            total,
            transferred: done,
            last_report: None,
            samples,
        }
    }

    /// Starts over for a transfer of `total` bytes (the object was replaced meanwhile).
    pub fn restart(&mut self, total: u64, now: Instant) {
        *self = Self {
            last_report: self.last_report,
            ..Self::new(total, now)
        };
    }

    /// Bytes counted so far.
    pub fn transferred(&self) -> u64 {
        self.transferred
    }

    /// Sets the cumulative count (after a resumed or restarted attempt) and reports if due.
    pub fn set(&mut self, transferred: u64, now: Instant) -> Option<Progress> {
        if transferred < self.transferred {
            // A restart from zero: the old samples describe bytes that no longer count.
            self.samples.clear();
        }
        self.transferred = transferred;
        self.samples.push_back((now, transferred));
        while self.samples.len() > 2
            && self
                .samples
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > SPEED_WINDOW)
        {
            self.samples.pop_front();
        }
        let due = self
            .last_report
            .is_none_or(|last| now.duration_since(last) >= REPORT_INTERVAL);
        if due {
            self.last_report = Some(now);
            Some(self.report())
        } else {
            None
        }
    }

    /// Adds `bytes` to the count and reports if due.
    pub fn add(&mut self, bytes: u64, now: Instant) -> Option<Progress> {
        self.set(self.transferred.saturating_add(bytes), now)
    }

    /// The report to send at the end, whatever the throttle says.
    pub fn finish(&mut self, now: Instant) -> Progress {
        self.last_report = Some(now);
        self.report()
    }

    fn report(&self) -> Progress {
        let speed = match (self.samples.front(), self.samples.back()) {
            (Some((t0, b0)), Some((t1, b1))) if t1 > t0 => {
                b1.saturating_sub(*b0) as f64 / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        };
        let remaining = self.total.saturating_sub(self.transferred);
        let eta = if remaining == 0 {
            Some(Duration::ZERO)
        } else if speed > 0.0 {
            // `from_secs_f64` panics past `Duration::MAX` (a huge total at a crawl); such a
            // wait is as good as unknown.
            Duration::try_from_secs_f64(remaining as f64 / speed).ok()
        } else {
            None
        };
        Progress {
            transferred: self.transferred,
            total: self.total,
            bytes_per_second: speed,
            eta,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_sent_before_a_resume_count_in_the_total_but_not_the_speed() {
        let t0 = Instant::now();
        let mut meter = ProgressMeter::resumed(100, 60, t0);
        let report = meter.add(10, t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(report.transferred, 70);
        assert!((report.bytes_per_second - 10.0).abs() < 1e-9, "{report:?}");
        assert_eq!(report.eta, Some(Duration::from_secs(3)));
    }

    #[test]
    fn reports_are_cumulative_and_throttled() {
        let t0 = Instant::now();
        let mut meter = ProgressMeter::new(1000, t0);
        let first = meter.add(100, t0 + Duration::from_millis(10)).unwrap();
        assert_eq!(first.transferred, 100);
        // Within 100 ms of the last report: counted, not reported.
        assert_eq!(meter.add(100, t0 + Duration::from_millis(50)), None);
        assert_eq!(meter.add(100, t0 + Duration::from_millis(109)), None);
        let next = meter.add(100, t0 + Duration::from_millis(110)).unwrap();
        assert_eq!(next.transferred, 400);
        assert_eq!(next.total, 1000);
        // The final report comes even inside the interval.
        meter.add(600, t0 + Duration::from_millis(120));
        let last = meter.finish(t0 + Duration::from_millis(130));
        assert_eq!(last.transferred, 1000);
        assert_eq!(last.eta, Some(Duration::ZERO));
    }

    #[test]
    fn speed_and_eta_follow_the_recent_rate() {
        let t0 = Instant::now();
        let mut meter = ProgressMeter::new(10_000, t0);
        for second in 1..=2 {
            meter.set(second * 1000, t0 + Duration::from_secs(second));
        }
        let report = meter.finish(t0 + Duration::from_secs(2));
        assert!((report.bytes_per_second - 1000.0).abs() < 1e-9);
        assert_eq!(report.eta, Some(Duration::from_secs(8)));

        // Ten seconds later the old samples have left the window: the speed is the new one.
        meter.set(2000 + 500 * 10, t0 + Duration::from_secs(12));
        meter.set(2000 + 500 * 11, t0 + Duration::from_secs(13));
        let report = meter.finish(t0 + Duration::from_secs(13));
        assert!((report.bytes_per_second - 500.0).abs() < 1.0, "{report:?}");
    }

    /// Sizes from the service may be anything; none of them makes the meter panic or lie.
    #[test]
    fn extreme_counts_and_totals_never_panic() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;

        // A total near u64::MAX at one byte per second: an ETA no `Duration` holds is unknown.
        let mut meter = ProgressMeter::new(u64::MAX, t0);
        meter.set(1, t0 + Duration::from_secs(1));
        let report = meter.finish(t0 + Duration::from_secs(1));
        assert_eq!((report.transferred, report.total), (1, u64::MAX));
        assert!((report.bytes_per_second - 1.0).abs() < 1e-9, "{report:?}");
        assert_eq!(report.eta, None);

        // Adding past u64::MAX saturates instead of overflowing.
        let mut meter = ProgressMeter::new(u64::MAX, t0);
        meter.set(u64::MAX - 10, t0 + ms(200));
        let report = meter.add(u64::MAX, t0 + ms(400)).unwrap();
        assert_eq!(report.transferred, u64::MAX);
        assert_eq!(report.eta, Some(Duration::ZERO));
        assert!(report.bytes_per_second.is_finite() && report.bytes_per_second > 0.0);

        // A whole u64 of bytes in a nanosecond: a huge but finite speed, and done.
        let mut meter = ProgressMeter::new(u64::MAX, t0);
        meter.set(u64::MAX, t0 + Duration::from_nanos(1));
        let report = meter.finish(t0 + Duration::from_nanos(1));
        assert!(report.bytes_per_second.is_finite(), "{report:?}");
        assert_eq!(report.eta, Some(Duration::ZERO));

        // More bytes than the total said (the object grew): nothing is left, and the count is
        // reported as it is.
        let mut meter = ProgressMeter::new(100, t0);
        meter.set(50, t0 + ms(100));
        let report = meter.set(u64::MAX, t0 + ms(300)).unwrap();
        assert_eq!((report.transferred, report.total), (u64::MAX, 100));
        assert_eq!(report.eta, Some(Duration::ZERO));

        // A clock that goes backwards between samples gives no speed, not a panic.
        let mut meter = ProgressMeter::new(u64::MAX, t0 + Duration::from_secs(10));
        meter.set(5, t0);
        let report = meter.finish(t0);
        assert_eq!(report.bytes_per_second, 0.0);
        assert_eq!(report.eta, None);
    }

    #[test]
    fn a_restart_forgets_the_old_rate() {
        let t0 = Instant::now();
        let mut meter = ProgressMeter::new(100, t0);
        meter.set(90, t0 + Duration::from_secs(1));
        let report = meter.set(0, t0 + Duration::from_secs(2)).unwrap();
        assert_eq!(report.transferred, 0);
        assert_eq!(report.bytes_per_second, 0.0);
        assert_eq!(report.eta, None);
    }
}
