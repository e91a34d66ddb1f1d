//! Per-contact channel settings (migration 0011): webhook and order of preference.

use sqlx::Row;
use ward_model::channels::ContactChannels;

use crate::{Store, StoreError};

impl Store {
    /// Stores (replacing) a contact's channel settings.
    pub async fn set_contact_channels(&self, c: &ContactChannels) -> Result<(), StoreError> {
        if self.get_contact(c.contact_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("contact {}", c.contact_id)));
        }
        sqlx::query(
            "INSERT INTO contact_channels (contact_id, webhook_url, webhook_format, webhook_secret, channels, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (contact_id) DO UPDATE SET webhook_url = excluded.webhook_url,
               webhook_format = excluded.webhook_format, webhook_secret = excluded.webhook_secret,
               channels = excluded.channels, updated_at = excluded.updated_at",
        )
        .bind(c.contact_id)
        .bind(c.webhook_url.clone())
        .bind(&c.webhook_format)
        .bind(c.webhook_secret.clone())
        .bind(c.channels.join(","))
        .bind(c.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A contact's channel settings; `None` when none were set.
    pub async fn contact_channels(
        &self,
        contact_id: i64,
    ) -> Result<Option<ContactChannels>, StoreError> {
        let row = sqlx::query(
            "SELECT contact_id, webhook_url, webhook_format, webhook_secret, channels, updated_at
             FROM contact_channels WHERE contact_id = $1",
        )
        .bind(contact_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let channels: String = r.try_get("channels")?;
        Ok(Some(ContactChannels {
            contact_id: r.try_get("contact_id")?,
            webhook_url: r.try_get("webhook_url")?,
            webhook_format: r.try_get("webhook_format")?,
            webhook_secret: r.try_get("webhook_secret")?,
            channels: channels
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            updated_at: r.try_get("updated_at")?,
        }))
    }
}
