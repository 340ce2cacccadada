//! refsync keeps a CRM's organisations and contacts true to an external reference register.
//! See DESIGN.md in the project's shared folder for the picture; dependencies point inward:
//! cli/daemon/web → sync → (crm, register, store) → domain.

pub mod cli;
pub mod config;
pub mod crm;
pub mod daemon;
pub mod db;
pub mod demo;
pub mod domain;
pub mod files;
pub mod i18n;
pub mod matching;
pub mod metrics;
pub mod preflight;
pub mod register;
pub mod store;
pub mod sync;
pub mod synth;
pub mod telemetry;
pub mod web;
