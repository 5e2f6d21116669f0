//! Security and reliability hardening (issues 16 and 19), black-box: each control with its test.
//! `ops/THREAT_MODEL.md` names these tests; `docs::threat_model_names_only_tests_that_exist`
//! keeps it true.

mod api_top10;
mod audit_integrity;
mod edge;
mod faults;
mod media_limits;
mod netns_turn;
mod sensitive_data;
mod tokens;
mod wire;
