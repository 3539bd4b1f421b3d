//! Root-key CRNs: `crn:v1:<cname>:<ctype>:kms:<region>:a/<account>:<instance>:key:<key>`. Any
//! cname is accepted, so a real Key Protect can stand in for ours.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::SecretsError;

/// A parsed root-key CRN.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RootKeyCrn {
    raw: String,
    /// e.g. `keyward`, `bluemix`, `staging`.
    pub cname: String,
    /// e.g. `local`, `public`.
    pub ctype: String,
    /// e.g. `local`, `us-south`.
    pub region: String,
    /// The KMS instance's account.
    pub account: String,
    /// The KMS instance GUID.
    pub instance: Uuid,
    /// The key id.
    pub key: Uuid,
}

impl RootKeyCrn {
    /// The CRN text.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

impl FromStr for RootKeyCrn {
    type Err = SecretsError;

    fn from_str(s: &str) -> Result<Self, SecretsError> {
        let bad = || SecretsError::InvalidCrn;
        let parts: Vec<&str> = s.trim().split(':').collect();
        let [
            crn,
            v1,
            cname,
            ctype,
            service,
            region,
            scope,
            instance,
            kind,
            key,
        ] = parts.as_slice()
        else {
            return Err(bad());
        };
        if *crn != "crn" || *v1 != "v1" || *service != "kms" || *kind != "key" {
            return Err(bad());
        }
        if ![cname, ctype, region].iter().all(|s| segment_ok(s)) {
            return Err(bad());
        }
        let account = scope
            .strip_prefix("a/")
            .filter(|a| segment_ok(a))
            .ok_or_else(bad)?;
        let uuid = |s: &str| {
            if s.len() == 36 {
                Uuid::parse_str(s).map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        Ok(Self {
            raw: s.trim().to_owned(),
            cname: (*cname).to_owned(),
            ctype: (*ctype).to_owned(),
            region: (*region).to_owned(),
            account: account.to_owned(),
            instance: uuid(instance)?,
            key: uuid(key)?,
        })
    }
}

impl fmt::Display for RootKeyCrn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_our_and_ibm_crns() {
        let i = Uuid::new_v4();
        let k = Uuid::new_v4();
        let ours: RootKeyCrn = format!("crn:v1:keyward:local:kms:local:a/abc123:{i}:key:{k}")
            .parse()
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(
            (ours.instance, ours.key, ours.account.as_str()),
            (i, k, "abc123")
        );
        let ibm: RootKeyCrn = format!("crn:v1:bluemix:public:kms:us-south:a/f00d:{i}:key:{k}")
            .parse()
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(ibm.region, "us-south");
    }

    #[test]
    fn refuses_malformed_crns() {
        let i = Uuid::new_v4();
        let k = Uuid::new_v4();
        for bad in [
            String::new(),
            "not a crn".into(),
            format!("crn:v1:keyward:local:cos:local:a/abc:{i}:key:{k}"),
            format!("crn:v1:keyward:local:kms:local:abc:{i}:key:{k}"),
            format!("crn:v1:keyward:local:kms:local:a/abc:{i}:bucket:{k}"),
            format!("crn:v1:keyward:local:kms:local:a/abc:not-a-uuid:key:{k}"),
            format!("crn:v1:keyward:local:kms:local:a/abc:{i}:key:{k}:extra"),
            format!("crn:v2:keyward:local:kms:local:a/abc:{i}:key:{k}"),
        ] {
            assert!(bad.parse::<RootKeyCrn>().is_err(), "{bad}");
        }
    }
}
