//! The one clock (architecture invariant 5): every date in receipts, the log and the timers
//! comes from here, so tests can travel in time.

use std::sync::Mutex;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};

pub trait Clock: Send + Sync {
    /// Now, in the provider's legal time zone, to the second.
    fn now(&self) -> Zoned;
}

/// The system clock in a fixed time zone (Europe/Rome for an Italian gestore).
pub struct SystemClock {
    tz: TimeZone,
}

impl SystemClock {
    pub fn new(tz: TimeZone) -> SystemClock {
        SystemClock { tz }
    }

    pub fn rome() -> SystemClock {
        SystemClock::new(rome())
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Zoned {
        let ts = Timestamp::now();
        let secs = Timestamp::from_second(ts.as_second()).unwrap_or(ts);
        secs.to_zoned(self.tz.clone())
    }
}

/// A clock that only moves when told to.
pub struct ManualClock {
    now: Mutex<Zoned>,
}

impl ManualClock {
    pub fn new(start: Zoned) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(next) = now.checked_add(by) {
            *now = next;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Zoned {
        self.now.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Italy's legal time zone; UTC if no time-zone database is available (jiff bundles one).
pub fn rome() -> TimeZone {
    TimeZone::get("Europe/Rome").unwrap_or(TimeZone::UTC)
}
