//! The process's log lines on standard error: text (the default) or, with
//! `LIVESURGERY_LOG_FORMAT=json`, one JSON object a line for a log shipper.
//!
//! A JSON line holds `timestamp`, `level`, `target`, `span` (the innermost span's name), the
//! fields of every span it was written in, outermost first (so `request_id`, `user_id`,
//! `session_id`, `participant_id` where the request or connection knows them), then the
//! event's own fields with its `message`. Spans and events carry ids, never tokens or titles.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The variable that picks the format.
pub const LOG_FORMAT_VAR: &str = "LIVESURGERY_LOG_FORMAT";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (tracing-subscriber's default format).
    Text,
    /// One JSON object a line ([`JsonLines`]).
    Json,
}

impl LogFormat {
    /// The format `LIVESURGERY_LOG_FORMAT` names (`text` when unset or empty); any other value
    /// is an error to stop the start on.
    pub fn from_var(value: Option<&str>) -> Result<LogFormat, String> {
        match value.map(str::trim).unwrap_or("") {
            "" | "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "{LOG_FORMAT_VAR}={other} is not a log format: use text or json"
            )),
        }
    }
}

/// The event format of `LIVESURGERY_LOG_FORMAT=json`; spans' fields must be recorded with
/// [`JsonFields`] (`fmt::layer().fmt_fields(JsonFields::new())`).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                line.insert("span".into(), span.name().into());
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                // An inner span's field overrides an outer one's of the same name.
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// An event's fields as JSON values.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .expect("not poisoned")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_format_is_text_unless_json_is_named_and_anything_else_is_an_error() {
        assert_eq!(LogFormat::from_var(None), Ok(LogFormat::Text));
        assert_eq!(LogFormat::from_var(Some("")), Ok(LogFormat::Text));
        assert_eq!(LogFormat::from_var(Some("text")), Ok(LogFormat::Text));
        assert_eq!(LogFormat::from_var(Some("json")), Ok(LogFormat::Json));
        let error = LogFormat::from_var(Some("JSON5")).unwrap_err();
        assert!(error.contains("LIVESURGERY_LOG_FORMAT=JSON5"), "{error}");
    }

    #[test]
    fn a_json_line_holds_the_fields_of_its_spans_recorded_late_and_its_own() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_writer(move || writer.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!(
                "http.request",
                request_id = "r-1",
                user_id = tracing::field::Empty
            );
            let _request = request.enter();
            request.record("user_id", "u-1");
            let command = tracing::info_span!("command", session_id = "s-1");
            let _command = command.enter();
            tracing::info!(position = 7u64, error = "none", "appended \"quoted\"");
            drop(_command);
            drop(_request);
            tracing::warn!("outside");
        });
        let text =
            String::from_utf8(buffer.0.lock().expect("not poisoned").clone()).expect("UTF-8");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        let inner = &lines[0];
        assert_eq!(inner["request_id"], "r-1", "{inner}");
        assert_eq!(inner["user_id"], "u-1", "{inner}");
        assert_eq!(inner["session_id"], "s-1", "{inner}");
        assert_eq!(inner["position"], 7, "{inner}");
        assert_eq!(inner["message"], "appended \"quoted\"", "{inner}");
        assert_eq!(inner["span"], "command", "{inner}");
        assert_eq!(inner["level"], "INFO", "{inner}");
        let outer = &lines[1];
        assert_eq!(outer["message"], "outside", "{outer}");
        assert!(outer.get("request_id").is_none(), "{outer}");
        assert!(outer.get("span").is_none(), "{outer}");
    }
}
