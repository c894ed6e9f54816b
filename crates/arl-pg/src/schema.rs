//! The schema: created and migrated by arl itself when a store is opened, under a
//! transaction-scoped advisory lock so that nodes starting together do it once.

use arl_log::LogError;
use postgres::Transaction;

/// The schema version this build creates and reads. A store with a newer one is refused.
pub const SCHEMA_VERSION: i32 = 2;

/// The advisory lock key that serializes schema creation and migrations.
const MIGRATION_LOCK: i64 = 0x6172_6c5f_7363_6865; // "arl_sche"

/// Version 1: every table the log needs. Integers that are u64 in the log (hashes) are
/// stored as the bigint of the same 64 bits.
pub const SCHEMA_V1: &str = "
CREATE TABLE arl_head (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq bigint NOT NULL,
    data_len bigint NOT NULL,
    meta bytea
);
INSERT INTO arl_head (seq, data_len, meta) VALUES (0, 0, NULL);
CREATE TABLE arl_frames (start bigint PRIMARY KEY, bytes bytea NOT NULL);
CREATE TABLE arl_blocks (block bigint PRIMARY KEY, start bigint NOT NULL);
CREATE TABLE arl_nodes (
    level smallint NOT NULL,
    idx bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE arl_ids (hash bigint NOT NULL, seq bigint NOT NULL);
CREATE INDEX arl_ids_hash ON arl_ids (hash);
CREATE TABLE arl_streams (hash bigint NOT NULL, seq bigint NOT NULL);
CREATE INDEX arl_streams_hash ON arl_streams (hash, seq);
CREATE TABLE arl_versions (name bytea PRIMARY KEY, hash bigint NOT NULL, version bigint NOT NULL);
CREATE INDEX arl_versions_hash ON arl_versions (hash);
";

/// Version 2: the key store of a sealing ledger (docs/PRIVACY.md), shared by the nodes.
/// `arl_sealing` holds a row once sealing is on; `arl_keys` a row per data subject, whose
/// `n` is the key reference that sealed values carry. An erased key is `NULL`.
pub const SCHEMA_V2: &str = "
CREATE TABLE arl_sealing (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    since bigint NOT NULL
);
CREATE TABLE arl_keys (
    n integer GENERATED ALWAYS AS IDENTITY (MINVALUE 0 START WITH 0) PRIMARY KEY,
    kind smallint NOT NULL CHECK (kind IN (1, 2)),
    subject text NOT NULL,
    key bytea CHECK (key IS NULL OR octet_length(key) = 32),
    erased_at bigint,
    CHECK ((key IS NULL) = (erased_at IS NOT NULL)),
    UNIQUE (kind, subject)
);
";

/// The migrations, in order: entry `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2];

/// Creates or migrates the schema; returns the ledger id. Refuses a newer schema.
pub(crate) fn migrate(tx: &mut Transaction<'_>, describe: &str) -> Result<String, LogError> {
    let err = |e: postgres::Error| crate::store::backend(describe, "creating the schema", &e);
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(err)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS arl_schema (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            version integer NOT NULL,
            ledger_id text NOT NULL
        )",
    )
    .map_err(err)?;
    let row = tx
        .query_opt("SELECT version, ledger_id FROM arl_schema", &[])
        .map_err(err)?;
    let (mut version, ledger_id) = if let Some(row) = row {
        (row.get::<_, i32>(0), row.get::<_, String>(1))
    } else {
        let id = uuid::Uuid::now_v7().to_string();
        tx.execute(
            "INSERT INTO arl_schema (version, ledger_id) VALUES (0, $1)",
            &[&id],
        )
        .map_err(err)?;
        (0, id)
    };
    if version < 0 {
        return Err(LogError::Backend {
            what: format!(
                "{describe} holds an arl schema of version {version}, which no arl wrote"
            ),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(LogError::Backend {
            what: format!(
                "{describe} holds an arl schema of version {version}; this arl knows versions up to {SCHEMA_VERSION}: upgrade arl"
            ),
        });
    }
    while version < SCHEMA_VERSION {
        let step = MIGRATIONS[version as usize];
        tx.batch_execute(step).map_err(err)?;
        version += 1;
        tx.execute("UPDATE arl_schema SET version = $1", &[&version])
            .map_err(err)?;
    }
    Ok(ledger_id)
}
