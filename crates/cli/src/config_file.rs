//! `keyward serve --config FILE`: the settings of `serve` in a TOML file, in two stages. First
//! the file is read raw: a table whose keys must be `serve`'s long flag names (an unknown key is
//! refused by name) and whose values are strings, integers, booleans or arrays of them. Then each
//! value becomes the default of its flag, so that the environment variable and the flag, when
//! given, win: file < environment < flags. The values are checked by the same parsers as the
//! flags', and the settings they make by the same validation as every start.

use std::path::Path;

use clap::Command;

/// Keys a file may not set: test-only switches.
const REFUSED: &[&str] = &["unsafe-test-clock"];

/// One setting of the file: a flag's long name and its value(s), as text.
#[derive(Debug, PartialEq, Eq)]
pub struct FileSetting {
    /// The flag's long name (the key in the file).
    pub key: String,
    /// Its value, or values for a repeatable flag.
    pub values: Vec<String>,
}

/// Reads `path` into settings of `serve` (the raw stage): unknown keys and values of the wrong
/// shape are refused, naming the key.
pub fn read(path: &Path, serve: &Command) -> Result<Vec<FileSetting>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the configuration file {}: {e}", path.display()))?;
    parse(&text, serve).map_err(|e| format!("{}: {e}", path.display()))
}

/// [`read`] on text.
pub fn parse(text: &str, serve: &Command) -> Result<Vec<FileSetting>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.message().to_owned())?;
    let known: Vec<&str> = serve
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|long| !["config", "help", "version"].contains(long))
        .collect();
    let mut settings = Vec::new();
    for (key, value) in table {
        if REFUSED.contains(&key.as_str()) {
            return Err(format!("`{key}` cannot be set in a configuration file"));
        }
        if !known.contains(&key.as_str()) {
            return Err(format!(
                "unknown key `{key}` (the keys are serve's flag names without `--`, e.g. `listen`, `data-dir`)"
            ));
        }
        let values = match value {
            toml::Value::Array(items) => items
                .into_iter()
                .map(|v| scalar(&key, v))
                .collect::<Result<_, _>>()?,
            other => vec![scalar(&key, other)?],
        };
        settings.push(FileSetting { key, values });
    }
    Ok(settings)
}

fn scalar(key: &str, value: toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(format!(
            "`{key}` takes a string, an integer, a boolean, or an array of them"
        )),
    }
}

/// `serve` with each setting as the default of its flag.
pub fn apply(mut serve: Command, settings: &[FileSetting]) -> Command {
    for setting in settings {
        let id = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(setting.key.as_str()))
            .map(|a| a.get_id().clone());
        if let Some(id) = id {
            let values = setting.values.clone();
            serve = serve.mut_arg(id, move |arg| arg.default_values(values));
        }
    }
    serve
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve() -> Command {
        Command::new("serve")
            .arg(
                clap::Arg::new("listen")
                    .long("listen")
                    .default_value("127.0.0.1:8080"),
            )
            .arg(
                clap::Arg::new("endpoints")
                    .long("kms-endpoint")
                    .action(clap::ArgAction::Append),
            )
            .arg(
                clap::Arg::new("insecure")
                    .long("insecure-http")
                    .action(clap::ArgAction::SetTrue),
            )
            .arg(
                clap::Arg::new("clock")
                    .long("unsafe-test-clock")
                    .action(clap::ArgAction::SetTrue),
            )
    }

    #[test]
    fn unknown_keys_and_bad_shapes_are_refused_by_name() {
        let err = parse("listen = \"0.0.0.0:1\"\nlisten_on = 3", &serve()).expect_err("refused");
        assert!(err.contains("`listen_on`"), "{err}");
        let err = parse("listen = { a = 1 }", &serve()).expect_err("refused");
        assert!(err.contains("`listen`"), "{err}");
        let err = parse("unsafe-test-clock = true", &serve()).expect_err("refused");
        assert!(err.contains("`unsafe-test-clock`"), "{err}");
        assert!(parse("listen = ", &serve()).is_err());
    }

    #[test]
    fn the_file_gives_defaults_that_flags_override() {
        let text = "listen = \"127.0.0.1:9000\"\nkms-endpoint = [\"a:r=self\", \"b:r=self\"]\ninsecure-http = true";
        let settings = parse(text, &serve()).expect("parsed");
        let command = apply(serve(), &settings);
        let from_file = command
            .clone()
            .try_get_matches_from(["serve"])
            .expect("matches");
        assert_eq!(
            from_file.get_one::<String>("listen").map(String::as_str),
            Some("127.0.0.1:9000")
        );
        assert_eq!(
            from_file.get_many::<String>("endpoints").map(|v| v.count()),
            Some(2)
        );
        assert!(from_file.get_flag("insecure"));
        let flagged = command
            .try_get_matches_from(["serve", "--listen", "127.0.0.1:9100"])
            .expect("matches");
        assert_eq!(
            flagged.get_one::<String>("listen").map(String::as_str),
            Some("127.0.0.1:9100")
        );
    }
}
