#![allow(clippy::unwrap_used)]

//! The conformance cases; each takes a fresh, migrated store.

use keyward_iam::{
    AccountId, ApiKeyRecord, ApiKeySecret, IamStore, Instance, Policy, PolicyResource, Principal,
    PrincipalKind, Role, ServiceKind, SigningKeyRecord, Subject,
};
use keyward_kms::{
    Alias, AliasLimits, DeletionAuthorization, InstanceId, Key, KeyEvent, KeyEventKind, KeyId,
    KeyPolicies, KeyQuery, KeyRef, KeyRing, KeyRingId, KeyState, KeyStore, KeyVersionId, KmsError,
    PolicyChange, RotationSchedule, StoredVersion, VersionInfo,
};
use keyward_store::Store;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

fn t0() -> OffsetDateTime {
    // Millisecond precision, as stored.
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn key(instance: InstanceId, name: &str, created: OffsetDateTime) -> (Key, StoredVersion) {
    let id = KeyId::new_random();
    let version = StoredVersion {
        id: KeyVersionId::new_random(),
        key_id: id,
        created_at: created,
        wrapped_material: vec![1, 2, 3, 4],
    };
    let key = Key {
        id,
        instance,
        name: name.to_owned(),
        description: Some("d".into()),
        tags: vec!["t1".into(), "t2".into()],
        extractable: false,
        imported: false,
        state: KeyState::Active,
        bit_length: 256,
        expiration: None,
        key_ring: KeyRingId::default_ring(),
        aliases: vec![],
        created_at: created,
        created_by: "IBMid-test".into(),
        updated_at: created,
        last_rotated_at: None,
        state_changed_at: created,
        deleted_at: None,
        deleted_by: None,
        current_version: VersionInfo {
            id: version.id,
            created_at: created,
        },
        policies: KeyPolicies::default(),
        deletion_authorization: None,
        revision: 0,
    };
    (key, version)
}

fn alias(s: &str) -> Alias {
    s.parse().unwrap()
}

fn ring(s: &str) -> KeyRingId {
    s.parse().unwrap()
}

fn query(states: &[KeyState]) -> KeyQuery {
    KeyQuery {
        states: states.to_vec(),
        extractable: None,
        key_ring: None,
        rings: None,
        limit: 200,
        offset: 0,
    }
}

const LIMITS: AliasLimits = AliasLimits {
    per_key: 5,
    per_instance: 1000,
};

const LIVE: [KeyState; 3] = [KeyState::Active, KeyState::Suspended, KeyState::Deactivated];

pub async fn create_then_find_by_id_and_alias(s: &Store) {
    let i = InstanceId::new_random();
    let (mut k, v) = key(i, "one", t0());
    k.aliases = vec![alias("first"), alias("second")];
    s.create_key(&k, &v).await.unwrap();
    let by_id = s.find_key(i, &KeyRef::Id(k.id)).await.unwrap().unwrap();
    assert_eq!(by_id, k);
    let by_alias = s
        .find_key(i, &KeyRef::Alias(alias("second")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_alias.id, k.id);
    assert!(
        s.find_key(i, &KeyRef::Alias(alias("third")))
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn keys_are_scoped_to_their_instance(s: &Store) {
    let (i, other) = (InstanceId::new_random(), InstanceId::new_random());
    let (mut k, v) = key(i, "one", t0());
    k.aliases = vec![alias("shared-name")];
    s.create_key(&k, &v).await.unwrap();
    assert!(
        s.find_key(other, &KeyRef::Id(k.id))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.find_key(other, &KeyRef::Alias(alias("shared-name")))
            .await
            .unwrap()
            .is_none()
    );
    // The same alias may exist in another instance.
    let (mut k2, v2) = key(other, "two", t0());
    k2.aliases = vec![alias("shared-name")];
    s.create_key(&k2, &v2).await.unwrap();
    assert_eq!(s.count_keys(other, &query(&LIVE), t0()).await.unwrap(), 1);
}

pub async fn duplicate_alias_is_refused_and_nothing_is_written(s: &Store) {
    let i = InstanceId::new_random();
    let (mut a, va) = key(i, "a", t0());
    a.aliases = vec![alias("taken")];
    s.create_key(&a, &va).await.unwrap();
    let (mut b, vb) = key(i, "b", t0());
    b.aliases = vec![alias("taken")];
    assert!(matches!(
        s.create_key(&b, &vb).await,
        Err(KmsError::AliasTaken)
    ));
    assert!(s.find_key(i, &KeyRef::Id(b.id)).await.unwrap().is_none());
    assert!(s.versions(b.id).await.unwrap().is_empty());
    assert!(matches!(
        s.add_alias(i, b.id, &alias("taken"), t0(), "u", LIMITS)
            .await,
        Err(KmsError::AliasTaken)
    ));
}

pub async fn list_filters_by_state_extractable_and_ring(s: &Store) {
    let i = InstanceId::new_random();
    s.create_key_ring(
        i,
        &KeyRing {
            id: ring("r1"),
            created_at: t0(),
            created_by: "u".into(),
        },
        49,
    )
    .await
    .unwrap();
    let (root, v1) = key(i, "root", t0());
    let (mut standard, v2) = key(i, "standard", t0() + Duration::seconds(1));
    standard.extractable = true;
    standard.key_ring = ring("r1");
    let (mut suspended, v3) = key(i, "suspended", t0() + Duration::seconds(2));
    suspended.state = KeyState::Suspended;
    let (mut destroyed, v4) = key(i, "destroyed", t0() + Duration::seconds(3));
    destroyed.state = KeyState::Destroyed;
    destroyed.deleted_at = Some(t0());
    for (k, v) in [
        (&root, &v1),
        (&standard, &v2),
        (&suspended, &v3),
        (&destroyed, &v4),
    ] {
        s.create_key(k, v).await.unwrap();
    }
    let names = |ks: Vec<Key>| ks.into_iter().map(|k| k.name).collect::<Vec<_>>();
    let now = t0() + Duration::seconds(10);
    assert_eq!(
        names(s.list_keys(i, &query(&LIVE), now).await.unwrap()),
        ["root", "standard", "suspended"]
    );
    assert_eq!(
        names(
            s.list_keys(i, &query(&[KeyState::Destroyed]), now)
                .await
                .unwrap()
        ),
        ["destroyed"]
    );
    assert_eq!(
        names(
            s.list_keys(i, &query(&[KeyState::Suspended]), now)
                .await
                .unwrap()
        ),
        ["suspended"]
    );
    let mut q = query(&LIVE);
    q.extractable = Some(true);
    assert_eq!(names(s.list_keys(i, &q, now).await.unwrap()), ["standard"]);
    q.extractable = Some(false);
    assert_eq!(
        names(s.list_keys(i, &q, now).await.unwrap()),
        ["root", "suspended"]
    );
    let mut q = query(&[KeyState::Active, KeyState::Destroyed]);
    q.key_ring = Some(ring("r1"));
    assert_eq!(names(s.list_keys(i, &q, now).await.unwrap()), ["standard"]);
    assert_eq!(s.count_keys(i, &q, now).await.unwrap(), 1);
    assert!(s.list_keys(i, &query(&[]), now).await.unwrap().is_empty());
}

pub async fn list_pages_in_creation_order_and_count_ignores_paging(s: &Store) {
    let i = InstanceId::new_random();
    for n in 0..7 {
        let (k, v) = key(i, &format!("k{n}"), t0() + Duration::seconds(n));
        s.create_key(&k, &v).await.unwrap();
    }
    let mut q = query(&LIVE);
    q.limit = 3;
    q.offset = 2;
    let page: Vec<_> = s
        .list_keys(i, &q, t0())
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(page, ["k2", "k3", "k4"]);
    assert_eq!(s.count_keys(i, &q, t0()).await.unwrap(), 7);
    q.offset = 7;
    assert!(s.list_keys(i, &q, t0()).await.unwrap().is_empty());
}

pub async fn deactivated_and_auto_purged_keys_follow_the_clock(s: &Store) {
    let i = InstanceId::new_random();
    let (mut expiring, v1) = key(i, "expiring", t0());
    expiring.expiration = Some(t0() + Duration::hours(1));
    let (mut old, v2) = key(i, "old-deleted", t0());
    old.state = KeyState::Destroyed;
    old.deleted_at = Some(t0());
    s.create_key(&expiring, &v1).await.unwrap();
    s.create_key(&old, &v2).await.unwrap();
    let before = t0() + Duration::minutes(30);
    let after = t0() + Duration::hours(2);
    assert_eq!(
        s.count_keys(i, &query(&[KeyState::Active]), before)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.count_keys(i, &query(&[KeyState::Deactivated]), before)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.count_keys(i, &query(&[KeyState::Active]), after)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.count_keys(i, &query(&[KeyState::Deactivated]), after)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.count_keys(i, &query(&[KeyState::Destroyed]), t0() + Duration::days(89))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.count_keys(i, &query(&[KeyState::Destroyed]), t0() + Duration::days(91))
            .await
            .unwrap(),
        0
    );
}

pub async fn save_is_compare_and_set(s: &Store) {
    let i = InstanceId::new_random();
    let (k, v) = key(i, "cas", t0());
    s.create_key(&k, &v).await.unwrap();
    let mut changed = k.clone();
    changed.state = KeyState::Suspended;
    changed.revision = 1;
    assert!(
        s.save_key(&changed, 0, KeyEventKind::Disabled)
            .await
            .unwrap()
    );
    let mut stale = k.clone();
    stale.name = "lost update".into();
    stale.revision = 1;
    assert!(!s.save_key(&stale, 0, KeyEventKind::Moved).await.unwrap());
    let stored = s.find_key(i, &KeyRef::Id(k.id)).await.unwrap().unwrap();
    assert_eq!(stored.state, KeyState::Suspended);
    assert_eq!(stored.name, "cas");
    assert_eq!(stored.revision, 1);
}

pub async fn policies_and_deletion_authorizations_are_saved_with_the_key(s: &Store) {
    let i = InstanceId::new_random();
    let (k, v) = key(i, "policies", t0());
    s.create_key(&k, &v).await.unwrap();
    let found = s.find_key(i, &KeyRef::Id(k.id)).await.unwrap().unwrap();
    assert_eq!(found.policies, KeyPolicies::default());
    assert_eq!(found.deletion_authorization, None);

    let mut changed = found.clone();
    let change = PolicyChange {
        rotation: Some(RotationSchedule {
            enabled: true,
            interval_month: 12,
        }),
        dual_auth_delete: Some(true),
    };
    changed.set_policies(change, "IBMid-a", t0()).unwrap();
    changed
        .authorize_deletion("IBMid-b", t0() + Duration::minutes(1))
        .unwrap();
    let expected = changed.revision - 2;
    assert!(
        s.save_key(&changed, expected, KeyEventKind::DeletionAuthorized)
            .await
            .unwrap()
    );
    let stored = s.find_key(i, &KeyRef::Id(k.id)).await.unwrap().unwrap();
    assert_eq!(stored.policies, changed.policies);
    assert_eq!(
        stored.deletion_authorization,
        Some(DeletionAuthorization {
            by: "IBMid-b".into(),
            at: t0() + Duration::minutes(1),
        })
    );
    let listed = s
        .list_keys(i, &query(&[KeyState::Active]), t0())
        .await
        .unwrap();
    assert_eq!(listed[0].policies, changed.policies);
}

pub async fn instance_policies_replace_their_kind_and_keep_who_set_them_first(s: &Store) {
    use keyward_kms::{
        InstanceAttributes, InstancePolicy, InstancePolicyKind, InstanceSetting, PolicyStamp,
    };
    let i = InstanceId::new_random();
    let other = InstanceId::new_random();
    assert!(s.instance_policies(i).await.unwrap().0.is_empty());
    let stamped = |kind, enabled, attributes, by: &str, at| InstancePolicy {
        setting: InstanceSetting {
            kind,
            enabled,
            attributes,
        },
        stamp: PolicyStamp {
            created_at: at,
            created_by: by.to_owned(),
            updated_at: at,
            updated_by: by.to_owned(),
        },
    };
    let blocks = vec![
        "10.0.0.0/8".parse().unwrap(),
        "2001:db8::/32".parse().unwrap(),
    ];
    s.put_instance_policies(
        i,
        &[
            stamped(InstancePolicyKind::DualAuthDelete, true, None, "a", t0()),
            stamped(
                InstancePolicyKind::AllowedIp,
                true,
                Some(InstanceAttributes::AllowedIp(blocks.clone())),
                "a",
                t0(),
            ),
        ],
    )
    .await
    .unwrap();
    let later = t0() + Duration::hours(1);
    s.put_instance_policies(
        i,
        &[stamped(
            InstancePolicyKind::DualAuthDelete,
            false,
            None,
            "b",
            later,
        )],
    )
    .await
    .unwrap();
    let read = s.instance_policies(i).await.unwrap();
    assert_eq!(read.0.len(), 2);
    assert!(!read.dual_auth_delete());
    assert_eq!(read.allowed_ip(), Some(blocks.as_slice()));
    let dual = read
        .0
        .iter()
        .find(|p| p.setting.kind == InstancePolicyKind::DualAuthDelete)
        .unwrap();
    assert_eq!(
        (dual.stamp.created_by.as_str(), dual.stamp.created_at),
        ("a", t0())
    );
    assert_eq!(
        (dual.stamp.updated_by.as_str(), dual.stamp.updated_at),
        ("b", later)
    );
    assert!(s.instance_policies(other).await.unwrap().0.is_empty());
}

pub async fn due_keys_are_found_by_their_schedule_and_a_lease_has_one_holder(s: &Store) {
    let i = InstanceId::new_random();
    let (mut k, v) = key(i, "scheduled", t0());
    let schedule = PolicyChange {
        rotation: Some(RotationSchedule {
            enabled: true,
            interval_month: 1,
        }),
        ..PolicyChange::default()
    };
    k.set_policies(schedule, "a", t0()).unwrap();
    s.create_key(&k, &v).await.unwrap();
    let (plain, v2) = key(i, "plain", t0());
    s.create_key(&plain, &v2).await.unwrap();
    let due = k.rotation_due_at().unwrap();
    assert!(
        s.keys_due_for_rotation(due - Duration::milliseconds(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.keys_due_for_rotation(due, 10).await.unwrap(),
        vec![(i, k.id)]
    );
    let mut suspended = k.clone();
    suspended.disable(t0()).unwrap();
    assert!(
        s.save_key(&suspended, k.revision, KeyEventKind::Disabled)
            .await
            .unwrap()
    );
    assert!(s.keys_due_for_rotation(due, 10).await.unwrap().is_empty());

    let minute = Duration::minutes(1);
    assert!(
        s.try_lease("job", "node-a", t0(), t0() + minute)
            .await
            .unwrap()
    );
    assert!(
        !s.try_lease("job", "node-b", t0(), t0() + minute)
            .await
            .unwrap()
    );
    assert!(
        s.try_lease("job", "node-a", t0(), t0() + minute)
            .await
            .unwrap(),
        "renewed"
    );
    assert!(
        s.try_lease("other", "node-b", t0(), t0() + minute)
            .await
            .unwrap()
    );
    assert!(
        s.try_lease("job", "node-b", t0() + minute, t0() + minute * 2)
            .await
            .unwrap(),
        "taken over once expired"
    );
}

pub async fn key_events_are_written_with_their_change_and_handed_on(s: &Store) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    s.on_key_event(std::sync::Arc::new(move |e: &KeyEvent| {
        sink.lock().unwrap().push((e.id, e.key, e.kind));
    }));
    let i = InstanceId::new_random();
    let (k, v) = key(i, "evented", t0());
    s.create_key(&k, &v).await.unwrap();
    let before = s.key_events_after(0, 1000).await.unwrap().len();
    let mut disabled = k.clone();
    disabled.state = KeyState::Suspended;
    disabled.revision = 1;
    assert!(
        s.save_key(&disabled, 0, KeyEventKind::Disabled)
            .await
            .unwrap()
    );
    // A refused (stale) write records nothing.
    assert!(
        !s.save_key(&disabled, 0, KeyEventKind::Enabled)
            .await
            .unwrap()
    );
    let version = StoredVersion {
        id: KeyVersionId::new_random(),
        key_id: k.id,
        created_at: t0() + Duration::hours(2),
        wrapped_material: vec![7; 8],
    };
    let mut rotated = disabled.clone();
    rotated.revision = 2;
    assert!(s.add_version(&rotated, 1, &version).await.unwrap());
    let mut dead = rotated.clone();
    dead.state = KeyState::Destroyed;
    dead.deleted_at = Some(t0());
    dead.revision = 3;
    assert!(s.save_key(&dead, 2, KeyEventKind::Deleted).await.unwrap());
    assert!(s.purge_key(&dead, 3).await.unwrap());

    let events = s.key_events_after(0, 1000).await.unwrap();
    let mine: Vec<_> = events[before..].iter().map(|e| (e.key, e.kind)).collect();
    use KeyEventKind::*;
    assert_eq!(
        mine,
        vec![
            (k.id, Disabled),
            (k.id, Rotated),
            (k.id, Deleted),
            (k.id, Purged)
        ]
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert!(events.iter().all(|e| e.instance == i || e.key != k.id));
    let last = events[events.len() - 2].id;
    assert_eq!(s.key_events_after(last, 10).await.unwrap().len(), 1);
    // The subscribers of this process had each at once, in order.
    let handed: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, key, kind)| (*key, *kind))
        .collect();
    assert_eq!(handed, mine);
}

pub async fn add_version_is_atomic_with_the_key_update(s: &Store) {
    let i = InstanceId::new_random();
    let (k, v) = key(i, "rot", t0());
    s.create_key(&k, &v).await.unwrap();
    let new_version = StoredVersion {
        id: KeyVersionId::new_random(),
        key_id: k.id,
        created_at: t0() + Duration::hours(1),
        wrapped_material: vec![9; 8],
    };
    let mut rotated = k.clone();
    rotated.current_version = VersionInfo {
        id: new_version.id,
        created_at: new_version.created_at,
    };
    rotated.revision = 1;
    // A stale revision writes nothing, not even the version.
    assert!(!s.add_version(&rotated, 5, &new_version).await.unwrap());
    assert_eq!(s.versions(k.id).await.unwrap().len(), 1);
    assert!(s.add_version(&rotated, 0, &new_version).await.unwrap());
    let stored = s.find_key(i, &KeyRef::Id(k.id)).await.unwrap().unwrap();
    assert_eq!(stored.current_version.id, new_version.id);
    assert_eq!(s.versions(k.id).await.unwrap().len(), 2);
}

pub async fn versions_come_newest_first(s: &Store) {
    let i = InstanceId::new_random();
    let (mut k, v) = key(i, "many", t0());
    s.create_key(&k, &v).await.unwrap();
    let mut ids = vec![v.id];
    for n in 1..5 {
        let nv = StoredVersion {
            id: KeyVersionId::new_random(),
            key_id: k.id,
            created_at: t0() + Duration::hours(n),
            wrapped_material: vec![n as u8],
        };
        let expected = k.revision;
        k.revision += 1;
        assert!(s.add_version(&k, expected, &nv).await.unwrap());
        ids.push(nv.id);
    }
    ids.reverse();
    let got: Vec<_> = s
        .versions(k.id)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(got, ids);
    assert_eq!(
        s.versions(k.id).await.unwrap()[4].wrapped_material,
        vec![1, 2, 3, 4]
    );
}

pub async fn purge_removes_key_versions_and_aliases(s: &Store) {
    let i = InstanceId::new_random();
    let (mut k, v) = key(i, "gone", t0());
    k.aliases = vec![alias("reusable")];
    s.create_key(&k, &v).await.unwrap();
    assert!(
        !s.purge_key(&k, k.revision).await.unwrap(),
        "only destroyed keys are purged"
    );
    let mut dead = k.clone();
    dead.state = KeyState::Destroyed;
    dead.deleted_at = Some(t0());
    dead.revision = 1;
    assert!(s.save_key(&dead, 0, KeyEventKind::Deleted).await.unwrap());
    assert!(
        !s.purge_key(&k, 0).await.unwrap(),
        "a stale revision purges nothing"
    );
    assert!(s.purge_key(&k, 1).await.unwrap());
    assert!(s.find_key(i, &KeyRef::Id(k.id)).await.unwrap().is_none());
    assert!(s.versions(k.id).await.unwrap().is_empty());
    let (k2, v2) = key(i, "next", t0());
    s.create_key(&k2, &v2).await.unwrap();
    s.add_alias(i, k2.id, &alias("reusable"), t0(), "u", LIMITS)
        .await
        .unwrap();
}

pub async fn aliases_are_added_and_removed(s: &Store) {
    let i = InstanceId::new_random();
    let (k, v) = key(i, "al", t0());
    s.create_key(&k, &v).await.unwrap();
    s.add_alias(i, k.id, &alias("a1"), t0(), "u", LIMITS)
        .await
        .unwrap();
    s.add_alias(
        i,
        k.id,
        &alias("a2"),
        t0() + Duration::seconds(1),
        "u",
        LIMITS,
    )
    .await
    .unwrap();
    let got = s
        .find_key(i, &KeyRef::Alias(alias("a2")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.aliases, vec![alias("a1"), alias("a2")]);
    assert!(s.remove_alias(i, k.id, &alias("a1")).await.unwrap());
    assert!(!s.remove_alias(i, k.id, &alias("a1")).await.unwrap());
    assert!(
        s.find_key(i, &KeyRef::Alias(alias("a1")))
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn key_rings_enforce_uniqueness_quota_and_emptiness(s: &Store) {
    let i = InstanceId::new_random();
    let r = |id: &str| KeyRing {
        id: ring(id),
        created_at: t0(),
        created_by: "u".into(),
    };
    s.create_key_ring(i, &r("r1"), 2).await.unwrap();
    assert!(matches!(
        s.create_key_ring(i, &r("r1"), 2).await,
        Err(KmsError::KeyRingExists)
    ));
    s.create_key_ring(i, &r("r2"), 2).await.unwrap();
    assert!(matches!(
        s.create_key_ring(i, &r("r3"), 2).await,
        Err(KmsError::KeyRingQuota)
    ));
    assert_eq!(s.list_key_rings(i).await.unwrap().len(), 2);
    assert!(s.key_ring_exists(i, &ring("r1")).await.unwrap());
    assert!(
        !s.key_ring_exists(InstanceId::new_random(), &ring("r1"))
            .await
            .unwrap()
    );

    let (mut live, v1) = key(i, "live", t0());
    live.key_ring = ring("r1");
    s.create_key(&live, &v1).await.unwrap();
    assert!(matches!(
        s.delete_key_ring(i, &ring("r1"), true).await,
        Err(KmsError::KeyRingNotEmpty)
    ));
    assert!(s.key_ring_exists(i, &ring("r1")).await.unwrap());

    let (mut dead, v2) = key(i, "dead", t0());
    dead.key_ring = ring("r2");
    dead.state = KeyState::Destroyed;
    dead.deleted_at = Some(t0());
    s.create_key(&dead, &v2).await.unwrap();
    assert!(matches!(
        s.delete_key_ring(i, &ring("r2"), false).await,
        Err(KmsError::KeyRingNotEmpty)
    ));
    s.delete_key_ring(i, &ring("r2"), true).await.unwrap();
    let moved = s.find_key(i, &KeyRef::Id(dead.id)).await.unwrap().unwrap();
    assert!(moved.key_ring.is_default());
    assert!(matches!(
        s.delete_key_ring(i, &ring("r2"), false).await,
        Err(KmsError::KeyRingNotFound)
    ));
}

pub async fn encryption_counter_only_grows(s: &Store) {
    let i = InstanceId::new_random();
    let (k, v) = key(i, "ctr", t0());
    s.create_key(&k, &v).await.unwrap();
    assert_eq!(s.reserve_encryptions(v.id, 100).await.unwrap(), 100);
    assert_eq!(s.reserve_encryptions(v.id, 50).await.unwrap(), 150);
    assert!(
        s.reserve_encryptions(KeyVersionId::new_random(), 1)
            .await
            .is_err()
    );
}

pub async fn iam_accounts_principals_and_api_keys(s: &Store) {
    let now = t0();
    let account = AccountId::new_random();
    s.create_account(&account, "acme").await.unwrap();
    s.create_account(&account, "acme").await.unwrap();
    let p = Principal::new(account.clone(), PrincipalKind::ServiceId, "svc", now).unwrap();
    s.create_principal(&p).await.unwrap();
    assert_eq!(s.find_principal(&p.iam_id).await.unwrap(), Some(p.clone()));
    let secret = ApiKeySecret::generate().unwrap();
    let record = ApiKeyRecord {
        id: Uuid::new_v4(),
        iam_id: p.iam_id.clone(),
        name: "k".into(),
        hash: secret.hash(),
        created_at: now,
        locked: false,
    };
    s.create_api_key(&record).await.unwrap();
    assert_eq!(
        s.api_key_by_hash(&secret.hash()).await.unwrap(),
        Some((record.clone(), p.clone()))
    );
    let other = ApiKeySecret::generate().unwrap();
    assert!(s.api_key_by_hash(&other.hash()).await.unwrap().is_none());
    assert_eq!(s.list_principals(&account).await.unwrap().len(), 1);
    assert_eq!(
        s.find_api_key(record.id).await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(
        s.list_api_keys(&p.iam_id).await.unwrap(),
        vec![record.clone()]
    );

    assert!(s.set_api_key_locked(record.id, true).await.unwrap());
    assert!(s.find_api_key(record.id).await.unwrap().unwrap().locked);
    assert!(s.set_api_key_locked(record.id, false).await.unwrap());
    assert!(!s.find_api_key(record.id).await.unwrap().unwrap().locked);
    assert!(!s.set_api_key_locked(Uuid::new_v4(), true).await.unwrap());

    assert!(s.delete_api_key(record.id).await.unwrap());
    assert!(!s.delete_api_key(record.id).await.unwrap());
    assert!(s.api_key_by_hash(&secret.hash()).await.unwrap().is_none());
    assert!(s.list_api_keys(&p.iam_id).await.unwrap().is_empty());
}

pub async fn iam_deleting_a_principal_takes_its_keys_and_policies(s: &Store) {
    let now = t0();
    let account = AccountId::new_random();
    s.create_account(&account, "acme").await.unwrap();
    let gone = Principal::new(account.clone(), PrincipalKind::User, "gone", now).unwrap();
    let stays = Principal::new(account.clone(), PrincipalKind::User, "stays", now).unwrap();
    s.create_principal(&gone).await.unwrap();
    s.create_principal(&stays).await.unwrap();
    let secret = ApiKeySecret::generate().unwrap();
    s.create_api_key(&ApiKeyRecord {
        id: Uuid::new_v4(),
        iam_id: gone.iam_id.clone(),
        name: "k".into(),
        hash: secret.hash(),
        created_at: now,
        locked: false,
    })
    .await
    .unwrap();
    let policy = |iam_id: &str| Policy {
        id: Uuid::new_v4(),
        account: account.clone(),
        subject: Subject::Principal(iam_id.to_owned()),
        roles: vec![Role::Viewer],
        resource: PolicyResource {
            service: ServiceKind::Iam,
            instance: None,
            key_ring: None,
        },
        created_at: now,
    };
    let kept = policy(&stays.iam_id);
    s.create_policy(&policy(&gone.iam_id)).await.unwrap();
    s.create_policy(&kept).await.unwrap();
    assert!(s.delete_principal(&gone.iam_id).await.unwrap());
    assert!(!s.delete_principal(&gone.iam_id).await.unwrap());
    assert!(s.find_principal(&gone.iam_id).await.unwrap().is_none());
    assert!(s.api_key_by_hash(&secret.hash()).await.unwrap().is_none());
    assert_eq!(s.list_policies(&account).await.unwrap(), vec![kept]);
    assert!(s.find_principal(&stays.iam_id).await.unwrap().is_some());
}

pub async fn iam_signing_keys_newest_first(s: &Store) {
    let old = SigningKeyRecord {
        kid: "old".into(),
        sealed: vec![1; 40],
        created_at: t0(),
    };
    let new = SigningKeyRecord {
        kid: "new".into(),
        sealed: vec![2; 40],
        created_at: t0() + Duration::hours(24),
    };
    s.insert_signing_key(&old).await.unwrap();
    s.insert_signing_key(&new).await.unwrap();
    assert_eq!(s.signing_keys().await.unwrap(), vec![new.clone(), old]);
    assert!(s.delete_signing_key("old").await.unwrap());
    assert!(!s.delete_signing_key("old").await.unwrap());
    assert_eq!(s.signing_keys().await.unwrap(), vec![new]);
}

pub async fn iam_policies_and_instances(s: &Store) {
    let now = t0();
    let account = AccountId::new_random();
    s.create_account(&account, "acme").await.unwrap();
    let instance = Instance {
        id: Uuid::new_v4(),
        account: account.clone(),
        service: ServiceKind::Kms,
        name: "kms".into(),
        created_at: now,
    };
    s.create_instance(&instance).await.unwrap();
    assert_eq!(
        s.find_instance(instance.id).await.unwrap(),
        Some(instance.clone())
    );
    assert_eq!(
        s.list_instances(&account).await.unwrap(),
        vec![instance.clone()]
    );
    let access = Policy {
        id: Uuid::new_v4(),
        account: account.clone(),
        subject: Subject::Principal("IBMid-x".into()),
        roles: vec![Role::Reader, Role::KeyPurge],
        resource: PolicyResource {
            service: ServiceKind::Kms,
            instance: Some(instance.id),
            key_ring: Some("r1".into()),
        },
        created_at: now,
    };
    let authorization = Policy {
        id: Uuid::new_v4(),
        account: account.clone(),
        subject: Subject::Service {
            service: ServiceKind::ConfigSvc,
            instance: None,
        },
        roles: vec![Role::Reader],
        resource: PolicyResource {
            service: ServiceKind::Kms,
            instance: Some(instance.id),
            key_ring: None,
        },
        created_at: now + Duration::seconds(1),
    };
    s.create_policy(&access).await.unwrap();
    s.create_policy(&authorization).await.unwrap();
    assert_eq!(
        s.list_policies(&account).await.unwrap(),
        vec![access.clone(), authorization.clone()]
    );
    assert!(s.delete_policy(&account, access.id).await.unwrap());
    assert!(!s.delete_policy(&account, access.id).await.unwrap());
    assert!(
        !s.delete_policy(&AccountId::new_random(), authorization.id)
            .await
            .unwrap()
    );
    assert_eq!(
        s.list_policies(&account).await.unwrap(),
        vec![authorization]
    );
    assert!(s.delete_instance(instance.id).await.unwrap());
    assert!(s.find_instance(instance.id).await.unwrap().is_none());
}

pub async fn settings_insert_if_absent_keeps_the_first_value(s: &Store) {
    assert!(s.setting("x").await.unwrap().is_none());
    assert_eq!(
        s.setting_insert_if_absent("x", b"first").await.unwrap(),
        b"first"
    );
    assert_eq!(
        s.setting_insert_if_absent("x", b"second").await.unwrap(),
        b"first"
    );
    assert_eq!(s.setting("x").await.unwrap().unwrap(), b"first");
}

mod secret_cases {
    use super::*;
    use keyward_secrets::{
        FieldAt, Generation, GenerationId, GenerationStatus, JobLease, Reencrypted, RootKey,
        SealedField, SecretId, SecretStore, SecretsError, TenantId,
    };

    pub fn generation(tenant: TenantId, status: GenerationStatus) -> Generation {
        Generation {
            id: GenerationId(Uuid::new_v4()),
            tenant,
            root: RootKey::Global,
            wrapped_dek: vec![5; 16],
            status,
            created_at: t0(),
            tenant_bound: true,
        }
    }

    pub fn field(tenant: TenantId, secret: SecretId, name: &str, g: GenerationId) -> SealedField {
        SealedField {
            tenant,
            secret,
            field: name.to_owned(),
            generation: g,
            ciphertext: format!("{name}@{}", g.0).into_bytes(),
        }
    }

    pub async fn one_current_and_one_pending_per_tenant(s: &Store) {
        let t = TenantId(Uuid::new_v4());
        let first = generation(t, GenerationStatus::Current);
        assert!(s.insert_first_generation(&first).await.unwrap());
        assert!(
            !s.insert_first_generation(&generation(t, GenerationStatus::Current))
                .await
                .unwrap()
        );
        let (instance, key) = (Uuid::new_v4(), Uuid::new_v4());
        let crn: keyward_secrets::RootKeyCrn =
            format!("crn:v1:keyward:local:kms:local:a/acc:{instance}:key:{key}")
                .parse()
                .unwrap();
        let mut pending = generation(t, GenerationStatus::Pending);
        pending.root = RootKey::Customer(crn);
        assert!(s.insert_pending_generation(&pending).await.unwrap());
        assert!(
            !s.insert_pending_generation(&generation(t, GenerationStatus::Pending))
                .await
                .unwrap()
        );
        let mut gens = s.generations(t).await.unwrap();
        gens.sort_by_key(|g| g.status == GenerationStatus::Pending);
        assert_eq!(s.tenants_with_pending().await.unwrap(), vec![t]);
        let under = s
            .generations_under(keyward_secrets::WrappedBy::CustomerKey { instance, key })
            .await
            .unwrap();
        assert_eq!(under, vec![pending.clone()]);
        let under = s
            .generations_under(keyward_secrets::WrappedBy::Global)
            .await
            .unwrap();
        assert!(under.contains(&first) && !under.contains(&pending));
        let roots = s.customer_roots().await.unwrap();
        assert!(roots.contains(&(t, pending.root.clone())), "{roots:?}");
        assert!(
            !roots.iter().any(|(_, r)| *r == RootKey::Global),
            "{roots:?}"
        );
        assert_eq!(gens, vec![first, pending]);
        s.update_wrapped_dek(gens[0].id, b"rewrapped")
            .await
            .unwrap();
        assert!(
            s.generations(t)
                .await
                .unwrap()
                .iter()
                .any(|g| g.wrapped_dek == b"rewrapped")
        );
    }

    pub async fn fields_are_upserted_read_and_deleted(s: &Store) {
        let t = TenantId(Uuid::new_v4());
        let g = generation(t, GenerationStatus::Current);
        s.insert_first_generation(&g).await.unwrap();
        let secret = SecretId(Uuid::new_v4());
        s.put_field(&field(t, secret, "username", g.id))
            .await
            .unwrap();
        s.put_field(&field(t, secret, "password", g.id))
            .await
            .unwrap();
        let mut changed = field(t, secret, "password", g.id);
        changed.ciphertext = b"new".to_vec();
        s.put_field(&changed).await.unwrap();
        assert_eq!(
            s.get_field(t, secret, "password").await.unwrap(),
            Some(changed)
        );
        assert_eq!(s.get_fields(t, secret).await.unwrap().len(), 2);
        assert!(
            s.get_field(TenantId(Uuid::new_v4()), secret, "password")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(s.delete_secret(t, secret).await.unwrap(), 2);
        assert!(s.get_fields(t, secret).await.unwrap().is_empty());
    }

    pub async fn a_field_cannot_name_an_unknown_generation(s: &Store) {
        let t = TenantId(Uuid::new_v4());
        let stray = field(
            t,
            SecretId(Uuid::new_v4()),
            "password",
            GenerationId(Uuid::new_v4()),
        );
        assert!(matches!(
            s.put_field(&stray).await,
            Err(SecretsError::StaleGeneration)
        ));
    }

    pub fn lease(owner: &str, seconds: i64) -> JobLease {
        JobLease {
            owner: owner.into(),
            until: t0() + Duration::seconds(seconds),
        }
    }

    pub async fn one_node_holds_a_job_and_a_node_that_lost_it_writes_nothing(s: &Store) {
        let t = TenantId(Uuid::new_v4());
        let old = generation(t, GenerationStatus::Current);
        let new = generation(t, GenerationStatus::Pending);
        s.insert_first_generation(&old).await.unwrap();
        s.insert_pending_generation(&new).await.unwrap();
        let secret = SecretId(Uuid::new_v4());
        s.put_field(&field(t, secret, "password", old.id))
            .await
            .unwrap();
        let a = lease("node-a", 10);
        let b = lease("node-b", 20);
        assert!(s.take_job(t, &a, t0()).await.unwrap());
        // B cannot take it while A's lease runs; A takes its own job again.
        assert!(
            !s.take_job(t, &b, t0() + Duration::seconds(5))
                .await
                .unwrap()
        );
        assert!(
            s.take_job(t, &a, t0() + Duration::seconds(5))
                .await
                .unwrap()
        );
        assert_eq!(s.job(t).await.unwrap().unwrap().lease.owner, "node-a");
        // A pauses, visibly.
        assert!(
            s.pause_job(t, &a, "the root key is disabled")
                .await
                .unwrap()
        );
        assert_eq!(
            s.job(t).await.unwrap().unwrap().paused.as_deref(),
            Some("the root key is disabled")
        );
        assert!(!s.pause_job(t, &b, "not mine").await.unwrap());
        // A's lease lapses; B adopts the job.
        assert!(
            s.take_job(t, &b, t0() + Duration::seconds(11))
                .await
                .unwrap()
        );
        let job = s.job(t).await.unwrap().unwrap();
        assert_eq!((job.lease.owner.as_str(), job.paused), ("node-b", None));
        // A, late, can write nothing: not a batch, not the promotion.
        let read = s.fields_under(t, old.id, 0, 10).await.unwrap();
        assert_eq!(read.len(), 1);
        let update = Reencrypted {
            position: read[0].position,
            sealed: field(t, secret, "password", new.id),
            old_generation: old.id,
        };
        assert!(matches!(
            s.apply_batch(t, &a, std::slice::from_ref(&update)).await,
            Err(SecretsError::LeaseLost)
        ));
        assert_eq!(s.count_fields(t, new.id).await.unwrap(), (0, 1));
        assert!(matches!(
            s.promote(t, new.id, &a).await,
            Err(SecretsError::LeaseLost)
        ));
        assert_eq!(s.apply_batch(t, &b, &[update]).await.unwrap(), 1);
        assert!(s.promote(t, new.id, &b).await.unwrap());
    }

    fn moved(batch: &[FieldAt], to: GenerationId, from: GenerationId) -> Vec<Reencrypted> {
        batch
            .iter()
            .map(|f| Reencrypted {
                position: f.position,
                sealed: field(f.sealed.tenant, f.sealed.secret, &f.sealed.field, to),
                old_generation: from,
            })
            .collect()
    }

    pub async fn batches_move_fields_and_promotion_waits_for_the_last(s: &Store) {
        let t = TenantId(Uuid::new_v4());
        let old = generation(t, GenerationStatus::Current);
        let new = generation(t, GenerationStatus::Pending);
        s.insert_first_generation(&old).await.unwrap();
        let secrets: Vec<SecretId> = (0..5).map(|_| SecretId(Uuid::new_v4())).collect();
        let fields: Vec<SealedField> = secrets
            .iter()
            .map(|sec| field(t, *sec, "password", old.id))
            .collect();
        s.put_fields(&fields).await.unwrap();
        // Another tenant's fields are neither counted nor read.
        let other = TenantId(Uuid::new_v4());
        let other_gen = generation(other, GenerationStatus::Current);
        s.insert_first_generation(&other_gen).await.unwrap();
        s.put_field(&field(other, secrets[0], "password", other_gen.id))
            .await
            .unwrap();
        s.insert_pending_generation(&new).await.unwrap();
        let job = s.job(t).await.unwrap().unwrap();
        assert_eq!(
            (job.done, job.total),
            (0, Some(5)),
            "counted when the switch began"
        );
        assert_eq!(s.count_fields(t, new.id).await.unwrap(), (0, 5));
        let lease = lease("node-a", 60);
        assert!(s.take_job(t, &lease, t0()).await.unwrap());
        assert!(
            !s.promote(t, new.id, &lease).await.unwrap(),
            "fields still need the old generation"
        );
        // Positions go up; a read goes on after the last position it was given.
        let first = s.fields_under(t, old.id, 0, 3).await.unwrap();
        assert_eq!(first.len(), 3);
        assert!(first.windows(2).all(|w| w[0].position < w[1].position));
        let rest = s
            .fields_under(t, old.id, first[2].position, 100)
            .await
            .unwrap();
        assert_eq!(rest.len(), 2);
        assert!(rest[0].position > first[2].position);
        let mut updates = moved(&first, new.id, old.id);
        // One of them was rewritten meanwhile: the batch must skip it, not overwrite it.
        let raced = updates[0].sealed.secret;
        let mut fresh = field(t, raced, "password", new.id);
        fresh.ciphertext = b"written during the switch".to_vec();
        s.put_field(&fresh).await.unwrap();
        // Another was deleted and written again (a new row, under the old generation): the
        // update read for the old row must not land on the new one.
        let reborn = updates[1].sealed.secret;
        s.delete_secret(t, reborn).await.unwrap();
        s.put_field(&field(t, reborn, "password", old.id))
            .await
            .unwrap();
        assert_eq!(s.apply_batch(t, &lease, &updates).await.unwrap(), 1);
        assert_eq!(
            s.get_field(t, raced, "password")
                .await
                .unwrap()
                .unwrap()
                .ciphertext,
            b"written during the switch"
        );
        assert_eq!(
            s.get_field(t, reborn, "password")
                .await
                .unwrap()
                .unwrap()
                .generation,
            old.id
        );
        assert_eq!(s.job(t).await.unwrap().unwrap().done, 1);
        updates = moved(
            &s.fields_under(t, old.id, 0, 100).await.unwrap(),
            new.id,
            old.id,
        );
        assert_eq!(updates.len(), 3, "two never moved, one written again");
        assert_eq!(s.apply_batch(t, &lease, &updates).await.unwrap(), 3);
        assert_eq!(s.job(t).await.unwrap().unwrap().done, 4);
        assert!(s.fields_under(t, old.id, 0, 100).await.unwrap().is_empty());
        assert!(s.promote(t, new.id, &lease).await.unwrap());
        assert!(s.job(t).await.unwrap().is_none(), "promotion ends the job");
        let gens = s.generations(t).await.unwrap();
        assert_eq!(gens.len(), 1);
        assert_eq!(
            (gens[0].id, gens[0].status),
            (new.id, GenerationStatus::Current)
        );
        assert!(s.tenants_with_pending().await.unwrap().is_empty());
        // Writes naming the retired generation are refused, all of a batch.
        let mixed = [
            field(t, SecretId(Uuid::new_v4()), "password", new.id),
            field(t, secrets[0], "password", old.id),
        ];
        assert!(matches!(
            s.put_fields(&mixed).await,
            Err(SecretsError::StaleGeneration)
        ));
        assert!(
            s.get_field(t, mixed[0].secret, "password")
                .await
                .unwrap()
                .is_none(),
            "a refused batch writes nothing"
        );
    }

    pub async fn a_switch_turns_back_and_its_job_counts_what_returns(s: &Store) {
        let t = TenantId(Uuid::new_v4());
        let old = generation(t, GenerationStatus::Current);
        let new = generation(t, GenerationStatus::Pending);
        s.insert_first_generation(&old).await.unwrap();
        let fields: Vec<SealedField> = (0..3)
            .map(|_| field(t, SecretId(Uuid::new_v4()), "password", old.id))
            .collect();
        s.put_fields(&fields).await.unwrap();
        s.insert_pending_generation(&new).await.unwrap();
        let lease = lease("node-a", 60);
        assert!(s.take_job(t, &lease, t0()).await.unwrap());
        let read = s.fields_under(t, old.id, 0, 1).await.unwrap();
        assert_eq!(
            s.apply_batch(t, &lease, &moved(&read, new.id, old.id))
                .await
                .unwrap(),
            1
        );
        // Written during the switch: under the new generation.
        s.put_field(&field(t, SecretId(Uuid::new_v4()), "password", new.id))
            .await
            .unwrap();

        // Ids that are not (or no longer) the tenant's current and pending: nothing changes.
        assert!(!s.reverse_switch(t, new.id, old.id).await.unwrap());
        let other = TenantId(Uuid::new_v4());
        assert!(!s.reverse_switch(other, old.id, new.id).await.unwrap());
        assert!(s.reverse_switch(t, old.id, new.id).await.unwrap());
        let status = |gens: &[Generation], id| gens.iter().find(|g| g.id == id).unwrap().status;
        let gens = s.generations(t).await.unwrap();
        assert_eq!(gens.len(), 2);
        assert_eq!(status(&gens, new.id), GenerationStatus::Current);
        assert_eq!(status(&gens, old.id), GenerationStatus::Pending);
        let job = s.job(t).await.unwrap().unwrap();
        assert_eq!((job.done, job.total), (0, Some(2)), "two fields go back");
        assert_eq!(job.lease.owner, "node-a", "the job stays with its node");
        assert!(!s.reverse_switch(t, old.id, new.id).await.unwrap());

        // The job moves them back and the old generation is the only one again.
        let back = s.fields_under(t, new.id, 0, 10).await.unwrap();
        assert_eq!(
            s.apply_batch(t, &lease, &moved(&back, old.id, new.id))
                .await
                .unwrap(),
            2
        );
        assert_eq!(s.job(t).await.unwrap().unwrap().done, 2);
        assert!(s.promote(t, old.id, &lease).await.unwrap());
        let gens = s.generations(t).await.unwrap();
        assert_eq!(
            gens.iter().map(|g| (g.id, g.status)).collect::<Vec<_>>(),
            [(old.id, GenerationStatus::Current)]
        );
        assert_eq!(s.count_fields(t, old.id).await.unwrap(), (4, 4));
    }
}

pub use secret_cases::{
    a_field_cannot_name_an_unknown_generation, a_switch_turns_back_and_its_job_counts_what_returns,
    batches_move_fields_and_promotion_waits_for_the_last, fields_are_upserted_read_and_deleted,
    one_current_and_one_pending_per_tenant,
    one_node_holds_a_job_and_a_node_that_lost_it_writes_nothing,
};

mod audit_cases {
    use keyward_crypto::audit_chain::{GENESIS, link};
    use keyward_store::{AuditAppender, NewAuditEvent, Store};

    fn events(tag: &str, n: usize) -> Vec<NewAuditEvent> {
        (0..n)
            .map(|i| NewAuditEvent {
                account: (i % 2 == 0).then(|| "acc".to_owned()),
                at_millis: 1_000 + i as i64,
                body: format!("{{\"event\":\"{tag}-{i}\"}}"),
            })
            .collect()
    }

    /// Two writers that each believe they know the head (two nodes): the one that is behind
    /// collides, relinks after the other's events, and the chain stays one line; batches
    /// larger than one statement holds keep their order.
    pub async fn audit_appends_from_two_writers_form_one_chain(s: &Store) {
        let mut a = AuditAppender::new(s.clone());
        let mut b = AuditAppender::new(s.clone());
        assert_eq!(a.append(&events("a", 3), &[]).await.unwrap().0, 3);
        assert_eq!(b.append(&events("b", 2), &[]).await.unwrap().0, 5);
        // `a` still thinks the head is event 3.
        let (last, hash) = a.append(&events("c", 700), &[]).await.unwrap();
        assert_eq!(last, 705);
        assert_eq!(a.append(&[], &[]).await.unwrap(), (last, hash));

        let rows = s.audit_events(None, 0, 1000).await.unwrap();
        assert_eq!(rows.len(), 705);
        let mut prev = GENESIS;
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.seq, i as i64 + 1);
            assert_eq!(row.prev_hash, prev);
            prev = link(&prev, row.seq, &row.entry());
            assert_eq!(row.hash, prev, "event {}", row.seq);
        }
        assert_eq!(prev, hash);
        assert_eq!(rows[3].body, "{\"event\":\"b-0\"}");
        assert_eq!(rows[5].body, "{\"event\":\"c-0\"}");
        assert_eq!(rows[704].body, "{\"event\":\"c-699\"}");
        assert_eq!(rows[704].account, None);
        assert_eq!(rows[703].account, Some("acc".to_owned()));
        assert_eq!(
            s.audit_events(Some("acc"), 0, 1000).await.unwrap().len(),
            2 + 1 + 350
        );
    }

    /// Four writers (four nodes' audit logs) append one event at a time, all at once: every
    /// append succeeds (none is starved by the others) and the chain holds all of them.
    pub async fn audit_writers_appending_at_once_all_get_their_turn(s: &Store) {
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let mut chain = AuditAppender::new(s.clone());
                tokio::spawn(async move {
                    for i in 0..100 {
                        chain
                            .append(&events(&format!("w{w}-{i}"), 1), &[])
                            .await
                            .unwrap_or_else(|e| panic!("writer {w}, append {i}: {e}"));
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let rows = s.audit_events(None, 0, 1000).await.unwrap();
        assert_eq!(rows.len(), 400);
        let mut prev = GENESIS;
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.seq, i as i64 + 1);
            prev = link(&prev, row.seq, &row.entry());
            assert_eq!(row.hash, prev, "event {}", row.seq);
        }
    }

    /// A request's first change commits its provisional event in the change's own
    /// transaction; its later changes write none; a change that fails writes none; the final
    /// event settles it in the append's transaction; a provisional event whose request never
    /// settled it is adopted into the chain as it is; outside a request nothing is pending.
    pub async fn a_change_commits_with_its_provisional_event(s: &Store) {
        use keyward_iam::{AccountId, IamStore, Instance, ServiceKind};
        use keyward_store::{Provisional, with_provisional};
        let provisional = |tag: &'static str| -> Provisional {
            std::sync::Arc::new(move || {
                Some(NewAuditEvent {
                    account: Some("acc".to_owned()),
                    at_millis: 7,
                    body: format!("{{\"provisional\":\"{tag}\"}}"),
                })
            })
        };
        let account = AccountId::new_random();
        s.create_account(&account, "acme").await.unwrap();
        let instance = |name: &str| Instance {
            id: uuid::Uuid::new_v4(),
            account: account.clone(),
            service: ServiceKind::Kms,
            name: name.into(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let first = instance("first");

        let (made, settled) = with_provisional(provisional("two changes"), async {
            s.create_instance(&first).await.unwrap();
            s.delete_instance(first.id).await.unwrap()
        })
        .await;
        assert!(made);
        assert_eq!(settled.len(), 1, "one provisional event per request");
        let pending = s.audit_pending().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].0, settled[0]);
        assert_eq!(pending[0].1.body, "{\"provisional\":\"two changes\"}");

        // A change that fails (the same id twice) leaves nothing.
        let again = instance("again");
        s.create_instance(&again).await.unwrap();
        let (failed, none) = with_provisional(provisional("failed"), async {
            s.create_instance(&again).await.is_err()
        })
        .await;
        assert!(failed && none.is_empty());
        assert_eq!(
            s.audit_pending().await.unwrap().len(),
            1,
            "the failed change left none"
        );

        // The final event settles the provisional one, in one transaction.
        let mut chain = AuditAppender::new(s.clone());
        chain.append(&events("final", 1), &settled).await.unwrap();
        assert!(s.audit_pending().await.unwrap().is_empty());

        // Left behind (the node stopped): adopted once it is old enough, as it is.
        let ((), left) = with_provisional(provisional("left"), async {
            s.delete_instance(again.id).await.unwrap();
        })
        .await;
        assert_eq!(left.len(), 1);
        assert_eq!(
            chain.adopt_pending(7).await.unwrap().0,
            0,
            "not older than the grace"
        );
        let mut other = AuditAppender::new(s.clone());
        assert_eq!(other.adopt_pending(8).await.unwrap().0, 1);
        assert_eq!(chain.adopt_pending(8).await.unwrap().0, 0, "adopted once");
        assert!(s.audit_pending().await.unwrap().is_empty());
        let rows = s.audit_events(None, 0, 1000).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].body, "{\"provisional\":\"left\"}");
        assert_eq!(rows[1].account.as_deref(), Some("acc"));
        let mut prev = GENESIS;
        for row in &rows {
            prev = link(&prev, row.seq, &row.entry());
            assert_eq!(row.hash, prev, "event {}", row.seq);
        }
        // The first writer, behind, still links after the adopted event.
        assert_eq!(chain.append(&events("after", 1), &[]).await.unwrap().0, 3);

        // Adopted while its request still ran (it outlived the grace time): its final event
        // still lands, after the provisional one.
        let late = instance("late");
        let ((), pending) = with_provisional(provisional("late"), async {
            s.create_instance(&late).await.unwrap();
        })
        .await;
        assert_eq!(other.adopt_pending(8).await.unwrap().0, 1);
        chain
            .append(&events("late-final", 1), &pending)
            .await
            .unwrap();
        let rows = s.audit_events(None, 3, 1000).await.unwrap();
        let bodies: Vec<_> = rows.iter().map(|r| r.body.as_str()).collect();
        assert_eq!(
            bodies,
            ["{\"provisional\":\"late\"}", "{\"event\":\"late-final-0\"}"]
        );
        assert!(s.audit_pending().await.unwrap().is_empty());
    }
}

pub use audit_cases::{
    a_change_commits_with_its_provisional_event, audit_appends_from_two_writers_form_one_chain,
    audit_writers_appending_at_once_all_get_their_turn,
};
