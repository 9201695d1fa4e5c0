//! Operators: PINs as argon2 hashes, the 3-strikes lockout (persisted, so a
//! restart does not reset it) and the API's session tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use time::OffsetDateTime;

use crate::store::{OperatorRow, Store, StoreError};

/// Wrong PINs in a row before the operator is locked.
pub const MAX_ATTEMPTS: i64 = 3;

pub fn hash_pin(pin: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_pin(pin: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A PIN must be 4 to 8 digits.
pub fn check_pin_format(pin: &str) -> Result<(), String> {
    if (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("the PIN must be 4 to 8 digits".into())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    Ok,
    UnknownOperator,
    WrongPin { attempts_left: i64 },
    Locked { until: OffsetDateTime },
}

/// Check a login against the stored hash and update the failure count.
pub fn login(
    store: &Store,
    operator: &str,
    pin: &str,
    lockout: time::Duration,
    now: OffsetDateTime,
) -> Result<LoginOutcome, StoreError> {
    let Some(row) = store.operator(operator)? else {
        return Ok(LoginOutcome::UnknownOperator);
    };
    if let Some(until) = locked(&row, now) {
        return Ok(LoginOutcome::Locked { until });
    }
    let pin_ok = verify_pin(pin, &row.pin_hash);
    record_login(store, &row, pin_ok, lockout, now)
}

/// The end of a lock still in force.
pub fn locked(row: &OperatorRow, now: OffsetDateTime) -> Option<OffsetDateTime> {
    row.locked_until.filter(|until| *until > now)
}

/// Count a login whose PIN was checked (`pin_ok`) against `row`: reset on
/// success, lock on the third failure in a row. Split from [`login`] so the
/// slow hash check can run without holding the store.
pub fn record_login(
    store: &Store,
    row: &OperatorRow,
    pin_ok: bool,
    lockout: time::Duration,
    now: OffsetDateTime,
) -> Result<LoginOutcome, StoreError> {
    // A lock that has run out starts a fresh count.
    let failed = if row.locked_until.is_some() {
        0
    } else {
        row.failed_attempts
    };
    if pin_ok {
        store.set_login_failures(&row.name, 0, None)?;
        return Ok(LoginOutcome::Ok);
    }
    let failed = failed + 1;
    if failed >= MAX_ATTEMPTS {
        let until = now + lockout;
        store.set_login_failures(&row.name, failed, Some(until))?;
        Ok(LoginOutcome::Locked { until })
    } else {
        store.set_login_failures(&row.name, failed, None)?;
        Ok(LoginOutcome::WrongPin {
            attempts_left: MAX_ATTEMPTS - failed,
        })
    }
}

struct Session {
    operator: String,
    last_seen: Instant,
}

/// Bearer tokens of logged-in operators, in memory: a restart logs everyone
/// out, which is what an operator expects of a till that rebooted.
pub struct Sessions {
    idle: Duration,
    inner: Mutex<HashMap<String, Session>>,
    /// Woken at every logout, so [`Sessions::ended`] returns at once.
    removed: tokio::sync::Notify,
}

impl Sessions {
    pub fn new(idle: Duration) -> Self {
        Sessions {
            idle,
            inner: Mutex::new(HashMap::new()),
            removed: tokio::sync::Notify::new(),
        }
    }

    pub fn create(&self, operator: &str) -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(
            token.clone(),
            Session {
                operator: operator.to_string(),
                last_seen: Instant::now(),
            },
        );
        token
    }

    /// The operator behind a token, refreshing its idle timer.
    pub fn check(&self, token: &str) -> Option<String> {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, s| now.duration_since(s.last_seen) < self.idle);
        let s = map.get_mut(token)?;
        s.last_seen = now;
        Some(s.operator.clone())
    }

    pub fn remove(&self, token: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(token);
        drop(map);
        self.removed.notify_waiters();
    }

    /// When the session of `token` would expire if nothing used it again;
    /// `None` once it has ended. Does not count as a use.
    fn expires_at(&self, token: &str) -> Option<Instant> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let at = map.get(token)?.last_seen + self.idle;
        (Instant::now() < at).then_some(at)
    }

    /// Resolves when the session of `token` ends: logged out, or idle for
    /// `security.session_minutes` (what keeps it alive is the operator's
    /// calls, not a stream left open). The events stream ends with it.
    pub async fn ended(&self, token: &str) {
        loop {
            // Registered before looking, so a logout in between is not missed.
            let removed = self.removed.notified();
            tokio::pin!(removed);
            removed.as_mut().enable();
            let Some(deadline) = self.expires_at(token) else {
                return;
            };
            tokio::select! {
                _ = removed => {}
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_wrong_pins_lock_and_the_lock_is_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        let store = Store::open(&path).unwrap();
        store
            .add_operator("op1", &hash_pin("4821").unwrap())
            .unwrap();
        let now = OffsetDateTime::now_utc();
        let lock = time::Duration::minutes(15);
        assert_eq!(
            login(&store, "op1", "0000", lock, now).unwrap(),
            LoginOutcome::WrongPin { attempts_left: 2 }
        );
        assert_eq!(
            login(&store, "op1", "0000", lock, now).unwrap(),
            LoginOutcome::WrongPin { attempts_left: 1 }
        );
        assert!(matches!(
            login(&store, "op1", "0000", lock, now).unwrap(),
            LoginOutcome::Locked { .. }
        ));
        drop(store);
        let store = Store::open(&path).unwrap();
        assert!(matches!(
            login(&store, "op1", "4821", lock, now).unwrap(),
            LoginOutcome::Locked { .. }
        ));
        // After the lock runs out, the right PIN works and resets the count.
        let later = now + time::Duration::minutes(16);
        assert_eq!(
            login(&store, "op1", "4821", lock, later).unwrap(),
            LoginOutcome::Ok
        );
        assert_eq!(store.operator("op1").unwrap().unwrap().failed_attempts, 0);
    }

    #[test]
    fn right_pin_resets_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("j.sqlite")).unwrap();
        store
            .add_operator("op1", &hash_pin("4821").unwrap())
            .unwrap();
        let now = OffsetDateTime::now_utc();
        let lock = time::Duration::minutes(15);
        login(&store, "op1", "1", lock, now).unwrap();
        login(&store, "op1", "2", lock, now).unwrap();
        assert_eq!(
            login(&store, "op1", "4821", lock, now).unwrap(),
            LoginOutcome::Ok
        );
        assert_eq!(
            login(&store, "op1", "3", lock, now).unwrap(),
            LoginOutcome::WrongPin { attempts_left: 2 }
        );
    }

    #[test]
    fn sessions_expire_when_idle() {
        let s = Sessions::new(Duration::from_millis(0));
        let t = s.create("op1");
        assert_eq!(s.check(&t), None);
        let s = Sessions::new(Duration::from_secs(60));
        let t = s.create("op1");
        assert_eq!(s.check(&t).as_deref(), Some("op1"));
        s.remove(&t);
        assert_eq!(s.check(&t), None);
    }

    #[tokio::test]
    async fn a_session_ends_at_logout_and_at_idle_expiry() {
        let s = Sessions::new(Duration::from_secs(60));
        let t = s.create("op1");
        let other = s.create("op1");
        let ended = s.ended(&t);
        tokio::pin!(ended);
        // Still alive: not ended.
        assert!(
            tokio::time::timeout(Duration::from_millis(100), ended.as_mut())
                .await
                .is_err()
        );
        s.remove(&t);
        tokio::time::timeout(Duration::from_secs(5), ended)
            .await
            .expect("logout ends the session");
        // Another operator's session goes on.
        assert!(s.check(&other).is_some());

        let s = Sessions::new(Duration::from_millis(300));
        let t = s.create("op1");
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), s.ended(&t))
            .await
            .expect("idle expiry ends the session");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(s.check(&t), None);
        // An unknown token has already ended.
        tokio::time::timeout(Duration::from_secs(1), s.ended("nope"))
            .await
            .expect("unknown token");
    }
}
