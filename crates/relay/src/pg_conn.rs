//! A PostgreSQL connection with its prepared statements: each statement is parsed and planned
//! once per connection, then every call is a single round trip (bind and execute) instead of
//! two (prepare, then execute), which halves the work of both the relay and the database.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Error, Row, Statement};

/// A client and the statements prepared on it.
pub(crate) struct Conn {
    client: Client,
    prepared: Mutex<HashMap<String, Statement>>,
}

impl Conn {
    pub(crate) fn new(client: Client) -> Self {
        Conn { client, prepared: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    async fn statement(&self, sql: &str) -> Result<Statement, Error> {
        let known = self.prepared.lock().unwrap_or_else(PoisonError::into_inner).get(sql).cloned();
        if let Some(s) = known {
            return Ok(s);
        }
        let s = self.client.prepare(sql).await?;
        self.prepared.lock().unwrap_or_else(PoisonError::into_inner).insert(sql.to_string(), s.clone());
        Ok(s)
    }

    pub(crate) async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        self.client.query(&self.statement(sql).await?, params).await
    }

    pub(crate) async fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        self.client.query_one(&self.statement(sql).await?, params).await
    }

    pub(crate) async fn query_opt(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, Error> {
        self.client.query_opt(&self.statement(sql).await?, params).await
    }

    pub(crate) async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.client.execute(&self.statement(sql).await?, params).await
    }
}
