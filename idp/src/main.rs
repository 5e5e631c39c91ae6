//! The `idp` binary: serve (default), `migrate`, `bootstrap-admin`, `check-config`, `probe`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use idp::clock::{Clock as _, SystemClock};
use idp::config::{Config, Flags};

/// Motcua OpenID Connect identity provider.
#[derive(Parser)]
#[command(name = "idp", version, about)]
struct Cli {
    /// TOML configuration file (also IDP_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Issuer URL (overrides IDP_ISSUER).
    #[arg(long, global = true)]
    issuer: Option<String>,
    /// Public listen address (overrides IDP_LISTEN).
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    /// Database URL (overrides IDP_DATABASE_URL).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the public and admin listeners (the default).
    Serve,
    /// Apply database migrations and exit (run before starting upgraded nodes).
    Migrate,
    /// Create a security-admin token and print it on stdout.
    BootstrapAdmin {
        /// A label to recognise the token by.
        #[arg(long, default_value = "bootstrap")]
        label: String,
    },
    /// Check the configuration without connecting anywhere; print the
    /// effective settings (secrets redacted), or name the bad key and exit 1.
    CheckConfig,
    /// GET a path on this node's public listener; exit 0 on 200 (the
    /// container health check: the runtime image has no curl).
    Probe {
        /// The path to ask for.
        #[arg(long, default_value = "/readyz")]
        path: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let flags =
        Flags { config_file: cli.config, issuer: cli.issuer, listen: cli.listen, database_url: cli.database_url };
    let config = match Config::load(&flags, std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("idp: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(Command::CheckConfig) = cli.command {
        return match idp::app::check_config(&config) {
            Ok(settings) => {
                print!("{settings}");
                eprintln!("configuration OK");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("idp: configuration: {e}");
                ExitCode::FAILURE
            }
        };
    }
    init_logging(&config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("idp: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => idp::app::serve(config).await,
            Command::CheckConfig => Ok(()),
            Command::Probe { path } => idp::app::probe(&config, &path).await,
            Command::Migrate => {
                idp::app::open_store(&config).await?;
                eprintln!("migrations applied");
                Ok(())
            }
            Command::BootstrapAdmin { label } => {
                let store = idp::app::open_store(&config).await?;
                let (_, token) = idp::domain::admin::bootstrap_admin_token(store.as_ref(), SystemClock.now(), &label)
                    .await
                    .map_err(|e| idp::app::StartError(e.to_string()))?;
                println!("{}", token.expose());
                eprintln!("security-admin token created; export IDP_ADMIN_TOKEN=<the line above> for idp-admin");
                Ok(())
            }
        }
    });
    // Do not wait for blocking work (an Argon2id hash) abandoned when the
    // shutdown grace ran out.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idp: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
