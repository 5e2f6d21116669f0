//! The web app: served by the server at `/` (single-page app beside the API), and the app
//! itself: its generated types, its unit/component tests and the end-to-end run in Chromium.

pub(crate) mod app;
mod feeds;
mod first_start;
mod leaving;
mod panels;
mod screens;
mod serving;
mod teaching;
