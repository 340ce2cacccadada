//! `refsync user`: accounts of the review UI and API. Passwords come from stdin or a file,
//! never from the command line (where `ps` and shell history would show them).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use secrecy::SecretString;

use super::output::print_list;
use super::{Format, UsageError};
use crate::store::users::{self, Role, UserRow, UserSummary};
use crate::store::Store;
use crate::web::auth::{self, NewUserError};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from stdin (first line) or --password-file.
    Add {
        name: String,
        /// viewer (reads), steward (decides), admin (applies, reverts, manages users).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from this file's first line instead of stdin.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List users.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Disable a user: no more logins, sessions ended, API tokens refused.
    Disable { name: String },
    /// API tokens for scripts.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for user NAME; printed once, only its hash is stored.
    Create {
        name: String,
        /// What the token is for, e.g. the script's name.
        #[arg(long)]
        label: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

fn read_password(file: Option<&PathBuf>) -> anyhow::Result<SecretString> {
    let mut text = String::new();
    match file {
        Some(path) => {
            text = std::fs::read_to_string(path).map_err(|e| {
                UsageError(format!(
                    "cannot read the password file {}: {e}",
                    path.display()
                ))
            })?;
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| anyhow::anyhow!("cannot read the password from stdin: {e}"))?;
        }
    }
    let first = text.lines().next().unwrap_or("").to_string();
    Ok(SecretString::from(first))
}

pub async fn run(store: &Store, command: UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add {
            name,
            role,
            password_file,
        } => {
            let password = read_password(password_file.as_ref())?;
            let name = match auth::create_user(store, &name, role, password).await {
                Ok(name) => name,
                Err(e @ (NewUserError::Invalid(_) | NewUserError::Exists(_))) => {
                    return Err(UsageError(e.to_string()).into())
                }
                Err(e) => return Err(e.into()),
            };
            println!("user `{name}` created with role {}", role.as_str());
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::List { format } => {
            let rows: Vec<UserSummary> = store
                .db
                .run(users::list_users)
                .await?
                .iter()
                .map(UserRow::summary)
                .collect();
            print_list(
                format,
                &["name", "role", "created", "disabled"],
                &rows,
                |u: &UserSummary| {
                    vec![
                        u.name.clone(),
                        u.role.clone(),
                        u.created_at.format("%Y-%m-%d %H:%M").to_string(),
                        u.disabled.to_string(),
                    ]
                },
            )?;
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Disable { name } => {
            let owned = name.clone();
            let found = store
                .db
                .run(move |conn| users::set_disabled(conn, &owned, true))
                .await?;
            if !found {
                return Err(UsageError(format!(
                    "no user `{name}`; `refsync user list` shows them"
                ))
                .into());
            }
            println!("user `{name}` disabled");
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Token(TokenCommand::Create { name, label }) => {
            let token = auth::new_token();
            let hash = auth::token_hash(&token);
            let owned = name.clone();
            let created = store
                .db
                .run(move |conn| -> diesel::QueryResult<bool> {
                    let Some(user) = users::find_user(conn, &owned)?.filter(|u| !u.disabled) else {
                        return Ok(false);
                    };
                    users::create_token(conn, &hash, user.id, &label).map(|_| true)
                })
                .await?;
            if !created {
                return Err(UsageError(format!(
                    "no enabled user `{name}`; `refsync user list` shows them"
                ))
                .into());
            }
            // The one time the token is shown; the store keeps only its hash.
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
