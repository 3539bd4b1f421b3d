//! One conformance suite for the store, run on SQLite and on PostgreSQL: one named test per
//! case on each engine (`sqlite::<case>` and `postgres::<case>`).
//!
//! PostgreSQL comes from `KEYWARD_TEST_DATABASE_URL`; each test gets its own schema. When the
//! variable is unset the PostgreSQL tests fail with an explanation, unless
//! `KEYWARD_TEST_SKIP_POSTGRES=1` says to skip them on purpose.

#![allow(clippy::unwrap_used)]

mod cases;

use keyward_store::Store;
use tempfile::TempDir;

/// A store plus whatever must outlive it.
pub struct Fixture {
    pub store: Store,
    _dir: Option<TempDir>,
    schema: Option<(String, String)>,
}

impl Fixture {
    async fn close(self) {
        self.store.close().await;
        if let Some((url, schema)) = self.schema {
            drop_schema(&url, &schema)
                .await
                .expect("drop the test schema");
        }
    }
}

async fn drop_schema(url: &str, schema: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&mut conn)
        .await?;
    Ok(())
}

pub async fn sqlite_fixture() -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open_sqlite(&dir.path().join("t.db"))
        .await
        .expect("open SQLite");
    Some(Fixture {
        store,
        _dir: Some(dir),
        schema: None,
    })
}

pub async fn postgres_fixture() -> Option<Fixture> {
    let url = match std::env::var("KEYWARD_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var("KEYWARD_TEST_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("PostgreSQL conformance skipped on purpose (KEYWARD_TEST_SKIP_POSTGRES=1)");
            return None;
        }
        _ => panic!(
            "KEYWARD_TEST_DATABASE_URL is not set: point it at a PostgreSQL database \
             (e.g. postgres://postgres@127.0.0.1:5432/test), or set KEYWARD_TEST_SKIP_POSTGRES=1"
        ),
    };
    let schema = format!("kw_test_{}", uuid::Uuid::new_v4().simple());
    let store = Store::open_postgres(&url, Some(&schema))
        .await
        .unwrap_or_else(|e| {
            panic!("KEYWARD_TEST_DATABASE_URL is set but PostgreSQL is unusable: {e}")
        });
    Some(Fixture {
        store,
        _dir: None,
        schema: Some((url, schema)),
    })
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some(f) = super::sqlite_fixture().await {
                        super::cases::$case(&f.store).await;
                        f.close().await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some(f) = super::postgres_fixture().await {
                        super::cases::$case(&f.store).await;
                        f.close().await;
                    }
                }
            )*
        }
    };
}

conformance!(
    create_then_find_by_id_and_alias,
    keys_are_scoped_to_their_instance,
    duplicate_alias_is_refused_and_nothing_is_written,
    list_filters_by_state_extractable_and_ring,
    list_pages_in_creation_order_and_count_ignores_paging,
    deactivated_and_auto_purged_keys_follow_the_clock,
    save_is_compare_and_set,
    policies_and_deletion_authorizations_are_saved_with_the_key,
    due_keys_are_found_by_their_schedule_and_a_lease_has_one_holder,
    instance_policies_replace_their_kind_and_keep_who_set_them_first,
    key_events_are_written_with_their_change_and_handed_on,
    add_version_is_atomic_with_the_key_update,
    versions_come_newest_first,
    purge_removes_key_versions_and_aliases,
    aliases_are_added_and_removed,
    key_rings_enforce_uniqueness_quota_and_emptiness,
    encryption_counter_only_grows,
    iam_accounts_principals_and_api_keys,
    iam_deleting_a_principal_takes_its_keys_and_policies,
    iam_signing_keys_newest_first,
    iam_policies_and_instances,
    settings_insert_if_absent_keeps_the_first_value,
    one_current_and_one_pending_per_tenant,
    fields_are_upserted_read_and_deleted,
    a_field_cannot_name_an_unknown_generation,
    batches_move_fields_and_promotion_waits_for_the_last,
    a_switch_turns_back_and_its_job_counts_what_returns,
    one_node_holds_a_job_and_a_node_that_lost_it_writes_nothing,
    audit_appends_from_two_writers_form_one_chain,
    audit_writers_appending_at_once_all_get_their_turn,
    a_change_commits_with_its_provisional_event,
);
