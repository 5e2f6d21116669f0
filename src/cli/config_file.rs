//! The configuration file: TOML, named by `--config PATH` or `LIVESURGERY_CONFIG`.
//!
//! Precedence: defaults < file < environment < flags. A key is a flag's name with `_` for `-`
//! (`read_wait_ms` for `--read-wait-ms`): every setting of `serve`, and the global
//! `database_url`, which every command reads. `ops/livesurgery.example.toml` lists them all.
//!
//! How: the command line is parsed once to learn the file's path; each value the file sets then
//! becomes the default of its argument, and the command line is parsed again. clap itself puts
//! the environment and the flags above a default, and the defaults stay written once, in the
//! `#[arg]` attributes, where `--help` shows them. A value from the file goes through the same
//! parser as a flag's, so it is checked the same way.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};

use super::Cli;

/// The command whose settings the file holds, besides [`DATABASE_URL`].
const SERVE: &str = "serve";
/// The one global setting the file may hold.
const DATABASE_URL: &str = "database_url";

/// A config file that cannot be used. Never quotes a value: it may be a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing or unreadable.
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("config file {}, line {line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// Keys that are no setting (misspelt, or of another command).
    #[error(
        "config file {}: unknown key{} {}; a key is a flag of `serve` (or `database_url`) \
         with `_` for `-`, as in ops/livesurgery.example.toml",
        path.display(),
        if keys.len() == 1 { "" } else { "s" },
        keys.iter().map(|key| format!("`{key}`")).collect::<Vec<_>>().join(", ")
    )]
    UnknownKeys { path: PathBuf, keys: Vec<String> },
    /// A value that the setting's own parser refuses.
    #[error("config file {}: bad value for `{key}`: {reason}", path.display())]
    BadValue {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

/// Why the command line, with its config file, could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// A usage error, or `--help` / `--version`: clap prints and exits with it.
    #[error(transparent)]
    CommandLine(#[from] clap::Error),
    /// The config file cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Parses `args` (the program name first), with the config file layered under the environment
/// and the flags.
pub fn parse_from<I, T>(args: I) -> Result<Cli, ParseError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = Cli::from_arg_matches(&Cli::command().try_get_matches_from(&args)?)?;
    let Some(path) = &cli.config else {
        return Ok(cli);
    };
    let values = load(path)?;
    let command = with_defaults(Cli::command(), values);
    Ok(Cli::from_arg_matches(
        &command.try_get_matches_from(&args)?,
    )?)
}

/// One setting the file gives: the argument's id and its values (several for a list).
type FileValue = (String, Vec<String>);

/// Reads and checks a config file: every key a setting, every value one its parser accepts.
fn load(path: &Path) -> Result<Vec<FileValue>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// [`load`] on the text of the file at `path`.
fn parse(path: &Path, text: &str) -> Result<Vec<FileValue>, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        // toml's own rendering quotes the line, which may hold a secret: the line number only.
        line: e
            .span()
            .and_then(|span| text.get(..span.start))
            .map_or(0, |before| before.matches('\n').count())
            + 1,
        message: e.message().trim_end().to_owned(),
    })?;
    let settings = settings();
    let unknown: Vec<String> = table
        .keys()
        .filter(|key| !settings.iter().any(|arg| arg.get_id() == key.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(ConfigError::UnknownKeys {
            path: path.to_owned(),
            keys: unknown,
        });
    }
    settings
        .iter()
        .filter_map(|arg| Some((arg, table.get(arg.get_id().as_str())?)))
        .map(|(arg, value)| {
            let values = checked(arg, value).map_err(|reason| ConfigError::BadValue {
                path: path.to_owned(),
                key: arg.get_id().to_string(),
                reason,
            })?;
            Ok((arg.get_id().to_string(), values))
        })
        .collect()
}

/// The arguments a file may set: the global database URL and every setting of `serve`.
fn settings() -> Vec<Arg> {
    let cli = Cli::command();
    let global = cli
        .get_arguments()
        .filter(|arg| arg.get_id() == DATABASE_URL);
    let serve = cli
        .find_subcommand(SERVE)
        .into_iter()
        .flat_map(Command::get_arguments);
    global
        .chain(serve)
        .filter(|arg| arg.get_long().is_some())
        .cloned()
        .collect()
}

/// The file's value for `arg` as the strings a flag would carry, once its parser accepts them.
fn checked(arg: &Arg, value: &toml::Value) -> Result<Vec<String>, String> {
    let list = matches!(arg.get_action(), ArgAction::Append);
    let values = match value {
        toml::Value::Array(items) if list => items
            .iter()
            .map(|item| scalar(item).ok_or_else(|| "expected an array of strings".to_owned()))
            .collect::<Result<Vec<_>, _>>()?,
        toml::Value::Array(_) => return Err("expected one value, not an array".to_owned()),
        other => vec![
            scalar(other).ok_or_else(|| "expected a string, an integer or a boolean".to_owned())?,
        ],
    };
    let long = arg.get_long().unwrap_or_default();
    // A `--flag=value` for each value, through the argument itself: the same parser, the same
    // limits, the same list splitting as on the command line.
    let probe = Command::new("config-file")
        .no_binary_name(true)
        .arg(arg.clone().env(None).global(false));
    probe
        .try_get_matches_from(values.iter().map(|v| format!("--{long}={v}")))
        .map_err(|e| match std::error::Error::source(&e) {
            // The parser's reason only: clap's own message quotes the value.
            Some(reason) => reason.to_string(),
            None => "not a valid value".to_owned(),
        })?;
    Ok(values)
}

/// A TOML string or integer, as a flag would spell it.
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `command` with each file value as the default of its argument.
fn with_defaults(command: Command, values: Vec<FileValue>) -> Command {
    // Every id comes from `settings()`, so `mut_arg` finds it (it panics on an unknown id).
    values.into_iter().fold(command, |command, (id, values)| {
        let set = |arg: Arg| arg.default_values(values);
        if id == DATABASE_URL {
            command.mut_arg(id, set)
        } else {
            command.mut_subcommand(SERVE, |serve| serve.mut_arg(id, set))
        }
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::cli::Command as Subcommand;
    use crate::settings::{ApiSettings, DatabaseUrl};

    const SECRET: &str = "an-example-signing-key-of-40-characters!";

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
        file.write_all(text.as_bytes()).expect("writing it");
        file
    }

    /// `livesurgery --config FILE ARGS…` parsed; the settings of `serve`.
    fn serve(
        config: &tempfile::NamedTempFile,
        args: &[&str],
    ) -> (DatabaseUrl, String, ApiSettings) {
        let path = config.path().to_str().expect("a UTF-8 path");
        let cli = parse_from(
            ["livesurgery", "--config", path, "serve"]
                .iter()
                .chain(args),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        match cli.command {
            Subcommand::Serve { addr, api } => (cli.database_url, addr, *api),
            other => panic!("parsed {other:?}"),
        }
    }

    fn config_error(text: &str) -> (ConfigError, String) {
        let config = file(text);
        let path = config.path().to_str().expect("a UTF-8 path").to_owned();
        match parse_from(["livesurgery", "--config", &path, "migrate"]) {
            Err(ParseError::Config(e)) => (e, path),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn a_file_value_replaces_the_default_and_the_rest_keep_theirs() {
        let config = file(
            "addr = \"127.0.0.1:9001\"\nread_wait_ms = 1234\n\
             database_url = \"postgres://app:hunter2@db/ls\"\n\
             ice_servers = [\"stun:a.example.org:3478\", \"stun:b.example.org:3478\"]\n",
        );
        let (database_url, addr, api) = serve(&config, &[]);
        assert_eq!(addr, "127.0.0.1:9001");
        assert_eq!(api.read_wait_ms, 1234);
        assert_eq!(database_url.expose(), "postgres://app:hunter2@db/ls");
        assert_eq!(
            api.ice_servers,
            ["stun:a.example.org:3478", "stun:b.example.org:3478"]
        );
        let defaults = ApiSettings::default();
        assert_eq!(api.ws_queue, defaults.ws_queue);
        assert_eq!(api.sfu_udp_bind, "0.0.0.0:3480");
    }

    #[test]
    fn a_flag_beats_the_file() {
        let config = file("addr = \"127.0.0.1:9001\"\nread_wait_ms = 1234\n");
        let (_, addr, api) = serve(&config, &["--read-wait-ms", "7"]);
        assert_eq!(api.read_wait_ms, 7);
        assert_eq!(addr, "127.0.0.1:9001", "the file still sets the rest");
    }

    #[test]
    fn the_database_url_of_the_file_applies_to_every_command_and_a_flag_beats_it() {
        let config = file("database_url = \"sqlite://from-file.db\"\nws_queue = 8\n");
        let path = config.path().to_str().expect("a UTF-8 path");
        let cli = parse_from(["livesurgery", "migrate", "--config", path]).expect("parses");
        assert_eq!(cli.database_url.expose(), "sqlite://from-file.db");
        let cli = parse_from([
            "livesurgery",
            "--database-url",
            "sqlite://from-flag.db",
            "--config",
            path,
            "migrate",
        ])
        .expect("parses");
        assert_eq!(cli.database_url.expose(), "sqlite://from-flag.db");
    }

    #[test]
    fn secrets_from_the_file_are_used_but_never_printed() {
        let config = file(&format!(
            "jwt_secret = \"{SECRET}\"\nturn_secret = \"{SECRET}\"\n\
             database_url = \"postgres://app:hunter2@db/ls\"\n"
        ));
        let (database_url, _, api) = serve(&config, &[]);
        assert_eq!(api.jwt_secret.as_ref().map(|s| s.expose()), Some(SECRET));
        let printed = format!("{database_url:?} {database_url} {api:?}");
        assert!(
            !printed.contains(SECRET) && !printed.contains("hunter2"),
            "{printed}"
        );
    }

    #[test]
    fn the_environment_beats_the_file_and_a_flag_beats_the_environment() {
        // The environment is the whole process's (and setting it is unsafe): the check runs in
        // a child process, this same test started again with the variables set.
        if std::env::var_os(CHILD).is_some() {
            let config = file("read_wait_ms = 1234\nws_queue = 8\nturn_ttl_secs = 60\n");
            let (_, _, api) = serve(&config, &["--ws-queue", "99"]);
            assert_eq!(api.read_wait_ms, 55, "the environment beats the file");
            assert_eq!(
                api.ws_queue, 99,
                "a flag beats the environment and the file"
            );
            assert_eq!(api.turn_ttl_secs, 60, "the file beats the default");
            assert_eq!(
                ApiSettings::default().read_wait_ms,
                5000,
                "the defaults read no environment"
            );
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "cli::config_file::tests::the_environment_beats_the_file_and_a_flag_beats_the_environment",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .env("LIVESURGERY_READ_WAIT_MS", "55")
            .env("LIVESURGERY_WS_QUEUE", "77")
            .env_remove("LIVESURGERY_TURN_TTL_SECS")
            .output()
            .expect("running the test binary");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("1 passed"),
            "the child ran the check: {stdout}"
        );
    }

    /// Set in the child process of the environment test.
    const CHILD: &str = "LIVESURGERY_TEST_CONFIG_FILE_CHILD";

    #[test]
    fn without_a_file_nothing_changes() {
        let cli = parse_from(["livesurgery", "serve", "--ws-queue", "9"]).expect("parses");
        let Subcommand::Serve { api, .. } = cli.command else {
            panic!("parsed {:?}", cli.command);
        };
        assert_eq!(api.ws_queue, 9);
        assert_eq!(api.read_wait_ms, ApiSettings::default().read_wait_ms);
    }

    #[test]
    fn demo_mode_is_a_bare_flag_or_a_boolean_in_the_file() {
        let parse = |args: &[&str]| match parse_from(args).expect("parses").command {
            Subcommand::Serve { api, .. } => api.demo,
            other => panic!("parsed {other:?}"),
        };
        assert!(!parse(&["livesurgery", "serve"]));
        assert!(parse(&["livesurgery", "serve", "--demo"]));
        assert!(parse(&[
            "livesurgery",
            "serve",
            "--demo",
            "--addr",
            "127.0.0.1:1"
        ]));
        assert!(!parse(&["livesurgery", "serve", "--demo=false"]));
        let config = file("demo = true\n");
        let (_, _, api) = serve(&config, &[]);
        assert!(api.demo, "the file's `demo = true`");
        let (_, _, api) = serve(&config, &["--demo=false"]);
        assert!(!api.demo, "a flag beats the file");
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it_and_the_file() {
        let (error, path) =
            config_error("read_wait_ms = 10\nread_wiat_ms = 10\n[serve]\naddr = \"x\"\n");
        let message = error.to_string();
        assert!(
            matches!(&error, ConfigError::UnknownKeys { keys, .. } if keys == &["read_wiat_ms", "serve"]),
            "{message}"
        );
        assert!(
            message.contains("unknown keys `read_wiat_ms`, `serve`") && message.contains(&path),
            "{message}"
        );
        // The file cannot name another file, nor set what only a flag of another command sets.
        for key in ["config", "postgres_url"] {
            let (error, _) = config_error(&format!("{key} = \"x\"\n"));
            assert!(
                error.to_string().contains(&format!("unknown key `{key}`")),
                "{error}"
            );
        }
    }

    #[test]
    fn a_bad_value_names_the_key_and_the_file() {
        let (error, path) = config_error("read_wait_ms = \"soon\"\n");
        let message = error.to_string();
        assert!(
            message.contains("`read_wait_ms`") && message.contains(&path),
            "{message}"
        );
        assert!(message.contains("invalid digit"), "{message}");
        for (text, key) in [
            ("ws_queue = -1\n", "ws_queue"),
            ("sfu_public_ip = \"not-an-ip\"\n", "sfu_public_ip"),
            ("database_url = \"mysql://x\"\n", "database_url"),
            ("addr = [\"127.0.0.1:1\"]\n", "addr"),
            ("ice_servers = [1.5]\n", "ice_servers"),
            ("read_wait_ms = 1.5\n", "read_wait_ms"),
        ] {
            let (error, _) = config_error(text);
            assert!(
                matches!(&error, ConfigError::BadValue { key: k, .. } if k == key),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn a_refused_secret_is_not_quoted_in_the_error() {
        let (error, _) = config_error("jwt_secret = \"too-short-to-sign\"\n");
        let message = error.to_string();
        assert!(
            message.contains("`jwt_secret`") && message.contains("32"),
            "{message}"
        );
        assert!(!message.contains("too-short-to-sign"), "{message}");
        let (error, _) = config_error(&format!("turn_ttl_secs = 1\njwt_secret = \"{SECRET}\n"));
        let message = error.to_string();
        assert!(
            matches!(error, ConfigError::Syntax { line: 2, .. }),
            "{message}"
        );
        assert!(!message.contains(SECRET), "{message}");
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("absent.toml");
        let path = path.to_str().expect("a UTF-8 path");
        match parse_from(["livesurgery", "--config", path, "serve"]) {
            Err(ParseError::Config(error @ ConfigError::Read { .. })) => {
                assert!(error.to_string().contains(path), "{error}");
            }
            other => panic!("expected a read error, got {other:?}"),
        }
    }

    /// The example file, with every `# key = value` line uncommented.
    fn example_uncommented() -> String {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/livesurgery.example.toml");
        let text = std::fs::read_to_string(example).expect("ops/livesurgery.example.toml");
        text.lines()
            .filter_map(|line| line.strip_prefix("# "))
            .filter(|line| {
                line.split_once(" = ").is_some_and(|(key, _)| {
                    key.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                })
            })
            .map(|line| format!("{line}\n"))
            .collect()
    }

    #[test]
    fn the_example_file_parses_as_shipped_and_with_every_setting_uncommented() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/livesurgery.example.toml");
        load(Path::new(example)).unwrap_or_else(|e| panic!("{e}"));
        let path = Path::new("livesurgery.example.toml, uncommented");
        let values = parse(path, &example_uncommented()).unwrap_or_else(|e| panic!("{e}"));
        for arg in settings() {
            let id = arg.get_id().as_str();
            let (_, documented) = values
                .iter()
                .find(|(key, _)| key == id)
                .unwrap_or_else(|| panic!("the example documents `{id}`"));
            let defaults: Vec<_> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            if !defaults.is_empty() {
                assert_eq!(documented, &defaults, "the example gives `{id}`'s default");
            }
        }
    }
}
