//! The integration suite: the same tests on SQLite (default) and on PostgreSQL
//! (LINLI_TEST_DATABASE_URL=postgres://…), plus browser tests in headless Chromium.

mod harness;

mod api;
mod audit;
mod auth;
mod bad_input;
mod body_read;
mod browser;
mod browser_casework;
mod browser_conflicts;
mod browser_hazards;
mod browser_requests;
mod cancellation;
mod casework;
mod casework_followups;
mod casework_offers;
mod casework_settings;
mod casework_transfers;
mod cli;
mod conflicts;
mod group_commit;
mod hazards;
mod idempotency;
mod import;
mod listener;
mod map;
mod open311;
mod org;
mod overload;
mod people_import;
mod photos;
mod policy;
mod request_calendar;
mod request_metrics;
mod requests;
mod requests_api;
mod requests_public;
mod scope;
