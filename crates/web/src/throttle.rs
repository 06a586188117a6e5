//! Login throttling: after [`MAX_FAILURES`] failed logins for one login name, or from one
//! client IP, within [`LOCKOUT`], further attempts for it are refused without checking the
//! password until [`LOCKOUT`] has passed since the last failure. Password-recovery requests
//! are counted the same way in a [`Throttle`] of their own ([`crate::WebState::recuperi`]). Counting by name stops
//! guessing one box's password from many addresses; counting by IP stops one client trying
//! many boxes. Unknown names count like known ones (and [`engine::Engine::login`] spends the
//! same time on both), so the lockout reveals nothing about which boxes exist.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures that lock a login name or an IP.
pub const MAX_FAILURES: u32 = 5;

/// How long failures are remembered, and how long a lockout lasts.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// Failed logins, by login name and by client IP.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<Key, (u32, Instant)>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Login(String),
    Ip(IpAddr),
}

fn keys(login: &str, ip: IpAddr) -> [Key; 2] {
    [Key::Login(login.trim().to_ascii_lowercase()), Key::Ip(ip)]
}

impl Throttle {
    /// Whether an attempt for `login` from `ip` must be refused now.
    pub fn locked(&self, login: &str, ip: IpAddr) -> bool {
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, (_, last)| now.duration_since(*last) < LOCKOUT);
        keys(login, ip)
            .iter()
            .any(|k| map.get(k).is_some_and(|(n, _)| *n >= MAX_FAILURES))
    }

    /// Counts a failed attempt.
    pub fn failed(&self, login: &str, ip: IpAddr) {
        let mut map = self.lock();
        let now = Instant::now();
        for k in keys(login, ip) {
            let entry = map.entry(k).or_insert((0, now));
            entry.0 += 1;
            entry.1 = now;
        }
    }

    /// Forgets the failures of a login name that has just logged in (the IP's stay: one
    /// right password must not reset a client that is trying many boxes).
    pub fn succeeded(&self, login: &str) {
        self.lock()
            .remove(&Key::Login(login.trim().to_ascii_lowercase()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (u32, Instant)>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn five_failures_lock_the_login_and_the_ip() {
        let t = Throttle::default();
        for _ in 0..MAX_FAILURES {
            assert!(!t.locked("Mario@pec.test", A));
            t.failed("Mario@pec.test", A);
        }
        assert!(
            t.locked("mario@pec.test", B),
            "the name is locked from any IP"
        );
        assert!(
            t.locked("anna@pec.test", A),
            "the IP is locked for any name"
        );
        assert!(!t.locked("anna@pec.test", B));
    }

    #[test]
    fn success_forgets_the_name_but_not_the_ip() {
        let t = Throttle::default();
        for _ in 0..MAX_FAILURES - 1 {
            t.failed("mario@pec.test", A);
        }
        t.succeeded("mario@pec.test");
        t.failed("mario@pec.test", B);
        assert!(!t.locked("mario@pec.test", B));
        t.failed("anna@pec.test", A);
        assert!(t.locked("x@pec.test", A));
    }
}
