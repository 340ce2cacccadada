//! Users of the review UI and API, their browser sessions and their API tokens. Secrets are
//! never stored: passwords as argon2id hashes, session and API tokens as SHA-256 hex.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::now;
use super::schema::{api_tokens, sessions, users};
use crate::db::AnyConnection;
use crate::domain::model::snake_names;
use crate::on_store_backend;

/// What a user may do; from `viewer` on each role may do everything the roles before it
/// may. `intake` stands apart, below them all: it may only check records on entry (a web
/// form's backend), which stewards and admins may too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Checks records on entry (`POST /api/v1/check`); reads nothing else.
    Intake,
    /// Reads the queue, records, passes and the audit log.
    Viewer,
    /// Also approves, rejects, edits and flags changes.
    Steward,
    /// Also applies, reverts, sees the config and manages users.
    Admin,
}

impl Role {
    /// Whether the role may check records on entry: intake, steward and admin.
    pub fn may_check(self) -> bool {
        self == Role::Intake || self >= Role::Steward
    }
}

snake_names!(Role { Intake => "intake", Viewer => "viewer", Steward => "steward", Admin => "admin" });

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub created_at: NaiveDateTime,
    pub disabled: bool,
}

/// What may be shown of a user: everything but the password hash.
#[derive(Debug, Clone, Serialize)]
pub struct UserSummary {
    pub name: String,
    pub role: String,
    pub created_at: NaiveDateTime,
    pub disabled: bool,
}

impl UserRow {
    pub fn summary(&self) -> UserSummary {
        UserSummary {
            name: self.name.clone(),
            role: self.role.clone(),
            created_at: self.created_at,
            disabled: self.disabled,
        }
    }

    /// The role; an unknown one (a hand-edited row) grants nothing beyond reading.
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Viewer)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub token_hash: String,
    pub user_id: i64,
    pub csrf: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_seen: NaiveDateTime,
}

pub fn add_user(
    conn: &mut AnyConnection,
    name: &str,
    role: Role,
    password_hash: &str,
) -> QueryResult<i64> {
    let row = (
        users::name.eq(name),
        users::role.eq(role.as_str()),
        users::password_hash.eq(password_hash),
        users::created_at.eq(now()),
        users::disabled.eq(false),
    );
    on_store_backend!(conn, c => diesel::insert_into(users::table).values(row).returning(users::id).get_result(c))
}

pub fn find_user(conn: &mut AnyConnection, name: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::name.eq(name))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn list_users(conn: &mut AnyConnection) -> QueryResult<Vec<UserRow>> {
    users::table
        .order(users::name)
        .select(UserRow::as_select())
        .load(conn)
}

/// Disables (or enables) a user and, when disabling, ends their sessions. Returns whether
/// the user exists.
pub fn set_disabled(conn: &mut AnyConnection, name: &str, disabled: bool) -> QueryResult<bool> {
    let Some(user) = find_user(conn, name)? else {
        return Ok(false);
    };
    diesel::update(users::table.find(user.id))
        .set(users::disabled.eq(disabled))
        .execute(conn)?;
    if disabled {
        diesel::delete(sessions::table.filter(sessions::user_id.eq(user.id))).execute(conn)?;
    }
    Ok(true)
}

pub fn create_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    user_id: i64,
    csrf: &str,
    expires_at: NaiveDateTime,
) -> QueryResult<()> {
    let at = now();
    diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(token_hash),
            sessions::user_id.eq(user_id),
            sessions::csrf.eq(csrf),
            sessions::created_at.eq(at),
            sessions::expires_at.eq(expires_at),
            sessions::last_seen.eq(at),
        ))
        .execute(conn)?;
    // Expired sessions are swept here, where new ones start, rather than by a timer.
    diesel::delete(sessions::table.filter(sessions::expires_at.lt(at))).execute(conn)?;
    Ok(())
}

/// The live session with this token hash and its user, unless expired or the user is
/// disabled; notes that it was seen.
pub fn session_user(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> QueryResult<Option<(SessionRow, UserRow)>> {
    let at = now();
    let found: Option<(SessionRow, UserRow)> = sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::expires_at.gt(at))
        .filter(users::disabled.eq(false))
        .select((SessionRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()?;
    if found
        .as_ref()
        .is_some_and(|(s, _)| stale(Some(s.last_seen), at))
    {
        diesel::update(sessions::table.find(token_hash))
            .set(sessions::last_seen.eq(at))
            .execute(conn)?;
    }
    Ok(found)
}

pub fn delete_session(conn: &mut AnyConnection, token_hash: &str) -> QueryResult<()> {
    diesel::delete(sessions::table.find(token_hash)).execute(conn)?;
    Ok(())
}

pub fn create_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    user_id: i64,
    label: &str,
) -> QueryResult<()> {
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::token_hash.eq(token_hash),
            api_tokens::user_id.eq(user_id),
            api_tokens::label.eq(label),
            api_tokens::created_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user an API token belongs to, unless disabled; notes that the token was used.
pub fn token_user(conn: &mut AnyConnection, token_hash: &str) -> QueryResult<Option<UserRow>> {
    let at = now();
    let found: Option<(UserRow, Option<NaiveDateTime>)> = api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(token_hash))
        .filter(users::disabled.eq(false))
        .select((UserRow::as_select(), api_tokens::last_used))
        .first(conn)
        .optional()?;
    if found.as_ref().is_some_and(|(_, used)| stale(*used, at)) {
        diesel::update(api_tokens::table.find(token_hash))
            .set(api_tokens::last_used.eq(Some(at)))
            .execute(conn)?;
    }
    Ok(found.map(|(user, _)| user))
}

/// Whether a "last seen" time is worth writing again: at most once a minute, so that a
/// page view, which only reads, rarely needs the store's write lock.
fn stale(seen: Option<NaiveDateTime>, at: NaiveDateTime) -> bool {
    seen.is_none_or(|seen| at - seen > chrono::Duration::minutes(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_seen_is_written_at_most_once_a_minute() {
        let at = now();
        let ago = |seconds| Some(at - chrono::Duration::seconds(seconds));
        for (seen, want) in [
            (None, true),
            (ago(30), false),
            (ago(60), false),
            (ago(61), true),
        ] {
            assert_eq!(stale(seen, at), want, "{seen:?}");
        }
    }
}
