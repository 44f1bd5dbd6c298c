//! One row of the index, and the one place rows are built: [`Record::original`] and
//! [`Record::variant`].

use std::fmt;

use refract_core::VariantKey;

use super::{IndexError, Result};

/// Original or variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Original,
    Variant,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Original => "original",
            Class::Variant => "variant",
        }
    }

    pub fn parse(s: &str) -> Result<Class> {
        match s {
            "original" => Ok(Class::Original),
            "variant" => Ok(Class::Variant),
            other => Err(IndexError::Corrupt(format!("unknown class {other:?}"))),
        }
    }
}

/// The tiers an object is present in, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Presence(pub u8);

impl Presence {
    pub const HOT: Presence = Presence(1);
    pub const WARM: Presence = Presence(2);
    pub const COLD: Presence = Presence(4);
    /// The originals' object store.
    pub const STORE: Presence = Presence(8);

    pub fn contains(self, other: Presence) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
    pub fn with(self, other: Presence) -> Presence {
        Presence(self.0 | other.0)
    }
    pub fn without(self, other: Presence) -> Presence {
        Presence(self.0 & !other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Presence::HOT, "hot"),
            (Presence::WARM, "warm"),
            (Presence::COLD, "cold"),
            (Presence::STORE, "store"),
        ];
        let list: Vec<_> = names
            .iter()
            .filter(|(t, _)| self.contains(*t))
            .map(|(_, n)| *n)
            .collect();
        f.write_str(&list.join("+"))
    }
}

/// One object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Stable identity: `o/<key>` for an original, `v/<id>` for a variant (its
    /// [`VariantKey::id`]).
    pub id: String,
    pub class: Class,
    /// The original's object key (for a variant: the key of the original it was made from).
    pub key: String,
    /// For a variant: its identity, [`VariantKey`]'s spelling
    /// (`photos/cat.jpg?width=400,format=auto#avif.3fa1c2d4e5b60718`). The column is named
    /// `spec` in both backends.
    pub spec: Option<String>,
    pub tiers: Presence,
    pub size: u64,
    pub content_type: String,
    /// The object store's storage class (`STANDARD`, `STANDARD_IA`, `GLACIER_IR`, …).
    pub storage_class: String,
    pub created_ms: i64,
    pub last_access_ms: i64,
    pub hits: u64,
    /// A lifecycle move in progress (its journal entry), or `None`.
    pub pending: Option<String>,
}

/// Accesses to one object since the last flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access<'a> {
    pub id: &'a str,
    pub last_access_ms: i64,
    pub hits: u64,
}

impl Record {
    /// The row id of the original at `key`.
    pub fn original_id(key: &str) -> String {
        format!("o/{key}")
    }

    /// The row id of the variant whose [`VariantKey::id`] is `id`.
    pub fn variant_id(id: &str) -> String {
        format!("v/{id}")
    }

    /// The variant id of a variant row's id.
    pub fn variant_id_of(row_id: &str) -> Option<&str> {
        row_id.strip_prefix("v/")
    }

    /// A new original, first seen at `now_ms`, in the originals' store and its standard class.
    pub fn original(key: &str, size: u64, content_type: &str, now_ms: i64) -> Record {
        Record {
            id: Record::original_id(key),
            class: Class::Original,
            spec: None,
            tiers: Presence::STORE,
            ..Record::new(key, size, content_type, now_ms)
        }
    }

    /// A new variant, first stored at `now_ms`, in `tiers`.
    pub fn variant(
        variant: &VariantKey,
        tiers: Presence,
        size: u64,
        content_type: &str,
        now_ms: i64,
    ) -> Record {
        Record {
            id: Record::variant_id(variant.id()),
            class: Class::Variant,
            spec: Some(variant.to_string()),
            tiers,
            ..Record::new(variant.key(), size, content_type, now_ms)
        }
    }

    /// What every new row has: created and last read now, never hit, the standard class,
    /// no move pending.
    fn new(key: &str, size: u64, content_type: &str, now_ms: i64) -> Record {
        Record {
            id: String::new(),
            class: Class::Original,
            key: key.to_owned(),
            spec: None,
            tiers: Presence::default(),
            size,
            content_type: content_type.to_owned(),
            storage_class: "STANDARD".into(),
            created_ms: now_ms,
            last_access_ms: now_ms,
            hits: 0,
            pending: None,
        }
    }
}
