//! The store's visibility predicate agrees with `ward_intel::policy::can_read` on every
//! combination: 4 roles × 5 relations to the owner × 5 TLPs × 5 distributions (including
//! connected communities and sharing groups), on SQLite and PostgreSQL.

use ward_intel::policy::{
    can_read, effective_distribution, AccessMeta, Distribution, Role, Viewer,
};
use ward_intel::tlp::Tlp;
use ward_storage::intel::{IntelAccess, IntelCollection, IntelReader, NewIntelObject, ObjectQuery};
use ward_storage::Store;
use ward_testkit::PgDatabase;

#[macro_use]
mod common;

fn rank(t: Tlp) -> i64 {
    Tlp::ALL.iter().position(|x| *x == t).unwrap() as i64
}

fn parts(d: Distribution) -> (i64, Option<i64>) {
    match d {
        Distribution::SharingGroup(g) => (4, Some(g as i64)),
        d => (d.misp_level() as i64, None),
    }
}

const DISTS: [Distribution; 5] = [
    Distribution::OwnOrg,
    Distribution::Community,
    Distribution::Connected,
    Distribution::All,
    Distribution::SharingGroup(7),
];

fn viewers() -> Vec<Viewer> {
    let rels: [(&str, &str, Vec<u64>); 5] = [
        ("RXX", "london", vec![]),
        ("RYY", "london", vec![]),
        ("RZZ", "south-east", vec![]),
        ("RQQ", "north", vec![7]),
        ("RSS", "north", vec![]),
    ];
    let mut out = Vec::new();
    for role in Role::ALL {
        for (org, c, g) in &rels {
            out.push(Viewer {
                role,
                org: org.to_string(),
                communities: vec![c.to_string()],
                sharing_groups: g.clone(),
            });
        }
    }
    out
}

on_both_engines!(sql_visibility_matches_can_read, |store| {
    store
        .upsert_intel_collection(&IntelCollection {
            id: "c".into(),
            api_root: "api".into(),
            title: "t".into(),
            description: None,
            alias: None,
            write_roles: vec![],
        })
        .await
        .unwrap();
    let mut objs = Vec::new();
    let mut metas = Vec::new();
    for t in Tlp::ALL {
        for d in DISTS {
            let (level, group) = parts(d);
            let (eff, _) = parts(effective_distribution(t, d));
            let id = format!("indicator--{:08}-0000-4000-8000-000000000000", objs.len());
            objs.push(NewIntelObject {
                stix_id: id.clone(),
                stix_type: "indicator".into(),
                spec_version: "2.1".into(),
                version: "v".into(),
                version_ms: 1,
                access: IntelAccess {
                    owner_org: "RXX".into(),
                    tlp: rank(t),
                    distribution: level,
                    sharing_group: group,
                    eff_distribution: eff,
                    community: "london".into(),
                    connected: vec!["south-east".into()],
                },
                object: "{}".into(),
            });
            metas.push((
                id,
                AccessMeta {
                    owner_org: "RXX".into(),
                    tlp: t,
                    distribution: d,
                    community: "london".into(),
                    connected: vec!["south-east".into()],
                },
            ));
        }
    }
    store.add_intel_objects("c", &objs).await.unwrap();
    let mut cases = 0;
    let mut readable = 0;
    for v in viewers() {
        let reader = IntelReader {
            central: v.role == Role::CentralAnalyst,
            org: v.org.clone(),
            lead: v.role == Role::OrgLead,
            machine: v.role == Role::MemberSystem,
            communities: v.communities.clone(),
            sharing_groups: v.sharing_groups.iter().map(|g| *g as i64).collect(),
        };
        let q = ObjectQuery {
            collection_id: "c".into(),
            added_after_us: None,
            ids: vec![],
            types: vec![],
            versions: vec![],
            spec_versions: vec![],
            limit: 100,
        };
        let (items, _) = store.query_intel_objects(&reader, &q).await.unwrap();
        for (id, meta) in &metas {
            let got = items.iter().any(|o| &o.stix_id == id);
            assert_eq!(got, can_read(&v, meta), "{v:?} {meta:?}");
            cases += 1;
            readable += got as usize;
        }
    }
    assert_eq!(cases, 4 * 5 * 25);
    assert!(readable > 100 && readable < 400, "{readable}");
});
