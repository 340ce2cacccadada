//! Integration tests through the CLI and the store, on SQLite and on a real PostgreSQL
//! (`REFSYNC_TEST_POSTGRES_URL`, e.g. postgres://postgres@127.0.0.1:5432/postgres).

mod common;

mod audit;
mod bad_inputs;
mod check;
mod config_errors;
mod conflict_guard;
mod corrections;
mod crash_campaign;
mod crm_profiles;
mod daemon;
mod data_islands;
mod dedupe;
mod duplicates;
mod fuzz_answers;
mod gleif;
mod http_double;
mod matching;
mod migrations;
mod passes;
mod preflight;
mod privacy;
mod reconcile_server;
mod reconcile_service;
mod reconciliation;
mod register_config;
mod report;
mod service;
mod store_writes;
#[cfg(feature = "mysql")]
mod suitecrm;
mod tune;
mod vies;
mod web_api;
mod web_browser;
mod web_limits;
mod web_pages;
mod web_server;
