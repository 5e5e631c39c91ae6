//! `idp-admin`: the command-line client of Motcua's admin API.
//!
//! It only talks HTTP to a running `idp` (so an organisation's admin on
//! another machine uses the same tool with a narrower token). Errors are one
//! line on stderr, `idp-admin: <message>`, with exit code 1; usage errors are
//! clap's, with exit code 2.

mod api;
mod audit;
mod businesses;
mod client_update;
mod commands;
mod import;
mod keys;
mod output;
mod tokens;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Administer a Motcua identity provider through its admin API.
#[derive(Debug, Parser)]
#[command(name = "idp-admin", version, about, propagate_version = true)]
struct Cli {
    /// Base URL of the admin API.
    #[arg(long, env = "IDP_ADMIN_URL", default_value = "http://127.0.0.1:8081", global = true)]
    url: String,
    /// Admin token. Prefer the environment variable: other local users can
    /// read command lines.
    // Tokens are base64url: one in 64 starts with `-`, which must not read as a flag.
    #[arg(long, env = "IDP_ADMIN_TOKEN", hide_env_values = true, global = true, allow_hyphen_values = true)]
    token: Option<String>,
    /// Print the API's JSON answer instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Organisations: the federation members that own clients.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Clients: the relying parties (online services).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Users: citizen accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Signing keys: list, rotate, revoke, schedule, re-wrap, export the public JWKS.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Admin tokens: create, list, revoke (security-admin only).
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// The audit trail: tail, search, verify the hash chain.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Businesses (by tax code) and the citizens who act for them.
    #[command(subcommand)]
    Business(businesses::BusinessCommand),
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Create an organisation.
    Create {
        /// Short unique code: 2 to 32 of a-z, 0-9 and '-' (e.g. moh, hanoi).
        #[arg(long)]
        code: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// What kind of member it is.
        #[arg(long, value_parser = ["ministry", "province", "agency"])]
        kind: String,
    },
    /// List organisations.
    List,
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a client; a confidential client's secret is printed once.
    Register(Box<RegisterArgs>),
    /// List clients.
    List {
        /// Only this organisation's clients (code or id).
        #[arg(long)]
        org: Option<String>,
    },
    /// Show one client.
    Show {
        /// Client id.
        client_id: String,
    },
    /// Disable a client: it can no longer sign anyone in.
    Disable {
        /// Client id.
        client_id: String,
    },
    /// Change a client: each option replaces the value or list it names.
    Update(Box<client_update::UpdateArgs>),
    /// Issue a new client secret; the old one stops working at once, or after --grace.
    RotateSecret {
        /// Client id.
        client_id: String,
        /// Keep the old secret working this long (e.g. 1h, 7d; at most 30d) while the service rolls the new one out.
        #[arg(long, value_name = "DURATION", value_parser = keys::parse_duration)]
        grace: Option<i64>,
    },
}

/// Arguments of `client register`.
#[derive(Debug, Args)]
struct RegisterArgs {
    /// Display name shown to citizens on the consent page.
    #[arg(long)]
    name: String,
    /// Owning organisation (code or id).
    #[arg(long)]
    org: String,
    /// Confidential (has a server side that keeps a credential) or public (browser or mobile app).
    #[arg(long = "type", value_parser = ["confidential", "public"])]
    client_type: String,
    /// Token endpoint authentication: client_secret_basic (default for
    /// confidential), client_secret_post, private_key_jwt, none (public).
    #[arg(long)]
    auth_method: Option<String>,
    /// Redirect URI (exact match; https, or http on localhost). Repeat for several.
    #[arg(long = "redirect-uri", value_name = "URI", num_args = 1..)]
    redirect_uris: Vec<String>,
    /// Post-logout redirect URI. Repeat for several.
    #[arg(long = "post-logout-uri", value_name = "URI")]
    post_logout_uris: Vec<String>,
    /// Grant type (authorization_code, refresh_token, client_credentials,
    /// urn:ietf:params:oauth:grant-type:token-exchange). Repeat for several.
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<String>,
    /// Scope the client may request (openid, profile, email, phone, address,
    /// offline_access, national_id, business). Repeat for several.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// ID token signing algorithm (and the access tokens', unless
    /// --access-token-alg says otherwise).
    #[arg(long, value_parser = ["RS256", "PS256", "ES256", "EdDSA"])]
    signing_alg: Option<String>,
    /// Access token signing algorithm, when the service's APIs want another
    /// than its ID tokens (ES256: shorter tokens, far cheaper to sign).
    #[arg(long, value_parser = ["RS256", "PS256", "ES256", "EdDSA"])]
    access_token_alg: Option<String>,
    /// File holding the client's public JWKS (for private_key_jwt).
    #[arg(long, value_name = "FILE")]
    jwks_file: Option<std::path::PathBuf>,
    /// URL of the client's public JWKS (for private_key_jwt).
    #[arg(long, value_name = "URI")]
    jwks_uri: Option<String>,
    /// Do not require PKCE (confidential clients only).
    #[arg(long)]
    no_pkce: bool,
    /// The weakest authentication the service accepts: LoA1 (password, the
    /// default) or LoA2 (passkey); with LoA2 every sign-in for it needs a passkey.
    #[arg(long, value_name = "ACR", value_parser = ["LoA1", "LoA2"])]
    minimum_acr: Option<String>,
    /// Back-Channel Logout 1.0: where Motcua POSTs logout tokens when a
    /// session this service signed into ends (https, or http on localhost).
    #[arg(long, value_name = "URI")]
    backchannel_logout_uri: Option<String>,
    /// Front-Channel Logout 1.0: the page Motcua loads in an iframe at logout
    /// (with `iss` and `sid`).
    #[arg(long, value_name = "URI")]
    frontchannel_logout_uri: Option<String>,
    /// Subject identifiers (OIDC Core §8): public (one `sub` per citizen
    /// everywhere, the default) or pairwise (a `sub` per sector). Cannot change later.
    #[arg(long, value_name = "TYPE", value_parser = ["public", "pairwise"])]
    subject_type: Option<String>,
    /// Pairwise clients: a JSON array listing every redirect URI of the
    /// client; its host is the sector. Without it the redirect URIs must share one host.
    #[arg(long, value_name = "URI")]
    sector_identifier_uri: Option<String>,
    /// With the `business` scope, let the citizen choose to act as themself.
    #[arg(long, value_name = "BOOL")]
    business_self_allowed: Option<bool>,
    /// RFC 9126: take this client's authorization requests only when pushed
    /// to the PAR endpoint first (sent as a request_uri).
    #[arg(long, value_name = "BOOL")]
    require_par: Option<bool>,
    /// RFC 9449: refuse this client's token requests without a DPoP proof,
    /// so every access token it gets is bound to its key.
    #[arg(long, value_name = "BOOL")]
    dpop_bound: Option<bool>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a citizen account.
    Create {
        /// 12-digit national ID number.
        #[arg(long)]
        national_id: String,
        /// Full name.
        #[arg(long)]
        name: String,
        /// Email address.
        #[arg(long)]
        email: Option<String>,
        /// Phone number.
        #[arg(long)]
        phone: Option<String>,
        /// Date of birth, YYYY-MM-DD (in the year the national ID encodes).
        #[arg(long)]
        birthdate: Option<String>,
        /// female or male (nữ, nam), as the national ID encodes.
        #[arg(long)]
        gender: Option<String>,
        /// Postal address, one line.
        #[arg(long)]
        address: Option<String>,
        /// Read the initial password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List citizen accounts, ordered by account id.
    List {
        /// How many to show (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Start after this account id (the last one of the previous page).
        #[arg(long)]
        after: Option<String>,
    },
    /// Disable an account: it can no longer sign in, and its sessions end.
    Disable {
        /// Account id.
        account_id: String,
    },
    /// Import existing portal accounts from a CSV file (see the README for
    /// the format); idempotent, bad rows are reported by line.
    Import {
        /// CSV file: header national_id,full_name[,email,phone,birthdate,gender,address,password_hash].
        file: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("idp-admin: {failure}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use clap::Parser as _;

    use super::Cli;

    #[test]
    fn a_token_starting_with_a_hyphen_is_a_token() {
        let cli = Cli::try_parse_from(["idp-admin", "--token", "-Xy_z", "keys", "list"]).unwrap();
        assert_eq!(cli.token.as_deref(), Some("-Xy_z"));
    }
}
