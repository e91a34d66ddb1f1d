//! Package URLs (`pkg:type/namespace/name@version?qualifiers#subpath`).

use crate::error::{IntelError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Purl {
    pub type_: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
}

fn dec(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 3 <= b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            if let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Purl {
    pub fn parse(s: &str) -> Result<Self> {
        let err = |m: &str| IntelError::Purl {
            purl: s.chars().take(300).collect(),
            message: m.into(),
        };
        let rest = s
            .strip_prefix("pkg:")
            .ok_or_else(|| err("does not start with pkg:"))?;
        let rest = rest.split('#').next().unwrap_or("");
        let rest = rest.split('?').next().unwrap_or("");
        let rest = rest.trim_start_matches('/');
        let (path, version) = match rest.rsplit_once('@') {
            Some((p, v)) if !p.is_empty() => (p, Some(dec(v))),
            _ => (rest, None),
        };
        let (type_, path) = path.split_once('/').ok_or_else(|| err("no type/name"))?;
        if type_.is_empty()
            || !type_
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b".+-".contains(&c))
        {
            return Err(err("bad type"));
        }
        let type_ = type_.to_ascii_lowercase();
        let path = path.trim_end_matches('/');
        let (namespace, name) = match path.rsplit_once('/') {
            Some((ns, n)) => (
                Some(ns.split('/').map(dec).collect::<Vec<_>>().join("/")),
                dec(n),
            ),
            None => (None, dec(path)),
        };
        if name.is_empty() {
            return Err(err("empty name"));
        }
        // Types whose names are case-insensitive per the purl spec.
        let lower = matches!(
            type_.as_str(),
            "npm" | "pypi" | "github" | "bitbucket" | "composer" | "golang" | "hex" | "deb" | "apk"
        );
        let norm = |x: String| if lower { x.to_ascii_lowercase() } else { x };
        let name = if type_ == "pypi" {
            norm(name).replace('_', "-")
        } else {
            norm(name)
        };
        Ok(Purl {
            namespace: namespace.map(norm),
            name,
            version: version.filter(|v| !v.is_empty()),
            type_,
        })
    }

    /// The OSV ecosystem and package name this purl corresponds to.
    pub fn osv_package(&self) -> Option<(&'static str, String)> {
        let ns_name = |sep: &str| match &self.namespace {
            Some(ns) => format!("{ns}{sep}{}", self.name),
            None => self.name.clone(),
        };
        Some(match self.type_.as_str() {
            "npm" => ("npm", ns_name("/")),
            "pypi" => ("PyPI", self.name.clone()),
            "maven" => ("Maven", ns_name(":")),
            "gem" => ("RubyGems", self.name.clone()),
            "cargo" => ("crates.io", self.name.clone()),
            "golang" => ("Go", ns_name("/")),
            "nuget" => ("NuGet", self.name.clone()),
            "composer" => ("Packagist", ns_name("/")),
            "hex" => ("Hex", self.name.clone()),
            "pub" => ("Pub", self.name.clone()),
            "deb" => ("Debian", self.name.clone()),
            "apk" => ("Alpine", self.name.clone()),
            _ => return None,
        })
    }

    /// Same package (ignoring version)?
    pub fn same_package(&self, other: &Purl) -> bool {
        self.type_ == other.type_ && self.namespace == other.namespace && self.name == other.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        let p = Purl::parse("pkg:maven/com.typesafe.akka/akka-actor_2.12@2.5.15?type=jar").unwrap();
        assert_eq!(
            p.osv_package(),
            Some(("Maven", "com.typesafe.akka:akka-actor_2.12".into()))
        );
        assert_eq!(p.version.as_deref(), Some("2.5.15"));
        let n = Purl::parse("pkg:npm/%40angular/core@12.0.0").unwrap();
        assert_eq!(n.namespace.as_deref(), Some("@angular"));
        assert_eq!(n.osv_package().unwrap().1, "@angular/core");
        let y = Purl::parse("pkg:pypi/Django_Rest@1.0").unwrap();
        assert_eq!(y.name, "django-rest");
        assert!(Purl::parse("npm/x").is_err());
        assert!(Purl::parse("pkg:npm/").is_err());
    }
}
