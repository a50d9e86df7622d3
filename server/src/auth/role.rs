use serde::Serialize;

/// The six roles, in the canonical order every message lists them (spec §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Operator,
    Viewer,
    Auditor,
    Approver,
    PolicyAuthor,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Operator,
        Role::Viewer,
        Role::Auditor,
        Role::Approver,
        Role::PolicyAuthor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
            Role::Approver => "approver",
            Role::PolicyAuthor => "policy_author",
        }
    }

    /// Exact, case-sensitive match (spec §2.1).
    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == value)
    }

    /// Every role but the read-only `viewer` and `auditor` (spec §2.2).
    pub fn is_writer(self) -> bool {
        !matches!(self, Role::Viewer | Role::Auditor)
    }

    /// Only an authenticated administrator may grant these.
    pub fn is_privileged(self) -> bool {
        matches!(self, Role::Admin | Role::Approver | Role::Auditor | Role::PolicyAuthor)
    }

    /// `['admin', 'operator']`: how the spec's messages quote role lists.
    pub fn quoted_list(roles: &[Role]) -> String {
        let quoted: Vec<String> = roles.iter().map(|role| format!("'{}'", role.as_str())).collect();
        format!("[{}]", quoted.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_exact_and_case_sensitive() {
        assert_eq!(Role::parse("policy_author"), Some(Role::PolicyAuthor));
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse(" admin"), None);
    }

    #[test]
    fn quoted_list_matches_the_spec_text() {
        assert_eq!(
            Role::quoted_list(&Role::ALL),
            "['admin', 'operator', 'viewer', 'auditor', 'approver', 'policy_author']"
        );
    }
}
