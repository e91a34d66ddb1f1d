//! [`IndicatorIndex`]: a compact in-memory matcher for IPs/CIDRs (v4 and v6), domains
//! with subdomain rules, URLs, MD5/SHA-1/SHA-256 hashes and e-mail addresses; and
//! [`LiveIndex`]: an immutable snapshot swapped atomically (arc-swap) plus a small
//! delta, so new indicators take effect at once while readers never lock.
//!
//! Layout, chosen for 10 million indicators in well under 2 GB: fixed-size keys
//! (hashes, addresses) sit inline in open-addressing tables; strings sit in one byte
//! arena with 4-byte slots in a table over it; each value points at a 40-byte
//! [`IndicatorMeta`] carrying what a hit needs (indicator id, validity, TLP,
//! confidence). Expiry is a comparison at lookup, so an indicator stops matching the
//! second its `valid_until` (or its decay-derived end) passes, without a rebuild.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use uuid::Uuid;

use crate::observable::{mask_v4, mask_v6, Observable, ObservableKind};
use crate::tlp::Tlp;
use crate::warninglist::Warninglists;

/// How a domain indicator treats subdomains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainRule {
    /// `evil.example` matches only itself.
    Exact,
    /// `evil.example` matches itself and `a.b.evil.example` (the default: a malicious
    /// registered domain's subdomains are malicious too).
    WithSubdomains,
    /// `*.evil.example`: subdomains only.
    SubdomainsOnly,
}

/// What a hit reports about the indicator that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndicatorMeta {
    /// The UUID part of the STIX indicator id (`indicator--<uuid>`).
    pub indicator: Uuid,
    /// Unix seconds; the indicator matches from here…
    pub valid_from: i64,
    /// …until here (exclusive); `i64::MAX` for open-ended.
    pub valid_until: i64,
    /// Feed/source number (the store maps it to a name).
    pub source: u16,
    pub confidence: u8,
    pub tlp: Tlp,
    pub rule: DomainRule,
}

impl IndicatorMeta {
    /// Valid at `now` (unix seconds)?
    pub fn valid_at(&self, now: i64) -> bool {
        self.valid_from <= now && now < self.valid_until
    }

    /// A meta block for an indicator id valid from `valid_from` onwards.
    pub fn new(indicator: Uuid, valid_from: i64) -> Self {
        IndicatorMeta {
            indicator,
            valid_from,
            valid_until: i64::MAX,
            source: 0,
            confidence: 50,
            tlp: Tlp::Clear,
            rule: DomainRule::WithSubdomains,
        }
    }
}

/// One indicator value to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub observable: Observable,
    pub meta: IndicatorMeta,
}

/// A match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The indicator's value that matched (a network for CIDR hits, the parent domain
    /// for subdomain hits).
    pub matched: Observable,
    pub meta: IndicatorMeta,
}

/// Strings in one arena; the table holds indexes into `spans`.
#[derive(Default, Clone)]
struct StrTable {
    arena: Vec<u8>,
    spans: Vec<(u32, u32)>,
    vals: Vec<u32>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl StrTable {
    fn get_str(&self, i: u32) -> &[u8] {
        let (o, l) = self.spans[i as usize];
        &self.arena[o as usize..(o + l) as usize]
    }

    fn find(&self, key: &[u8]) -> Option<u32> {
        let h = self.hasher.hash_one(key);
        self.table
            .find(h, |&i| self.get_str(i) == key)
            .map(|&i| self.vals[i as usize])
    }

    fn insert(&mut self, key: &[u8], val: u32) {
        let h = self.hasher.hash_one(key);
        if let Some(&i) = self.table.find(h, |&i| {
            let (o, l) = self.spans[i as usize];
            &self.arena[o as usize..(o + l) as usize] == key
        }) {
            self.vals[i as usize] = val;
            return;
        }
        let i = self.spans.len() as u32;
        self.spans.push((self.arena.len() as u32, key.len() as u32));
        self.arena.extend_from_slice(key);
        self.vals.push(val);
        let (arena, spans, hasher) = (&self.arena, &self.spans, &self.hasher);
        self.table.insert_unique(h, i, |&j| {
            let (o, l) = spans[j as usize];
            hasher.hash_one(&arena[o as usize..(o + l) as usize])
        });
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], u32)> + '_ {
        (0..self.spans.len() as u32).map(move |i| (self.get_str(i), self.vals[i as usize]))
    }

    fn bytes(&self) -> usize {
        self.arena.capacity()
            + self.spans.capacity() * 8
            + self.vals.capacity() * 4
            + self.table.capacity() * 5
    }
}

/// The immutable matcher. Build with [`IndicatorIndex::build`] or [`IndicatorIndex::insert`].
#[derive(Default, Clone)]
pub struct IndicatorIndex {
    metas: Vec<IndicatorMeta>,
    /// Per prefix length (longest first), network → meta.
    v4: Vec<(u8, HashMap<u32, u32>)>,
    v6: Vec<(u8, HashMap<u128, u32>)>,
    md5: HashMap<[u8; 16], u32>,
    sha1: HashMap<[u8; 20], u32>,
    sha256: HashMap<[u8; 32], u32>,
    domains: StrTable,
    /// Bit n set: some indexed domain has n labels. The parent walk probes only depths
    /// that exist, which saves a hash probe (a cache miss) per absent level.
    domain_depths: u64,
    urls: StrTable,
    emails: StrTable,
}

impl IndicatorIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds an index from entries; a later entry for the same value replaces an
    /// earlier one.
    pub fn build(entries: impl IntoIterator<Item = IndexEntry>) -> Self {
        let mut ix = IndicatorIndex::new();
        for e in entries {
            ix.insert(e);
        }
        ix
    }

    /// Number of indexed values.
    pub fn len(&self) -> usize {
        self.v4.iter().map(|(_, m)| m.len()).sum::<usize>()
            + self.v6.iter().map(|(_, m)| m.len()).sum::<usize>()
            + self.md5.len()
            + self.sha1.len()
            + self.sha256.len()
            + self.domains.spans.len()
            + self.urls.spans.len()
            + self.emails.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes held (tables at capacity); for the benchmark's
    /// cross-check against RSS.
    pub fn heap_bytes(&self) -> usize {
        self.metas.capacity() * std::mem::size_of::<IndicatorMeta>()
            + self.v4.iter().map(|(_, m)| m.capacity() * 9).sum::<usize>()
            + self
                .v6
                .iter()
                .map(|(_, m)| m.capacity() * 21)
                .sum::<usize>()
            + self.md5.capacity() * 21
            + self.sha1.capacity() * 25
            + self.sha256.capacity() * 37
            + self.domains.bytes()
            + self.urls.bytes()
            + self.emails.bytes()
    }

    /// Adds (or replaces) one value.
    pub fn insert(&mut self, e: IndexEntry) {
        let m = self.metas.len() as u32;
        let mut meta = e.meta;
        match &e.observable {
            Observable::Ipv4 { addr, prefix } => {
                let pos = match self.v4.iter().position(|(p, _)| p == prefix) {
                    Some(i) => i,
                    None => {
                        self.v4.push((*prefix, HashMap::new()));
                        self.v4.sort_by_key(|e| std::cmp::Reverse(e.0));
                        self.v4.iter().position(|(p, _)| p == prefix).unwrap_or(0)
                    }
                };
                self.v4[pos].1.insert(*addr, m);
            }
            Observable::Ipv6 { addr, prefix } => {
                let pos = match self.v6.iter().position(|(p, _)| p == prefix) {
                    Some(i) => i,
                    None => {
                        self.v6.push((*prefix, HashMap::new()));
                        self.v6.sort_by_key(|e| std::cmp::Reverse(e.0));
                        self.v6.iter().position(|(p, _)| p == prefix).unwrap_or(0)
                    }
                };
                self.v6[pos].1.insert(*addr, m);
            }
            Observable::Md5(h) => {
                self.md5.insert(*h, m);
            }
            Observable::Sha1(h) => {
                self.sha1.insert(*h, m);
            }
            Observable::Sha256(h) => {
                self.sha256.insert(*h, m);
            }
            Observable::Domain(d) => {
                let key = match d.strip_prefix("*.") {
                    Some(rest) => {
                        meta.rule = DomainRule::SubdomainsOnly;
                        rest
                    }
                    None => d.as_str(),
                };
                self.domains.insert(key.as_bytes(), m);
                let labels = key.bytes().filter(|&c| c == b'.').count() + 1;
                self.domain_depths |= 1u64 << labels.min(63);
            }
            Observable::Url(u) => self.urls.insert(u.as_bytes(), m),
            Observable::Email(s) => self.emails.insert(s.as_bytes(), m),
        }
        self.metas.push(meta);
    }

    fn meta_valid(&self, i: u32, now: i64) -> Option<IndicatorMeta> {
        let m = self.metas[i as usize];
        m.valid_at(now).then_some(m)
    }

    /// Checks one observable from an event against every indicator valid at `now`
    /// (unix seconds). Returns the most specific hit.
    pub fn check(&self, o: &Observable, now: i64) -> Option<Hit> {
        match o {
            Observable::Ipv4 { addr, prefix } => {
                for (p, map) in &self.v4 {
                    if p > prefix {
                        continue;
                    }
                    let net = mask_v4(*addr, *p);
                    if let Some(m) = map.get(&net).and_then(|&i| self.meta_valid(i, now)) {
                        return Some(Hit {
                            matched: Observable::Ipv4 {
                                addr: net,
                                prefix: *p,
                            },
                            meta: m,
                        });
                    }
                }
                None
            }
            Observable::Ipv6 { addr, prefix } => {
                for (p, map) in &self.v6 {
                    if p > prefix {
                        continue;
                    }
                    let net = mask_v6(*addr, *p);
                    if let Some(m) = map.get(&net).and_then(|&i| self.meta_valid(i, now)) {
                        return Some(Hit {
                            matched: Observable::Ipv6 {
                                addr: net,
                                prefix: *p,
                            },
                            meta: m,
                        });
                    }
                }
                None
            }
            Observable::Md5(h) => self.fixed(self.md5.get(h), o, now),
            Observable::Sha1(h) => self.fixed(self.sha1.get(h), o, now),
            Observable::Sha256(h) => self.fixed(self.sha256.get(h), o, now),
            Observable::Url(u) => self.fixed(self.urls.find(u.as_bytes()).as_ref(), o, now),
            Observable::Email(s) => self.fixed(self.emails.find(s.as_bytes()).as_ref(), o, now),
            Observable::Domain(d) => {
                let d = d.as_str();
                let mut labels = d.bytes().filter(|&c| c == b'.').count() + 1;
                let has_depth = |n: usize| self.domain_depths & (1u64 << n.min(63)) != 0;
                if has_depth(labels) {
                    if let Some(m) = self
                        .domains
                        .find(d.as_bytes())
                        .and_then(|i| self.meta_valid(i, now))
                    {
                        if m.rule != DomainRule::SubdomainsOnly {
                            return Some(Hit {
                                matched: o.clone(),
                                meta: m,
                            });
                        }
                    }
                }
                // Walk up the parents: a.b.evil.example → b.evil.example → evil.example → example.
                let mut rest = d;
                while let Some((_, parent)) = rest.split_once('.') {
                    labels -= 1;
                    if has_depth(labels) {
                        if let Some(m) = self
                            .domains
                            .find(parent.as_bytes())
                            .and_then(|i| self.meta_valid(i, now))
                        {
                            if m.rule != DomainRule::Exact {
                                return Some(Hit {
                                    matched: Observable::Domain(parent.to_string()),
                                    meta: m,
                                });
                            }
                        }
                    }
                    rest = parent;
                }
                None
            }
        }
    }

    fn fixed(&self, i: Option<&u32>, o: &Observable, now: i64) -> Option<Hit> {
        i.and_then(|&i| self.meta_valid(i, now)).map(|m| Hit {
            matched: o.clone(),
            meta: m,
        })
    }

    /// Every indexed value with its meta (for compaction and exports).
    pub fn entries(&self) -> Vec<IndexEntry> {
        let mut out = Vec::with_capacity(self.len());
        let meta = |i: u32| self.metas[i as usize];
        for (p, map) in &self.v4 {
            out.extend(map.iter().map(|(a, &i)| IndexEntry {
                observable: Observable::Ipv4 {
                    addr: *a,
                    prefix: *p,
                },
                meta: meta(i),
            }));
        }
        for (p, map) in &self.v6 {
            out.extend(map.iter().map(|(a, &i)| IndexEntry {
                observable: Observable::Ipv6 {
                    addr: *a,
                    prefix: *p,
                },
                meta: meta(i),
            }));
        }
        out.extend(self.md5.iter().map(|(h, &i)| IndexEntry {
            observable: Observable::Md5(*h),
            meta: meta(i),
        }));
        out.extend(self.sha1.iter().map(|(h, &i)| IndexEntry {
            observable: Observable::Sha1(*h),
            meta: meta(i),
        }));
        out.extend(self.sha256.iter().map(|(h, &i)| IndexEntry {
            observable: Observable::Sha256(*h),
            meta: meta(i),
        }));
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        for (k, i) in self.domains.iter() {
            let m = meta(i);
            let v = if m.rule == DomainRule::SubdomainsOnly {
                format!("*.{}", s(k))
            } else {
                s(k)
            };
            out.push(IndexEntry {
                observable: Observable::Domain(v),
                meta: m,
            });
        }
        out.extend(self.urls.iter().map(|(k, i)| IndexEntry {
            observable: Observable::Url(s(k)),
            meta: meta(i),
        }));
        out.extend(self.emails.iter().map(|(k, i)| IndexEntry {
            observable: Observable::Email(s(k)),
            meta: meta(i),
        }));
        out
    }

    /// Counts of values per kind.
    pub fn counts(&self) -> Vec<(ObservableKind, usize)> {
        vec![
            (
                ObservableKind::Ipv4,
                self.v4.iter().map(|(_, m)| m.len()).sum(),
            ),
            (
                ObservableKind::Ipv6,
                self.v6.iter().map(|(_, m)| m.len()).sum(),
            ),
            (ObservableKind::Domain, self.domains.spans.len()),
            (ObservableKind::Url, self.urls.spans.len()),
            (ObservableKind::Md5, self.md5.len()),
            (ObservableKind::Sha1, self.sha1.len()),
            (ObservableKind::Sha256, self.sha256.len()),
            (ObservableKind::Email, self.emails.spans.len()),
        ]
    }
}

struct Generation {
    base: Arc<IndicatorIndex>,
    /// Small and newer than `base`; copied (not rebuilt) on every upsert.
    delta: IndicatorIndex,
    /// Indicators revoked since the base was built (their base entries are ignored).
    removed: HashSet<Uuid>,
}

/// What an upsert did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UpsertReport {
    pub added: usize,
    /// Values stopped by a warninglist: (value, list name).
    pub suppressed: Vec<(String, String)>,
}

/// The live matcher the detection pipeline shares: lock-free reads, serialised writes.
pub struct LiveIndex {
    state: ArcSwap<Generation>,
    writer: Mutex<()>,
    /// Delta size at which [`LiveIndex::upsert`] reports that compaction is due.
    pub compact_after: usize,
}

impl Default for LiveIndex {
    fn default() -> Self {
        Self::new(IndicatorIndex::new())
    }
}

impl LiveIndex {
    /// Starts from a prebuilt snapshot.
    pub fn new(base: IndicatorIndex) -> Self {
        LiveIndex {
            state: ArcSwap::from_pointee(Generation {
                base: Arc::new(base),
                delta: IndicatorIndex::new(),
                removed: HashSet::new(),
            }),
            writer: Mutex::new(()),
            compact_after: 50_000,
        }
    }

    /// Checks an observable against the current generation (delta first: it is newer).
    pub fn check(&self, o: &Observable, now: i64) -> Option<Hit> {
        let g = self.state.load();
        if let Some(h) = g.delta.check(o, now) {
            return Some(h);
        }
        let h = g.base.check(o, now)?;
        if g.removed.contains(&h.meta.indicator) {
            return None;
        }
        Some(h)
    }

    /// Adds indicators, live. Values on a warninglist are not added and are reported.
    /// Returns at once; readers see the new values from their next check.
    pub fn upsert(&self, entries: Vec<IndexEntry>, lists: Option<&Warninglists>) -> UpsertReport {
        let _w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let cur = self.state.load_full();
        let mut report = UpsertReport::default();
        // Copying the small delta is a few memcpys; rebuilding it would re-hash
        // everything. Callers should still batch: each call copies the delta once.
        let mut delta = cur.delta.clone();
        let mut removed = cur.removed.clone();
        for e in entries {
            if let Some(l) = lists.and_then(|l| l.check(&e.observable)) {
                report
                    .suppressed
                    .push((e.observable.value(), l.to_string()));
                continue;
            }
            removed.remove(&e.meta.indicator);
            delta.insert(e);
            report.added += 1;
        }
        self.state.store(Arc::new(Generation {
            base: cur.base.clone(),
            delta,
            removed,
        }));
        report
    }

    /// Revokes indicators by id: they stop matching at once.
    pub fn revoke(&self, ids: &[Uuid]) {
        let _w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let cur = self.state.load_full();
        let set: HashSet<Uuid> = ids.iter().copied().collect();
        let delta = IndicatorIndex::build(
            cur.delta
                .entries()
                .into_iter()
                .filter(|e| !set.contains(&e.meta.indicator)),
        );
        let mut removed = cur.removed.clone();
        removed.extend(set);
        self.state.store(Arc::new(Generation {
            base: cur.base.clone(),
            delta,
            removed,
        }));
    }

    /// Is the delta big enough that [`LiveIndex::compact`] should run?
    pub fn compaction_due(&self) -> bool {
        self.state.load().delta.len() >= self.compact_after
    }

    /// Folds the delta into a new snapshot, dropping revoked and (at `now`) expired
    /// indicators, and swaps it in. CPU-heavy for big sets: call it from a blocking
    /// thread. Writers wait meanwhile; readers never do.
    pub fn compact(&self, now: i64) -> usize {
        let _w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let cur = self.state.load_full();
        let mut base = IndicatorIndex::new();
        for e in cur.base.entries() {
            if !cur.removed.contains(&e.meta.indicator) && e.meta.valid_until > now {
                base.insert(e);
            }
        }
        for e in cur.delta.entries() {
            if e.meta.valid_until > now {
                base.insert(e);
            }
        }
        let n = base.len();
        self.state.store(Arc::new(Generation {
            base: Arc::new(base),
            delta: IndicatorIndex::new(),
            removed: HashSet::new(),
        }));
        n
    }

    /// Values in the base snapshot plus the delta.
    pub fn len(&self) -> usize {
        let g = self.state.load();
        g.base.len() + g.delta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(o: &str, kind: ObservableKind, n: u128) -> IndexEntry {
        IndexEntry {
            observable: Observable::parse(kind, o).unwrap(),
            meta: IndicatorMeta::new(Uuid::from_u128(n), 0),
        }
    }

    #[test]
    fn matches_each_kind() {
        use ObservableKind::*;
        let mut ix = IndicatorIndex::build([
            e("10.0.0.0/8", Ipv4, 1),
            e("10.1.2.3", Ipv4, 2),
            e("2001:db8::/32", Ipv6, 3),
            e("evil.example", Domain, 4),
            e("http://evil.example/payload.exe", Url, 5),
            e("db349b97c37d22f5ea1d1841e3c89eb4", Md5, 6),
            e("5ff465afaabcbf0150d1a3ab2c2e74f3a4426467", Sha1, 7),
            e(
                "24d004a104d4d54034dbcffc2a4b19a11f39008a575aa614ea04703480b1022c",
                Sha256,
                8,
            ),
            e("ceo@phish.example", Email, 9),
        ]);
        let mut exact = e("only.example", Domain, 10);
        exact.meta.rule = DomainRule::Exact;
        ix.insert(exact);
        ix.insert(e("*.subs.example", Domain, 11));
        let hit = |s: &str| {
            ix.check(&Observable::guess(s).unwrap(), 100)
                .map(|h| h.meta.indicator.as_u128())
        };
        assert_eq!(hit("10.1.2.3"), Some(2), "longest prefix wins");
        assert_eq!(hit("10.200.0.1"), Some(1));
        assert_eq!(hit("11.0.0.1"), None);
        assert_eq!(hit("2001:db8:1::5"), Some(3));
        assert_eq!(hit("2001:db9::5"), None);
        assert_eq!(hit("evil.example"), Some(4));
        assert_eq!(hit("a.b.EVIL.example"), Some(4));
        assert_eq!(hit("notevil.example"), None);
        assert_eq!(hit("only.example"), Some(10));
        assert_eq!(hit("x.only.example"), None);
        assert_eq!(hit("subs.example"), None);
        assert_eq!(hit("x.subs.example"), Some(11));
        assert_eq!(hit("http://EVIL.example/payload.exe"), Some(5));
        assert_eq!(hit("http://evil.example/other"), None);
        assert_eq!(hit("DB349B97C37D22F5EA1D1841E3C89EB4"), Some(6));
        assert_eq!(hit("5ff465afaabcbf0150d1a3ab2c2e74f3a4426467"), Some(7));
        assert_eq!(
            hit("24d004a104d4d54034dbcffc2a4b19a11f39008a575aa614ea04703480b1022c"),
            Some(8)
        );
        assert_eq!(hit("CEO@phish.example"), Some(9));
        assert_eq!(hit("cfo@phish.example"), None);
        // Entries round-trip through compaction.
        let again = IndicatorIndex::build(ix.entries());
        assert_eq!(again.len(), ix.len());
        assert_eq!(
            again
                .check(&Observable::guess("x.subs.example").unwrap(), 100)
                .unwrap()
                .meta
                .indicator
                .as_u128(),
            11
        );
    }

    #[test]
    fn validity_window_is_honoured() {
        let mut x = e("192.0.2.7", ObservableKind::Ipv4, 1);
        x.meta.valid_from = 100;
        x.meta.valid_until = 200;
        let ix = IndicatorIndex::build([x]);
        let o = Observable::guess("192.0.2.7").unwrap();
        assert!(ix.check(&o, 99).is_none());
        assert!(ix.check(&o, 100).is_some());
        assert!(ix.check(&o, 200).is_none());
    }

    #[test]
    fn live_add_revoke_compact() {
        let live = LiveIndex::new(IndicatorIndex::build([e(
            "198.51.100.0/24",
            ObservableKind::Ipv4,
            1,
        )]));
        let o = Observable::guess("203.0.113.9").unwrap();
        assert!(live.check(&o, 10).is_none());
        let r = live.upsert(vec![e("203.0.113.9", ObservableKind::Ipv4, 2)], None);
        assert_eq!(r.added, 1);
        assert_eq!(live.check(&o, 10).unwrap().meta.indicator.as_u128(), 2);
        // Revoking a base indicator takes effect without a rebuild.
        let b = Observable::guess("198.51.100.5").unwrap();
        assert!(live.check(&b, 10).is_some());
        live.revoke(&[Uuid::from_u128(1)]);
        assert!(live.check(&b, 10).is_none());
        // A newer indicator for the same value replaces the older one in the delta.
        live.upsert(vec![e("203.0.113.9", ObservableKind::Ipv4, 5)], None);
        assert_eq!(live.check(&o, 10).unwrap().meta.indicator.as_u128(), 5);
        live.revoke(&[Uuid::from_u128(5)]);
        assert!(live.check(&o, 10).is_none());
        live.upsert(vec![e("203.0.113.9", ObservableKind::Ipv4, 2)], None);
        assert_eq!(live.compact(10), 1);
        assert!(live.check(&o, 10).is_some());
        assert!(live.check(&b, 10).is_none());
    }

    #[test]
    fn readers_on_other_threads_see_new_indicators() {
        let live = Arc::new(LiveIndex::default());
        let o = Observable::guess("evil.example").unwrap();
        let reader = {
            let live = live.clone();
            let o = o.clone();
            std::thread::spawn(move || {
                let start = std::time::Instant::now();
                while start.elapsed() < std::time::Duration::from_secs(5) {
                    if live.check(&o, 10).is_some() {
                        return true;
                    }
                    std::thread::yield_now();
                }
                false
            })
        };
        live.upsert(vec![e("evil.example", ObservableKind::Domain, 3)], None);
        assert!(reader.join().unwrap());
    }
}
