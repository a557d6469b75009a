//! API tokens of service accounts: only their SHA-256 is stored
//! (`auth::tokens` makes and hashes them).

use tracing::instrument;

use super::{Store, StoreError, Timestamp, db, with_pool};

/// One token, as `odcs token list` shows it (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub owner: String,
    pub description: String,
    pub created_by: String,
    pub time_created: i64,
    pub time_expires: i64,
    pub time_revoked: Option<i64>,
    pub time_last_used: Option<i64>,
}

const TOKEN_COLUMNS: &str = "id, owner, description, created_by, time_created, time_expires, \
    time_revoked, time_last_used";

impl Store {
    /// Records a token by its hash; its id.
    #[instrument(skip(self, sha256), err(level = "debug"))]
    pub async fn create_token(
        &self,
        owner: &str,
        description: &str,
        sha256: &str,
        created_by: &str,
        expires: Timestamp,
    ) -> Result<i64, StoreError> {
        let sql = "INSERT INTO api_tokens (owner, description, token_sha256, created_by, \
                   time_created, time_expires) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        with_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(owner)
                .bind(description)
                .bind(sha256)
                .bind(created_by)
                .bind(Timestamp::now().0)
                .bind(expires.0)
                .fetch_one(pool)
                .await
                .map_err(db("create token"))
        })
    }

    /// Every token, newest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id DESC");
        with_pool!(self, |pool| {
            sqlx::query_as::<_, TokenRow>(&sql)
                .fetch_all(pool)
                .await
                .map_err(db("list tokens"))
        })
    }

    /// Revokes token `id`; whether it was live.
    pub async fn revoke_token(&self, id: i64) -> Result<bool, StoreError> {
        let sql = "UPDATE api_tokens SET time_revoked = $2 WHERE id = $1 AND time_revoked IS NULL";
        with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(id)
                .bind(Timestamp::now().0)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(db("revoke token"))
        })
    }

    /// The live (not revoked, not expired) token with this hash, marked used.
    pub async fn use_token(&self, sha256: &str) -> Result<Option<TokenRow>, StoreError> {
        let now = Timestamp::now().0;
        let sql = format!(
            "UPDATE api_tokens SET time_last_used = $2 WHERE token_sha256 = $1 \
             AND time_revoked IS NULL AND time_expires > $2 RETURNING {TOKEN_COLUMNS}"
        );
        with_pool!(self, |pool| {
            sqlx::query_as::<_, TokenRow>(&sql)
                .bind(sha256)
                .bind(now)
                .fetch_optional(pool)
                .await
                .map_err(db("look up token"))
        })
    }
}
