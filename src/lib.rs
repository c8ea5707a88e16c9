//! Linli (邻里): case work, resident requests and community services for a district's social
//! work network. One binary; see `docs/architecture.md`.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cases;
pub mod cli;
pub mod codes;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod error;
pub mod files;
pub mod fsperm;
pub mod hazards;
pub mod home;
pub mod i18n;
pub mod ledger_xlsx;
pub mod map;
pub mod open311;
pub mod openapi;
pub mod ops;
pub mod org;
pub mod people;
pub mod ratelimit;
pub mod redact;
pub mod requests;
pub mod roles;
pub mod scope;
pub mod search;
pub mod staff;
pub mod state;
pub mod tabular;
pub mod web;

#[cfg(test)]
mod floors;
