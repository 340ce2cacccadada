//! The response cache of remote registers: one row per (register, request).

use std::hash::{Hash, Hasher};
use std::time::Duration;

use diesel::prelude::*;

use super::schema::register_cache;
use crate::db::AnyConnection;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub body: String,
    /// The register's own last-change date of the cached record, where it has one.
    pub last_update: Option<String>,
    pub fresh: bool,
}

/// A short key for the primary key; the full request is kept and compared on read.
fn hash(request: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    request.hash(&mut h);
    let a = h.finish();
    request.len().hash(&mut h);
    format!("{a:016x}{:016x}", h.finish())
}

fn expiry(ttl: Duration) -> chrono::NaiveDateTime {
    super::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX)
}

pub fn get(
    conn: &mut AnyConnection,
    register: &str,
    request: &str,
) -> QueryResult<Option<CacheEntry>> {
    let row: Option<(String, String, Option<String>, chrono::NaiveDateTime)> =
        register_cache::table
            .filter(register_cache::register.eq(register))
            .filter(register_cache::key_hash.eq(hash(request)))
            .select((
                register_cache::request,
                register_cache::body,
                register_cache::last_update,
                register_cache::expires_at,
            ))
            .first(conn)
            .optional()?;
    Ok(row
        .filter(|(stored, ..)| stored == request)
        .map(|(_, body, last_update, expires_at)| CacheEntry {
            body,
            last_update,
            fresh: expires_at > super::now(),
        }))
}

pub fn put(
    conn: &mut AnyConnection,
    register: &str,
    request: &str,
    body: &str,
    last_update: Option<&str>,
    ttl: Duration,
) -> QueryResult<()> {
    let key = hash(request);
    conn.transaction(|conn| {
        diesel::delete(
            register_cache::table
                .filter(register_cache::register.eq(register))
                .filter(register_cache::key_hash.eq(&key)),
        )
        .execute(conn)?;
        diesel::insert_into(register_cache::table)
            .values((
                register_cache::register.eq(register),
                register_cache::key_hash.eq(&key),
                register_cache::request.eq(request),
                register_cache::body.eq(body),
                register_cache::last_update.eq(last_update),
                register_cache::fetched_at.eq(super::now()),
                register_cache::expires_at.eq(expiry(ttl)),
            ))
            .execute(conn)
            .map(|_| ())
    })
}

/// Extends an entry the register confirmed as unchanged.
pub fn renew(
    conn: &mut AnyConnection,
    register: &str,
    request: &str,
    ttl: Duration,
) -> QueryResult<()> {
    diesel::update(
        register_cache::table
            .filter(register_cache::register.eq(register))
            .filter(register_cache::key_hash.eq(hash(request))),
    )
    .set(register_cache::expires_at.eq(expiry(ttl)))
    .execute(conn)
    .map(|_| ())
}

/// Drops entries that expired more than `keep` ago; returns how many.
pub fn purge(conn: &mut AnyConnection, keep: Duration) -> QueryResult<usize> {
    let before = super::now() - chrono::Duration::from_std(keep).unwrap_or_default();
    diesel::delete(register_cache::table.filter(register_cache::expires_at.lt(before)))
        .execute(conn)
}

/// Drops every cached answer, or those of `register`; returns how many.
pub fn clear(conn: &mut AnyConnection, register: Option<&str>) -> QueryResult<usize> {
    match register {
        Some(name) => {
            diesel::delete(register_cache::table.filter(register_cache::register.eq(name)))
                .execute(conn)
        }
        None => diesel::delete(register_cache::table).execute(conn),
    }
}
