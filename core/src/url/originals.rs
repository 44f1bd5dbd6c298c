//! Who may fetch an original untouched.

/// Who may fetch originals untouched (a URL with no options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OriginalsAccess {
    /// Anyone.
    #[default]
    Public,
    /// Only with a valid signature of the empty spec.
    Signed,
    /// Nobody: `originals_disabled` (403).
    Off,
}

impl OriginalsAccess {
    /// `public`, `signed` or `off`; empty picks the safe default: `signed` when URLs are signed
    /// (`signing`), else `public`.
    pub fn parse(value: &str, signing: bool) -> Option<OriginalsAccess> {
        match value.trim() {
            "" if signing => Some(OriginalsAccess::Signed),
            "" => Some(OriginalsAccess::Public),
            "public" => Some(OriginalsAccess::Public),
            "signed" => Some(OriginalsAccess::Signed),
            "off" => Some(OriginalsAccess::Off),
            _ => None,
        }
    }
}
