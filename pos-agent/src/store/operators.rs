//! Operators: PIN hashes, failed logins and lockouts.

use rusqlite::{params, OptionalExtension};
use time::OffsetDateTime;

use super::{map_full, Store, StoreError};
use crate::time_fmt::{parse_rfc3339, rfc3339};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRow {
    pub name: String,
    pub pin_hash: String,
    pub failed_attempts: i64,
    pub locked_until: Option<OffsetDateTime>,
}

impl Store {
    // ----- operators -----

    pub fn add_operator(&self, name: &str, pin_hash: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO operators (name, pin_hash) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET pin_hash = excluded.pin_hash,
                    failed_attempts = 0, locked_until = NULL",
                params![name, pin_hash],
            )
            .map_err(map_full)?;
        Ok(())
    }

    pub fn operator(&self, name: &str) -> Result<Option<OperatorRow>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT name, pin_hash, failed_attempts, locked_until FROM operators WHERE name = ?1",
                [name],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()?;
        Ok(
            row.map(|(name, pin_hash, failed_attempts, locked)| OperatorRow {
                name,
                pin_hash,
                failed_attempts,
                locked_until: locked.as_deref().and_then(parse_rfc3339),
            }),
        )
    }

    pub fn operator_names(&self) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM operators ORDER BY name")?;
        let names = st
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }

    /// Record the outcome of a login attempt for an operator.
    pub fn set_login_failures(
        &self,
        name: &str,
        failed_attempts: i64,
        locked_until: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE operators SET failed_attempts = ?2, locked_until = ?3 WHERE name = ?1",
                params![name, failed_attempts, locked_until.map(rfc3339)],
            )
            .map_err(map_full)?;
        Ok(())
    }
}
