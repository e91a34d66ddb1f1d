//! Estate matching: which members run what is vulnerable.
//!
//! Members register [`Asset`]s (hosts with OS, patch level, installed software as CPE
//! 2.3 or purl, and scanner facts such as `smbv1 = enabled`). A [`VulnDb`] holds NVD
//! records, OSV and CSAF advisories and the KEV catalogue; [`VulnDb::exposures`]
//! matches them against the estate and reports each hit with a
//! [`MatchConfidence`]: exact purl beats exact CPE product beats fuzzy, because CPE
//! matching is the best-known source of false positives.

pub mod cpe;
pub mod purl;
pub mod version;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::error::{IntelError, Result};
use crate::feeds::csaf::CsafAdvisory;
use crate::feeds::kev::{KevCatalog, KevEntry};
use crate::feeds::nvd::{Configuration, CpeMatch, CveRecord, Node};
use crate::feeds::osv::OsvRecord;
use cpe::{Av, Cpe};
use purl::Purl;
use version::compare_versions;

/// A piece of installed software.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    /// CPE 2.3 formatted string.
    #[serde(default)]
    pub cpe: Option<String>,
    /// Package URL with version.
    #[serde(default)]
    pub purl: Option<String>,
    /// Free-text name/vendor/version as an inventory tool reports it (fuzzy matching only).
    #[serde(default)]
    pub vendor: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

/// One host of a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// Member organisation (ODS code).
    pub org: String,
    pub asset_id: String,
    #[serde(default)]
    pub hostname: Option<String>,
    /// e.g. `Windows 7`, `Windows Server 2008 R2`, `Ubuntu`.
    #[serde(default)]
    pub os_name: Option<String>,
    #[serde(default)]
    pub os_version: Option<String>,
    /// e.g. `SP1`.
    #[serde(default)]
    pub os_patch_level: Option<String>,
    /// Installed updates (KB numbers), as patch management or the scanner reports them.
    #[serde(default)]
    pub patches: BTreeSet<String>,
    #[serde(default)]
    pub software: Vec<Software>,
    /// Scanner/agent facts, e.g. `smbv1 = enabled`.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// How sure a match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchConfidence {
    /// Vendor/product names compared loosely (KEV entries without CPE data).
    Fuzzy,
    /// A CPE matched, but the asset left some attribute open (`*`).
    PartialCpe,
    /// The CPE product and version matched exactly or within the stated range.
    ExactCpe,
    /// The package URL matched and the version is in the affected range.
    ExactPurl,
}

/// One vulnerable thing on one asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    pub org: String,
    pub asset_id: String,
    pub cve: String,
    /// What matched (the asset's CPE/purl, or the vulnerable criterion).
    pub matched: String,
    /// Which data said so: `nvd`, `osv:<id>`, `csaf:<tracking id>`, `kev`.
    pub source: String,
    pub confidence: MatchConfidence,
    pub in_kev: bool,
    pub kev_ransomware: bool,
    /// KEV due date for remediation.
    pub kev_due: Option<String>,
    pub cvss: Option<f64>,
}

/// Well-known Microsoft fixes: MS17-010 (EternalBlue and siblings) by platform.
/// Later cumulative rollups also contain the fix; list them via [`VulnDb::add_fixes`].
pub const MS17_010_KBS: &[&str] = &[
    "KB4012598",
    "KB4012212",
    "KB4012215",
    "KB4012213",
    "KB4012216",
    "KB4012214",
    "KB4012217",
    "KB4012606",
    "KB4013198",
    "KB4013429",
];

impl Asset {
    /// The CPEs this asset presents: its software's, its OS's (derived from name,
    /// version and patch level when the inventory gave no CPE), and ones implied by
    /// scanner facts (`smbv1 = enabled` → Microsoft SMB 1.0).
    pub fn cpes(&self) -> Vec<(Cpe, String)> {
        let mut out = Vec::new();
        for s in &self.software {
            if let Some(c) = s.cpe.as_deref().and_then(|c| Cpe::parse(c).ok()) {
                out.push((c.clone(), c.to_string()));
            }
        }
        if let Some(c) = self.os_cpe() {
            out.push((c.clone(), c.to_string()));
        }
        let on = |k: &str| {
            self.attributes.get(k).is_some_and(|v| {
                matches!(
                    v.to_ascii_lowercase().as_str(),
                    "enabled" | "true" | "on" | "yes" | "1"
                )
            })
        };
        if on("smbv1") {
            let c = Cpe::new('a', "microsoft", "server_message_block", "1.0");
            out.push((c.clone(), "smbv1=enabled".into()));
        }
        out
    }

    /// The OS as a CPE, from `os_name`/`os_patch_level` for common Windows releases.
    pub fn os_cpe(&self) -> Option<Cpe> {
        let name = self.os_name.as_deref()?.trim().to_ascii_lowercase();
        let sp = self
            .os_patch_level
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase().replace(' ', ""))
            .filter(|s| !s.is_empty());
        let product = match name.trim_start_matches("microsoft ") {
            "windows xp" => "windows_xp",
            "windows vista" => "windows_vista",
            "windows 7" => "windows_7",
            "windows 8.1" => "windows_8.1",
            "windows rt 8.1" => "windows_rt_8.1",
            "windows 10" => match self.os_version.as_deref().unwrap_or("") {
                "1507" => "windows_10_1507",
                "1511" => "windows_10_1511",
                "1607" => "windows_10_1607",
                _ => "windows_10",
            },
            "windows server 2003" => "windows_server_2003",
            "windows server 2008" => "windows_server_2008",
            "windows server 2008 r2" => "windows_server_2008_r2",
            "windows server 2012" => "windows_server_2012",
            "windows server 2012 r2" => "windows_server_2012_r2",
            "windows server 2016" => "windows_server_2016",
            _ => return None,
        };
        let mut c = Cpe::new('o', "microsoft", product, "-");
        c.attrs[4] = match sp {
            Some(s) => Av::Val(s),
            None => Av::Na,
        };
        Some(c)
    }
}

fn in_range(m: &CpeMatch, version: &str) -> bool {
    let ok = |bound: &Option<String>, pass: &dyn Fn(Ordering) -> bool| {
        bound
            .as_deref()
            .is_none_or(|b| pass(compare_versions(version, b)))
    };
    ok(&m.version_start_including, &|o| o != Ordering::Less)
        && ok(&m.version_start_excluding, &|o| o == Ordering::Greater)
        && ok(&m.version_end_including, &|o| o != Ordering::Greater)
        && ok(&m.version_end_excluding, &|o| o == Ordering::Less)
}

fn has_range(m: &CpeMatch) -> bool {
    m.version_start_including.is_some()
        || m.version_start_excluding.is_some()
        || m.version_end_including.is_some()
        || m.version_end_excluding.is_some()
}

/// Matches one cpeMatch against the asset's CPEs; returns (asset CPE text, exact?).
fn match_cpe(m: &CpeMatch, crit: &Cpe, cpes: &[(Cpe, String)]) -> Option<(String, bool)> {
    let mut best: Option<(String, bool)> = None;
    for (c, label) in cpes {
        let Some(exact) = crit.matches(c) else {
            continue;
        };
        let exact = if has_range(m) {
            match c.version() {
                Av::Val(v) if in_range(m, v) => exact,
                Av::Val(_) => continue,
                // The asset did not say which version: possible, not certain.
                _ => false,
            }
        } else {
            exact
        };
        if best.as_ref().is_none_or(|b| !b.1 && exact) {
            best = Some((label.clone(), exact));
        }
    }
    best
}

/// Evaluates a node; returns whether it holds and the vulnerable matches it used.
fn eval_node(
    n: &Node,
    crits: &HashMap<String, Cpe>,
    cpes: &[(Cpe, String)],
    hits: &mut Vec<(String, bool, bool)>,
) -> bool {
    let and = n.operator.as_deref() == Some("AND");
    let mut any = false;
    let mut all = true;
    let mut local = Vec::new();
    for m in &n.cpe_match {
        let r = crits.get(&m.criteria).and_then(|c| match_cpe(m, c, cpes));
        match r {
            Some((label, exact)) => {
                any = true;
                local.push((label, exact, m.vulnerable));
            }
            None => all = false,
        }
    }
    let ok = if and {
        all && !n.cpe_match.is_empty()
    } else {
        any
    };
    let ok = ok != n.negate;
    if ok && !n.negate {
        hits.extend(local);
    }
    ok
}

fn eval_config(
    c: &Configuration,
    crits: &HashMap<String, Cpe>,
    cpes: &[(Cpe, String)],
) -> Option<(String, bool)> {
    let and = c.operator.as_deref() == Some("AND");
    let mut hits = Vec::new();
    let results: Vec<bool> = c
        .nodes
        .iter()
        .map(|n| eval_node(n, crits, cpes, &mut hits))
        .collect();
    let ok = if and {
        results.iter().all(|&b| b)
    } else {
        results.iter().any(|&b| b)
    };
    if ok == c.negate {
        return None;
    }
    // Report the vulnerable component; the whole match is only as exact as its weakest part.
    let all_exact = hits.iter().all(|h| h.1);
    hits.into_iter()
        .find(|h| h.2)
        .map(|(label, _, _)| (label, all_exact))
}

/// Vulnerability knowledge to match against the estate.
#[derive(Default)]
pub struct VulnDb {
    nvd: HashMap<String, CveRecord>,
    /// Parsed criteria, by criteria string.
    crits: HashMap<String, Cpe>,
    /// (vendor, product) of every criterion → CVEs using it: the pre-filter that keeps
    /// matching a full NVD mirror against a national estate cheap.
    by_product: HashMap<(String, String), BTreeSet<String>>,
    osv: Vec<OsvRecord>,
    csaf: Vec<CsafAdvisory>,
    kev: HashMap<String, KevEntry>,
    /// Normalised (vendorProject, product) → KEV CVEs, for the fuzzy fallback.
    kev_by_product: HashMap<(String, String), Vec<String>>,
    /// CVE → KBs that fix it.
    fixes: HashMap<String, BTreeSet<String>>,
}

impl VulnDb {
    pub fn new() -> Self {
        let mut db = VulnDb::default();
        for cve in [
            "CVE-2017-0143",
            "CVE-2017-0144",
            "CVE-2017-0145",
            "CVE-2017-0146",
            "CVE-2017-0147",
            "CVE-2017-0148",
        ] {
            db.add_fixes(cve, MS17_010_KBS.iter().copied());
        }
        db
    }

    /// Declares updates that fix a CVE (a host with any of them is not exposed).
    pub fn add_fixes<'a>(&mut self, cve: &str, kbs: impl IntoIterator<Item = &'a str>) {
        self.fixes
            .entry(cve.to_string())
            .or_default()
            .extend(kbs.into_iter().map(|k| k.to_ascii_uppercase()));
    }

    /// Adds (or replaces) an NVD record. Criteria that do not parse are skipped.
    pub fn add_nvd(&mut self, r: CveRecord) {
        for c in &r.configurations {
            for n in &c.nodes {
                for m in &n.cpe_match {
                    if let Ok(cpe) = Cpe::parse(&m.criteria) {
                        if let (Some(v), Some(p)) = (cpe.vendor().value(), cpe.product().value()) {
                            self.by_product
                                .entry((v.to_string(), p.to_string()))
                                .or_default()
                                .insert(r.id.clone());
                        }
                        self.crits.insert(m.criteria.clone(), cpe);
                    }
                }
            }
        }
        self.nvd.insert(r.id.clone(), r);
    }

    pub fn add_osv(&mut self, r: OsvRecord) {
        self.osv.push(r);
    }

    pub fn add_csaf(&mut self, a: CsafAdvisory) {
        self.csaf.push(a);
    }

    pub fn set_kev(&mut self, k: &KevCatalog) {
        self.kev = k
            .vulnerabilities
            .iter()
            .map(|e| (e.cve_id.clone(), e.clone()))
            .collect();
        self.kev_by_product.clear();
        for e in &k.vulnerabilities {
            self.kev_by_product
                .entry((kev_norm(&e.vendor_project), kev_norm(&e.product)))
                .or_default()
                .push(e.cve_id.clone());
        }
    }

    /// Draft alerts for KEV entries new since the previous catalogue: each with exactly
    /// the members exposed to it (members with no exposure get no alert).
    pub fn kev_alert_drafts(
        &self,
        new: &KevCatalog,
        previous: &KevCatalog,
        assets: &[Asset],
    ) -> Vec<KevAlertDraft> {
        let added = new.added_since(previous);
        if added.is_empty() {
            return Vec::new();
        }
        let all = self.exposures(assets);
        added
            .into_iter()
            .map(|k| {
                let mut targets: BTreeMap<String, Vec<Exposure>> = BTreeMap::new();
                for (org, ex) in &all {
                    let v: Vec<Exposure> =
                        ex.iter().filter(|e| e.cve == k.cve_id).cloned().collect();
                    if !v.is_empty() {
                        targets.insert(org.clone(), v);
                    }
                }
                KevAlertDraft {
                    kev: k.clone(),
                    targets,
                }
            })
            .collect()
    }

    fn patched(&self, asset: &Asset, cve: &str) -> bool {
        self.fixes.get(cve).is_some_and(|kbs| {
            asset
                .patches
                .iter()
                .any(|p| kbs.contains(&p.to_ascii_uppercase()))
        })
    }

    fn exposure(
        &self,
        asset: &Asset,
        cve: &str,
        matched: String,
        source: String,
        confidence: MatchConfidence,
    ) -> Exposure {
        let kev = self.kev.get(cve);
        Exposure {
            org: asset.org.clone(),
            asset_id: asset.asset_id.clone(),
            cve: cve.to_string(),
            matched,
            source,
            confidence,
            in_kev: kev.is_some(),
            kev_ransomware: kev.is_some_and(KevEntry::ransomware_known),
            kev_due: kev.map(|k| k.due_date.clone()),
            cvss: self.nvd.get(cve).and_then(CveRecord::base_score),
        }
    }

    /// Exposures of one asset, best match per CVE, unpatched only.
    pub fn asset_exposures(&self, asset: &Asset) -> Vec<Exposure> {
        let mut best: BTreeMap<String, Exposure> = BTreeMap::new();
        let mut put = |e: Exposure| {
            if best.get(&e.cve).is_none_or(|b| e.confidence > b.confidence) {
                best.insert(e.cve.clone(), e);
            }
        };
        let cpes = self_cpes(asset);
        // NVD configurations, pre-filtered by the asset's (vendor, product) pairs.
        let mut candidates = BTreeSet::new();
        for (c, _) in &cpes {
            if let (Some(v), Some(p)) = (c.vendor().value(), c.product().value()) {
                if let Some(s) = self.by_product.get(&(v.to_string(), p.to_string())) {
                    candidates.extend(s.iter().cloned());
                }
            }
        }
        for cve in &candidates {
            let Some(r) = self.nvd.get(cve) else { continue };
            for cfg in &r.configurations {
                if let Some((label, exact)) = eval_config(cfg, &self.crits, &cpes) {
                    let conf = if exact {
                        MatchConfidence::ExactCpe
                    } else {
                        MatchConfidence::PartialCpe
                    };
                    put(self.exposure(asset, cve, label, "nvd".into(), conf));
                }
            }
        }
        // OSV by purl.
        let purls: Vec<Purl> = asset
            .software
            .iter()
            .filter_map(|s| s.purl.as_deref())
            .filter_map(|p| Purl::parse(p).ok())
            .collect();
        for p in &purls {
            let (Some((eco, name)), Some(ver)) = (p.osv_package(), p.version.as_deref()) else {
                continue;
            };
            for r in &self.osv {
                if r.withdrawn.is_some() {
                    continue;
                }
                for a in &r.affected {
                    let Some(pkg) = &a.package else { continue };
                    let same = match pkg.purl.as_deref().and_then(|x| Purl::parse(x).ok()) {
                        Some(q) => q.same_package(p),
                        None => pkg.ecosystem.split(':').next() == Some(eco) && pkg.name == name,
                    };
                    if same && a.affects(ver) {
                        let cves = r.cves();
                        let ids: Vec<&str> = if cves.is_empty() {
                            vec![r.id.as_str()]
                        } else {
                            cves
                        };
                        for cve in ids {
                            let label = format!(
                                "pkg:{}/{}@{ver}",
                                p.type_,
                                p.namespace
                                    .as_ref()
                                    .map(|n| format!("{n}/"))
                                    .unwrap_or_default()
                                    + &p.name
                            );
                            put(self.exposure(
                                asset,
                                cve,
                                label,
                                format!("osv:{}", r.id),
                                MatchConfidence::ExactPurl,
                            ));
                        }
                    }
                }
            }
        }
        // CSAF by purl (exact) or CPE.
        for adv in &self.csaf {
            for v in &adv.vulnerabilities {
                let Some(cve) = v.cve.as_deref() else {
                    continue;
                };
                for id in &v.affected {
                    let Some(prod) = adv.products.get(id) else {
                        continue;
                    };
                    if let Some(q) = prod.purl.as_deref().and_then(|x| Purl::parse(x).ok()) {
                        if purls
                            .iter()
                            .any(|p| p.same_package(&q) && p.version == q.version)
                        {
                            put(self.exposure(
                                asset,
                                cve,
                                prod.purl.clone().unwrap_or_default(),
                                format!("csaf:{}", adv.tracking_id),
                                MatchConfidence::ExactPurl,
                            ));
                            continue;
                        }
                    }
                    if let Some(c) = prod.cpe.as_deref().and_then(|x| Cpe::parse(x).ok()) {
                        if let Some((label, exact)) = cpes
                            .iter()
                            .find_map(|(a, l)| c.matches(a).map(|e| (l.clone(), e)))
                        {
                            let conf = if exact {
                                MatchConfidence::ExactCpe
                            } else {
                                MatchConfidence::PartialCpe
                            };
                            put(self.exposure(
                                asset,
                                cve,
                                label,
                                format!("csaf:{}", adv.tracking_id),
                                conf,
                            ));
                        }
                    }
                }
            }
        }
        // KEV entries with no NVD configuration known: fuzzy vendor/product, looked up
        // by the asset's (vendor, product) pairs, never by scanning the catalogue.
        let mut names: Vec<((String, String), String)> = cpes
            .iter()
            .filter_map(|(c, l)| {
                Some((
                    (
                        c.vendor().value()?.to_string(),
                        c.product().value()?.to_string(),
                    ),
                    l.clone(),
                ))
            })
            .collect();
        for s in &asset.software {
            if let (Some(v), Some(n)) = (&s.vendor, &s.name) {
                names.push(((kev_norm(v), kev_norm(n)), format!("{v} {n}")));
            }
        }
        for (key, label) in names {
            for cve in self.kev_by_product.get(&key).into_iter().flatten() {
                if !self.nvd.contains_key(cve) {
                    put(self.exposure(
                        asset,
                        cve,
                        label.clone(),
                        "kev".into(),
                        MatchConfidence::Fuzzy,
                    ));
                }
            }
        }
        best.into_values()
            .filter(|e| !self.patched(asset, &e.cve))
            .collect()
    }

    /// Exposures across the estate, grouped by member.
    pub fn exposures(&self, assets: &[Asset]) -> BTreeMap<String, Vec<Exposure>> {
        let mut out: BTreeMap<String, Vec<Exposure>> = BTreeMap::new();
        for a in assets {
            let e = self.asset_exposures(a);
            if !e.is_empty() {
                out.entry(a.org.clone()).or_default().extend(e);
            }
        }
        out
    }

    /// The national question: which members run software in KEV with known ransomware
    /// use, unpatched? (Exposures are unpatched by construction.)
    pub fn ransomware_kev_exposed(
        &self,
        assets: &[Asset],
        min: MatchConfidence,
    ) -> BTreeMap<String, Vec<Exposure>> {
        let mut m = self.exposures(assets);
        for v in m.values_mut() {
            v.retain(|e| e.in_kev && e.kev_ransomware && e.confidence >= min);
        }
        m.retain(|_, v| !v.is_empty());
        m
    }

    /// Members exposed to one CVE (e.g. a new KEV entry): the targets of a draft alert.
    pub fn exposed_to(&self, assets: &[Asset], cve: &str) -> BTreeMap<String, Vec<Exposure>> {
        let mut m = self.exposures(assets);
        for v in m.values_mut() {
            v.retain(|e| e.cve == cve);
        }
        m.retain(|_, v| !v.is_empty());
        m
    }
}

/// A draft High Severity Alert for one new KEV entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KevAlertDraft {
    pub kev: KevEntry,
    /// Exposed members and what is exposed.
    pub targets: BTreeMap<String, Vec<Exposure>>,
}

fn kev_norm(s: &str) -> String {
    s.trim().to_ascii_lowercase().replace([' ', '-'], "_")
}

fn self_cpes(a: &Asset) -> Vec<(Cpe, String)> {
    a.cpes()
}

/// Imports assets from CSV with header
/// `org,asset_id,hostname,os_name,os_version,os_patch_level,software,patches,attributes`
/// where `software` is `;`-separated CPEs/purls, `patches` `;`-separated KB ids and
/// `attributes` `;`-separated `key=value`.
pub fn parse_assets_csv(bytes: &[u8]) -> Result<Vec<Asset>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let h = rdr
        .headers()
        .map_err(|e| IntelError::Csv {
            line: 1,
            message: e.to_string(),
        })?
        .clone();
    let col = |n: &str| h.iter().position(|x| x == n);
    let (Some(oi), Some(ai)) = (col("org"), col("asset_id")) else {
        return Err(IntelError::Csv {
            line: 1,
            message: "header needs org and asset_id".into(),
        });
    };
    let mut out = Vec::new();
    for (n, rec) in rdr.records().enumerate() {
        let line = n as u64 + 2;
        let rec = rec.map_err(|e| IntelError::Csv {
            line,
            message: e.to_string(),
        })?;
        let get = |n: &str| {
            col(n)
                .and_then(|i| rec.get(i))
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        let list = |n: &str| {
            get(n)
                .map(|s| {
                    s.split(';')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        let mut software = Vec::new();
        for s in list("software") {
            if s.starts_with("cpe:") {
                Cpe::parse(&s).map_err(|e| IntelError::Csv {
                    line,
                    message: e.to_string(),
                })?;
                software.push(Software {
                    cpe: Some(s),
                    purl: None,
                    vendor: None,
                    name: None,
                    version: None,
                });
            } else if s.starts_with("pkg:") {
                Purl::parse(&s).map_err(|e| IntelError::Csv {
                    line,
                    message: e.to_string(),
                })?;
                software.push(Software {
                    cpe: None,
                    purl: Some(s),
                    vendor: None,
                    name: None,
                    version: None,
                });
            } else {
                return Err(IntelError::Csv {
                    line,
                    message: format!("software entry {s:?} is neither a CPE nor a purl"),
                });
            }
        }
        let mut attributes = BTreeMap::new();
        for kv in list("attributes") {
            let (k, v) = kv.split_once('=').ok_or_else(|| IntelError::Csv {
                line,
                message: format!("attribute {kv:?} is not key=value"),
            })?;
            attributes.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        out.push(Asset {
            org: rec.get(oi).unwrap_or("").to_string(),
            asset_id: rec.get(ai).unwrap_or("").to_string(),
            hostname: get("hostname"),
            os_name: get("os_name"),
            os_version: get("os_version"),
            os_patch_level: get("os_patch_level"),
            patches: list("patches").into_iter().collect(),
            software,
            attributes,
        });
    }
    Ok(out)
}
