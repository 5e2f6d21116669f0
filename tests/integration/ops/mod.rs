//! Operations: the Prometheus rules of `ops/prometheus/` evaluated by a real Prometheus scraping
//! a real server.

mod prometheus;
