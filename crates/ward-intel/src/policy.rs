//! Who may read what: a pure policy over TLP 2.0 × MISP-style distribution × role.
//!
//! The lead wires [`can_read`] into every read path (API routes, TAXII, exports,
//! forum). Rules, in order:
//!
//! 1. **Central analysts** (the national SOC, curators of the service — MISP's site
//!    admin) read everything.
//! 2. Inside the **owning organisation**, leads and viewers read everything the
//!    organisation owns; member systems (automated tools) read all of it except
//!    TLP:RED, which is for named people, never for machines.
//! 3. **Everyone else** must be in the object's audience, which is its distribution
//!    capped by its TLP:
//!    - CLEAR, GREEN: as distributed (up to *all*);
//!    - AMBER: at most *connected communities* (AMBER is for organisations with a need
//!      to know, never the whole federation);
//!    - AMBER+STRICT: at most *community* or a sharing group (the named organisations
//!      only, no onward sharing to connected communities);
//!    - RED: only a sharing group (its named members); any wider distribution is
//!      clamped to the owning organisation.
//! 4. Outside the owner, TLP:RED is readable by organisation leads only (named
//!    recipients), not by viewers or member systems.

use serde::{Deserialize, Serialize};

use crate::tlp::Tlp;

/// MISP's distribution levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "level", content = "sharing_group")]
pub enum Distribution {
    /// MISP 0: your organisation only.
    OwnOrg,
    /// MISP 1: this community (the owner's region / community).
    Community,
    /// MISP 2: the owner's community and the communities connected to it.
    Connected,
    /// MISP 3: every member of the federation.
    All,
    /// MISP 4: the organisations of one sharing group.
    SharingGroup(u64),
}

impl Distribution {
    /// MISP's numeric level (sharing group is 4).
    pub fn misp_level(self) -> u8 {
        match self {
            Distribution::OwnOrg => 0,
            Distribution::Community => 1,
            Distribution::Connected => 2,
            Distribution::All => 3,
            Distribution::SharingGroup(_) => 4,
        }
    }

    /// From MISP's numeric level; `sharing_group_id` is used for level 4.
    pub fn from_misp(level: u8, sharing_group_id: Option<u64>) -> Option<Self> {
        Some(match level {
            0 => Distribution::OwnOrg,
            1 => Distribution::Community,
            2 => Distribution::Connected,
            3 => Distribution::All,
            4 => Distribution::SharingGroup(sharing_group_id?),
            // 5 = "inherit event" in MISP; resolved by the caller, not here.
            _ => return None,
        })
    }
}

/// What a user or system is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    CentralAnalyst,
    OrgLead,
    OrgViewer,
    MemberSystem,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::CentralAnalyst,
        Role::OrgLead,
        Role::OrgViewer,
        Role::MemberSystem,
    ];
}

/// The reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub role: Role,
    /// The reader's organisation (NHS ODS code).
    pub org: String,
    /// Communities the reader's organisation belongs to.
    pub communities: Vec<String>,
    /// Sharing groups the reader's organisation belongs to.
    pub sharing_groups: Vec<u64>,
}

/// The access facts of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessMeta {
    /// Owning (creating) organisation.
    pub owner_org: String,
    pub tlp: Tlp,
    pub distribution: Distribution,
    /// The owner's community the object was published in.
    pub community: String,
    /// Communities connected to `community` (for [`Distribution::Connected`]).
    #[serde(default)]
    pub connected: Vec<String>,
}

/// The effective audience once the TLP cap is applied (see the module docs).
pub fn effective_distribution(tlp: Tlp, d: Distribution) -> Distribution {
    use Distribution::*;
    match (tlp, d) {
        (Tlp::Clear | Tlp::Green, d) => d,
        (Tlp::Amber, All) => Connected,
        (Tlp::Amber, d) => d,
        (Tlp::AmberStrict, All | Connected) => Community,
        (Tlp::AmberStrict, d) => d,
        (Tlp::Red, SharingGroup(g)) => SharingGroup(g),
        (Tlp::Red, _) => OwnOrg,
    }
}

/// May `viewer` read an object with access facts `obj`?
pub fn can_read(viewer: &Viewer, obj: &AccessMeta) -> bool {
    if viewer.role == Role::CentralAnalyst {
        return true;
    }
    if viewer.org == obj.owner_org {
        return !(obj.tlp == Tlp::Red && viewer.role == Role::MemberSystem);
    }
    if obj.tlp == Tlp::Red && viewer.role != Role::OrgLead {
        return false;
    }
    let in_community = |c: &str| viewer.communities.iter().any(|x| x == c);
    match effective_distribution(obj.tlp, obj.distribution) {
        Distribution::OwnOrg => false,
        Distribution::Community => in_community(&obj.community),
        Distribution::Connected => {
            in_community(&obj.community) || obj.connected.iter().any(|c| in_community(c))
        }
        Distribution::All => true,
        Distribution::SharingGroup(g) => viewer.sharing_groups.contains(&g),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Distribution::*;

    /// The reader's relation to the object's owner.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Rel {
        SameOrg,
        SameCommunity,
        ConnectedCommunity,
        SharingGroupMember,
        Stranger,
    }

    fn viewer(role: Role, rel: Rel) -> Viewer {
        let (org, communities, groups) = match rel {
            Rel::SameOrg => ("RXX", vec!["london"], vec![]),
            Rel::SameCommunity => ("RYY", vec!["london"], vec![]),
            Rel::ConnectedCommunity => ("RZZ", vec!["south-east"], vec![]),
            Rel::SharingGroupMember => ("RQQ", vec!["north"], vec![7]),
            Rel::Stranger => ("RSS", vec!["north"], vec![]),
        };
        Viewer {
            role,
            org: org.into(),
            communities: communities.into_iter().map(String::from).collect(),
            sharing_groups: groups,
        }
    }

    fn obj(tlp: Tlp, distribution: Distribution) -> AccessMeta {
        AccessMeta {
            owner_org: "RXX".into(),
            tlp,
            distribution,
            community: "london".into(),
            connected: vec!["south-east".into()],
        }
    }

    /// The expected answer, written independently of the implementation as a table of
    /// which relations each (TLP, distribution) reaches.
    fn expected(role: Role, rel: Rel, tlp: Tlp, d: Distribution) -> bool {
        if role == Role::CentralAnalyst {
            return true;
        }
        if rel == Rel::SameOrg {
            return !(tlp == Tlp::Red && role == Role::MemberSystem);
        }
        if tlp == Tlp::Red && role != Role::OrgLead {
            return false;
        }
        let reach: &[Rel] = match (tlp, d) {
            (_, OwnOrg) => &[],
            (_, SharingGroup(_)) => &[Rel::SharingGroupMember],
            (Tlp::Red, _) => &[],
            (_, Community) => &[Rel::SameCommunity],
            (Tlp::AmberStrict, _) => &[Rel::SameCommunity],
            (_, Connected) => &[Rel::SameCommunity, Rel::ConnectedCommunity],
            (Tlp::Amber, All) => &[Rel::SameCommunity, Rel::ConnectedCommunity],
            (_, All) => &[
                Rel::SameCommunity,
                Rel::ConnectedCommunity,
                Rel::SharingGroupMember,
                Rel::Stranger,
            ],
        };
        reach.contains(&rel)
    }

    #[test]
    fn tlp_distribution_role_matrix() {
        let rels = [
            Rel::SameOrg,
            Rel::SameCommunity,
            Rel::ConnectedCommunity,
            Rel::SharingGroupMember,
            Rel::Stranger,
        ];
        let dists = [OwnOrg, Community, Connected, All, SharingGroup(7)];
        let mut cases = 0;
        let mut readable = 0;
        for role in Role::ALL {
            for rel in rels {
                for tlp in Tlp::ALL {
                    for d in dists {
                        let got = can_read(&viewer(role, rel), &obj(tlp, d));
                        assert_eq!(
                            got,
                            expected(role, rel, tlp, d),
                            "{role:?} {rel:?} {tlp} {d:?}"
                        );
                        cases += 1;
                        readable += got as usize;
                    }
                }
            }
        }
        assert_eq!(cases, 4 * 5 * 5 * 5);
        // Both outcomes occur plenty: the matrix is not trivially all-true or all-false.
        assert!(readable > 100 && readable < 400, "{readable}");
    }

    #[test]
    fn spot_checks() {
        // A member's TLP:AMBER phishing post to its region: region reads, others don't.
        let post = obj(Tlp::Amber, Community);
        assert!(can_read(
            &viewer(Role::OrgViewer, Rel::SameCommunity),
            &post
        ));
        assert!(!can_read(&viewer(Role::OrgLead, Rel::Stranger), &post));
        // TLP:RED never reaches a machine, even the owner's.
        assert!(!can_read(
            &viewer(Role::MemberSystem, Rel::SameOrg),
            &obj(Tlp::Red, All)
        ));
        // TLP:RED with "all" is clamped to the owner.
        assert!(!can_read(
            &viewer(Role::OrgLead, Rel::SameCommunity),
            &obj(Tlp::Red, All)
        ));
        assert!(can_read(
            &viewer(Role::OrgLead, Rel::SharingGroupMember),
            &obj(Tlp::Red, SharingGroup(7))
        ));
        assert_eq!(Distribution::from_misp(4, Some(7)), Some(SharingGroup(7)));
        assert_eq!(Distribution::from_misp(4, None), None);
    }
}
