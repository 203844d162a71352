//! The command line: `dropcast serve [--demo]`, `dropcast admin create-creator --name NAME`.

use std::process::ExitCode;

use crate::configuration::Settings;
use crate::domain::text::Name;
use crate::startup::Application;

const USAGE: &str = "\
usage:
  dropcast serve [--demo]                  run the server (configured from the environment)
  dropcast admin create-creator --name N   print a new creator's API token
  dropcast --help | --version

  --demo  seed a demo creator, show and products, and print the URLs to open.
Environment variables are listed in shared/API.md; with none set the server
listens on 127.0.0.1:8080 and keeps its data in ./data.";

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve { demo: bool },
    CreateCreator { name: String },
    Help,
    Version,
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["help"] | ["--help"] | ["-h"] => Ok(Command::Help),
        ["--version"] | ["-V"] => Ok(Command::Version),
        ["serve"] => Ok(Command::Serve { demo: false }),
        ["serve", "--demo"] => Ok(Command::Serve { demo: true }),
        ["admin", "create-creator", "--name", name] => Ok(Command::CreateCreator {
            name: name.to_string(),
        }),
        ["admin", "create-creator", rest @ ..] => {
            match rest.first().and_then(|a| a.strip_prefix("--name=")) {
                Some(name) if rest.len() == 1 => Ok(Command::CreateCreator {
                    name: name.to_string(),
                }),
                _ => Err("admin create-creator needs --name NAME".into()),
            }
        }
        [other, ..] => Err(format!("unknown command {other:?}")),
    }
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dropcast: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("dropcast {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Serve { demo } => run(serve(demo)),
        Command::CreateCreator { name } => run(create_creator(name)),
    }
}

fn run(fut: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    crate::telemetry::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dropcast: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dropcast: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(demo: bool) -> Result<(), String> {
    let settings = Settings::from_env().map_err(|e| e.to_string())?;
    // Each live socket is a file descriptor: take every one the system allows.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open file limit"),
    }
    let app = Application::build(settings.clone())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        addr = %settings.http_addr,
        port = app.port(),
        database = %crate::configuration::redact_url(&settings.database_url),
        "dropcast listening"
    );
    if let Some(token) = app.generated_admin_token() {
        println!(
            "Admin token (generated for this run; set DROPCAST_ADMIN_TOKEN to keep one): {token}"
        );
    }
    if demo {
        let state = app.state();
        let seeded = crate::demo::seed(&state.pool)
            .await
            .map_err(|e| format!("demo seed failed: {e}"))?;
        crate::demo::print_urls(&seeded, &settings);
    }
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn create_creator(name: String) -> Result<(), String> {
    let name = Name::parse(&name).map_err(|e| format!("--name {e}"))?;
    let settings = Settings::from_env().map_err(|e| e.to_string())?;
    let pool = crate::db::open(&settings.database_url)
        .await
        .map_err(|e| e.to_string())?;
    let created = crate::routes::creators::create_creator(&pool, &name)
        .await
        .map_err(|e| format!("cannot create the creator: {e}"))?;
    pool.close().await;
    println!("{}", created.token);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse(&args("serve")), Ok(Command::Serve { demo: false }));
        assert_eq!(
            parse(&args("serve --demo")),
            Ok(Command::Serve { demo: true })
        );
        assert_eq!(
            parse(&args("admin create-creator --name Ann")),
            Ok(Command::CreateCreator { name: "Ann".into() })
        );
        assert_eq!(
            parse(&args("admin create-creator --name=Bo")),
            Ok(Command::CreateCreator { name: "Bo".into() })
        );
        assert_eq!(parse(&args("")), Ok(Command::Help));
        assert!(parse(&args("admin create-creator")).is_err());
        assert!(parse(&args("serve --nope")).is_err());
        assert!(parse(&args("launch")).is_err());
    }
}
