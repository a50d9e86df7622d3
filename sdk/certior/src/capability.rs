//! Capability strings and the one matching rule (`covered`, spec §7.1) shared by the capability
//! gate, permission resolution, token attenuation and delegation.
//!
//! Capabilities are colon-namespaced strings such as `database:read:patient_data`. A list entry
//! `*` covers everything; an entry ending in `*` covers every string starting with the part before
//! the `*`. A *requested* wildcard is never expanded: `database:*` is only covered by an entry that
//! covers the literal string `database:*`.

/// Longest accepted capability string (spec §5.6).
pub const MAX_CAPABILITY_LEN: usize = 200;

/// Why a capability string is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    #[error("capability is empty; use a colon-namespaced name such as `filesystem:read`")]
    Empty,
    #[error("capability `{0}` is longer than 200 characters; shorten it")]
    TooLong(String),
    #[error("capability `{0}` contains whitespace; remove it")]
    Whitespace(String),
    #[error("capability `{0}` has `*` before its end; `*` may only stand alone or be the last character")]
    MisplacedWildcard(String),
}

/// Checks the syntax rules of spec §5.6 rule 2: 1..200 characters, no whitespace, and `*` only
/// alone or as the last character.
pub fn validate(capability: &str) -> Result<(), CapabilityError> {
    if capability.is_empty() {
        return Err(CapabilityError::Empty);
    }
    if capability.chars().count() > MAX_CAPABILITY_LEN {
        return Err(CapabilityError::TooLong(capability.to_owned()));
    }
    if capability.chars().any(char::is_whitespace) {
        return Err(CapabilityError::Whitespace(capability.to_owned()));
    }
    if let Some(pos) = capability.find('*') {
        if pos + 1 != capability.len() {
            return Err(CapabilityError::MisplacedWildcard(capability.to_owned()));
        }
    }
    Ok(())
}

/// Whether one list entry covers `capability`: equal, `*`, or a trailing-`*` prefix.
pub fn entry_covers(entry: &str, capability: &str) -> bool {
    entry == capability
        || entry == "*"
        || entry
            .strip_suffix('*')
            .is_some_and(|prefix| capability.starts_with(prefix))
}

/// `covered(p, list)` of spec §7.1.
pub fn covered<S: AsRef<str>>(capability: &str, list: &[S]) -> bool {
    list.iter().any(|entry| entry_covers(entry.as_ref(), capability))
}

/// `forbidden(p)` of spec §7.1: like [`covered`] except that a lone `*` entry is only a prefix
/// entry with an empty prefix (so it, too, forbids everything).
pub fn is_forbidden<S: AsRef<str>>(capability: &str, forbidden: &[S]) -> bool {
    forbidden.iter().any(|f| {
        let f = f.as_ref();
        f == capability || f.strip_suffix('*').is_some_and(|prefix| capability.starts_with(prefix))
    })
}

/// Whether every entry of `child` is covered by `parent`.
pub fn is_subset<C: AsRef<str>, P: AsRef<str>>(child: &[C], parent: &[P]) -> bool {
    child.iter().all(|c| covered(c.as_ref(), parent))
}

/// The permissions a delegating token holds right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub permissions: Vec<String>,
    /// Budget still available to the holder, in cents.
    pub budget_cents: i64,
}

/// Why a delegation was refused, with the code and reason text of spec §13.2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelegationDenial {
    #[error("Denied: child requested permissions outside parent capability bounds")]
    PermissionsNotSubset { outside: Vec<String> },
    #[error("Denied: child requested budget above parent budget ceiling")]
    BudgetExceedsParent { requested: i64, available: i64 },
    #[error("Denied: child id is empty")]
    EmptyChildId,
    #[error("Denied: child agent id is empty")]
    EmptyChildAgent,
}

impl DelegationDenial {
    /// The wire code of spec §13.2.
    pub fn code(&self) -> &'static str {
        match self {
            Self::PermissionsNotSubset { .. } => "permissions_not_subset",
            Self::BudgetExceedsParent { .. } => "budget_exceeds_parent",
            Self::EmptyChildId => "empty_child_id",
            Self::EmptyChildAgent => "empty_child_agent",
        }
    }
}

/// Attenuates `parent` to the child's request, in the check order of spec §13.2. The result is
/// never wider than the parent: every child permission is covered by the parent's and the
/// child's budget is at most the parent's remaining budget.
pub fn attenuate(
    parent: &Grant,
    child: &Grant,
    child_id: &str,
    child_agent_id: &str,
) -> Result<Grant, DelegationDenial> {
    let outside: Vec<String> = child
        .permissions
        .iter()
        .filter(|p| !covered(p, &parent.permissions))
        .cloned()
        .collect();
    if !outside.is_empty() {
        return Err(DelegationDenial::PermissionsNotSubset { outside });
    }
    if child.budget_cents > parent.budget_cents || child.budget_cents < 0 {
        return Err(DelegationDenial::BudgetExceedsParent {
            requested: child.budget_cents,
            available: parent.budget_cents,
        });
    }
    if child_id.trim().is_empty() {
        return Err(DelegationDenial::EmptyChildId);
    }
    if child_agent_id.trim().is_empty() {
        return Err(DelegationDenial::EmptyChildAgent);
    }
    Ok(child.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_follows_spec_rules() {
        assert!(covered("database:read:x", &["*"]));
        assert!(covered("database:read:x", &["database:*"]));
        assert!(covered("database:read:x", &["database:read:x"]));
        assert!(!covered("database:*", &["database:read", "database:write"]));
        assert!(!covered("db:read:x", &["db:read"]));
        assert!(covered("database:*", &["database:*"]));
        assert!(!covered("x", &[] as &[&str]));
    }

    #[test]
    fn forbidden_matches_exact_and_prefix() {
        assert!(is_forbidden(
            "network:smtp:send:external",
            &["network:smtp:send:external"]
        ));
        assert!(is_forbidden("network:smtp:send:x", &["network:smtp:*"]));
        assert!(!is_forbidden("network:smtp", &["network:smtp:*"]));
        assert!(is_forbidden("anything", &["*"]));
    }

    #[test]
    fn validation_rejects_bad_strings() {
        assert_eq!(validate(""), Err(CapabilityError::Empty));
        assert!(matches!(validate("a b"), Err(CapabilityError::Whitespace(_))));
        assert!(matches!(validate("a*b"), Err(CapabilityError::MisplacedWildcard(_))));
        assert!(matches!(validate(&"a".repeat(201)), Err(CapabilityError::TooLong(_))));
        assert_eq!(validate("*"), Ok(()));
        assert_eq!(validate("database:read:*"), Ok(()));
    }

    #[test]
    fn attenuation_checks_in_spec_order() {
        let parent = Grant {
            permissions: vec!["database:*".into()],
            budget_cents: 100,
        };
        let wide = Grant {
            permissions: vec!["network:http:read".into()],
            budget_cents: 1000,
        };
        let err = attenuate(&parent, &wide, "c", "a").unwrap_err();
        assert_eq!(err.code(), "permissions_not_subset");
        let rich = Grant {
            permissions: vec!["database:read:x".into()],
            budget_cents: 101,
        };
        assert_eq!(
            attenuate(&parent, &rich, "c", "a").unwrap_err().code(),
            "budget_exceeds_parent"
        );
        let ok = Grant {
            permissions: vec!["database:read:x".into()],
            budget_cents: 100,
        };
        assert_eq!(attenuate(&parent, &ok, " ", "a").unwrap_err().code(), "empty_child_id");
        assert_eq!(
            attenuate(&parent, &ok, "c", "").unwrap_err().code(),
            "empty_child_agent"
        );
        assert_eq!(attenuate(&parent, &ok, "c", "a").unwrap(), ok);
    }
}
