//! `odcs token create|list|revoke`: API tokens of service accounts, made by
//! an administrator on a host with the service's configuration (and so its
//! database). The token is printed once; only its SHA-256 is stored.

use anyhow::Context;

use odcs::auth::tokens;
use odcs::store::Timestamp;

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Make a token that authenticates as USER (backend `token` must be on);
    /// prints it once.
    Create {
        #[command(flatten)]
        config: crate::ConfigArgs,
        /// The user the token acts as (the owner of the composes it makes).
        user: String,
        /// What the token is for, shown by `list`.
        #[arg(long, default_value = "")]
        description: String,
        /// Days until the token expires.
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// List the tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        config: crate::ConfigArgs,
    },
    /// Revoke a token by the id `create` and `list` show.
    Revoke {
        #[command(flatten)]
        config: crate::ConfigArgs,
        id: i64,
    },
}

fn who_runs_this() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "admin".into())
}

pub async fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            config,
            user,
            description,
            days,
        } => {
            anyhow::ensure!(
                !user.trim().is_empty() && !user.contains(char::is_whitespace),
                "the user name {user:?} is empty or has spaces"
            );
            anyhow::ensure!(days >= 1, "--days must be at least 1");
            let cfg = config.load()?;
            let store = odcs::service::open_store(&cfg).await?;
            let token = tokens::generate().map_err(anyhow::Error::msg)?;
            let expires = Timestamp::now().add_seconds(i64::from(days) * 86_400);
            let id = store
                .create_token(
                    &user,
                    &description,
                    &tokens::hash(&token),
                    &who_runs_this(),
                    expires,
                )
                .await
                .context("storing the token")?;
            eprintln!("token {id} for {user}, expires {expires}; it is shown only now:");
            println!("{token}");
            if !cfg
                .auth
                .backends
                .contains(&odcs::config::auth::Backend::Token)
            {
                eprintln!(
                    "note: [auth] backends does not have \"token\": the service does not accept tokens yet"
                );
            }
            store.close().await;
        }
        TokenCommand::List { config } => {
            let cfg = config.load()?;
            let store = odcs::service::open_store(&cfg).await?;
            let now = Timestamp::now().0;
            println!(
                "{:>5}  {:<16}  {:<20}  {:<20}  {:<8}  description",
                "id", "user", "expires", "last used", "state"
            );
            for t in store.list_tokens().await? {
                let state = if t.time_revoked.is_some() {
                    "revoked"
                } else if t.time_expires <= now {
                    "expired"
                } else {
                    "live"
                };
                println!(
                    "{:>5}  {:<16}  {:<20}  {:<20}  {:<8}  {}",
                    t.id,
                    t.owner,
                    Timestamp(t.time_expires).to_string(),
                    t.time_last_used
                        .map(|u| Timestamp(u).to_string())
                        .unwrap_or_else(|| "never".into()),
                    state,
                    t.description
                );
            }
            store.close().await;
        }
        TokenCommand::Revoke { config, id } => {
            let cfg = config.load()?;
            let store = odcs::service::open_store(&cfg).await?;
            let revoked = store.revoke_token(id).await?;
            store.close().await;
            anyhow::ensure!(revoked, "there is no live token {id}");
            eprintln!("token {id} revoked");
        }
    }
    Ok(())
}
