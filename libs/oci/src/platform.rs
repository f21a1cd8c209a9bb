//! Which of an image index's manifests is read: an operating system, an architecture and
//! perhaps a CPU variant, spelled like Docker's `--platform` (`linux/amd64`, `linux/arm64/v8`).

use std::fmt;

/// os/arch[/variant], parsed from "linux/amd64", "linux/arm64/v8".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// The operating system (`linux`).
    pub os: String,
    /// The CPU architecture (`amd64`, `arm64`).
    pub architecture: String,
    /// The CPU variant (`v8`), when one is named.
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/architecture[/variant]`; the message names what is wrong.
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let well_formed = (2..=3).contains(&parts.len())
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !well_formed {
            return Err(format!(
                "the platform {s:?} is not os/architecture[/variant]; write it like linux/amd64 or linux/arm64/v8"
            ));
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: parts[1].to_ascii_lowercase(),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }

    /// `linux/amd64`, the default.
    pub fn linux_amd64() -> Platform {
        Platform {
            os: "linux".to_string(),
            architecture: "amd64".to_string(),
            variant: None,
        }
    }

    /// Whether an index entry for `offered` serves a request for `self`: same os and
    /// architecture, and the same variant when `self` names one (arm64's only variant, `v8`,
    /// also matches an entry that names none).
    pub(crate) fn accepts(&self, offered: &Platform) -> bool {
        if self.os != offered.os || self.architecture != offered.architecture {
            return false;
        }
        match (&self.variant, &offered.variant) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            (Some(want), None) => self.architecture == "arm64" && want == "v8",
        }
    }
}

impl Default for Platform {
    fn default() -> Self {
        Platform::linux_amd64()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_os_architecture_and_variant() {
        assert_eq!(Platform::parse("linux/amd64"), Ok(Platform::linux_amd64()));
        let arm = Platform::parse("linux/arm64/v8").expect("parses");
        assert_eq!(arm.os, "linux");
        assert_eq!(arm.architecture, "arm64");
        assert_eq!(arm.variant.as_deref(), Some("v8"));
        assert_eq!(arm.to_string(), "linux/arm64/v8");
        assert_eq!(Platform::linux_amd64().to_string(), "linux/amd64");
        assert_eq!(
            Platform::parse(" Linux/ARM64 ").map(|p| p.to_string()),
            Ok("linux/arm64".to_string())
        );
    }

    #[test]
    fn rejects_what_is_not_os_slash_architecture() {
        for bad in [
            "linux",
            "",
            "linux/",
            "/amd64",
            "linux/arm64/v8/x",
            "linux/am d64",
        ] {
            let err = Platform::parse(bad).expect_err(bad);
            assert!(err.contains("is not os/architecture[/variant]"), "{err}");
        }
        assert_eq!(
            Platform::parse("linux").expect_err("no architecture"),
            "the platform \"linux\" is not os/architecture[/variant]; write it like linux/amd64 or linux/arm64/v8"
        );
    }

    #[test]
    fn a_request_without_variant_accepts_any_variant_and_arm64_v8_accepts_none() {
        let p = |s: &str| Platform::parse(s).expect("parses");
        assert!(p("linux/arm64").accepts(&p("linux/arm64/v8")));
        assert!(p("linux/arm64/v8").accepts(&p("linux/arm64")));
        assert!(!p("linux/arm/v7").accepts(&p("linux/arm/v6")));
        assert!(!p("linux/arm/v7").accepts(&p("linux/arm")));
        assert!(!p("linux/amd64").accepts(&p("linux/arm64")));
        assert!(!p("linux/amd64").accepts(&p("windows/amd64")));
    }
}
