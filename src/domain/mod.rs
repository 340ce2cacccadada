//! Pure domain logic: no IO, no database, no network. Everything here is a function of
//! its arguments, so it is tested with tables and property tests.

pub mod blocking;
pub mod check;
pub mod cluster;
pub mod comparison;
pub mod consent;
pub mod contact;
pub mod decide;
pub mod dedupe;
pub mod diff;
pub mod em;
pub mod erasure;
pub mod evaluate;
pub mod excerpt;
pub mod inputs;
pub mod lifecycle;
pub mod link;
pub mod model;
pub mod normalise;
pub mod packed;
pub mod picklist;
pub mod policy;
pub mod postcode;
pub mod reconcile;
pub mod report;
pub mod score;
pub mod sharing;
pub mod size;
pub mod survivorship;
pub mod tune;
pub mod validate;
