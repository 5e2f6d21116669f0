//! Traces and log lines of a real server process (issue 17): what an operator's OTLP collector
//! receives, and what a log shipper reads.

mod logs;
mod otlp;
mod traces;
