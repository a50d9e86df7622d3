//! Permission resolution (spec §7.2): which of the requested (or default) permissions a task or
//! token gets under a preset, for a role and a profile ceiling, with a reason for every denial.
//!
//! The preset checks (forbidden list, ceiling, operator role ceiling, read-only roles) are Cedar
//! `request_permission` requests, so each denial maps to the policy that fired; the profile
//! ceiling is per-request data and is matched with [`covered`].

use serde::{Deserialize, Serialize};

use crate::authz::{request_permission, Principal};
use crate::capability::covered;
use crate::cedar::{ROLE_OPERATOR_CEILING, ROLE_READ_ONLY};
use crate::preset::Preset;

/// Why a permission was denied (spec §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialReason {
    ForbiddenByPolicy,
    ExceedsPolicyCeiling,
    ExceedsRoleAllowance,
    WildcardDeniedUnderCompliance,
}

/// `PermissionDenial` of spec §7.3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionDenial {
    pub permission: String,
    pub reason: DenialReason,
    pub detail: String,
}

/// `PermissionResolution` of spec §7.3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionResolution {
    pub effective_permissions: Vec<String>,
    pub denied: Vec<PermissionDenial>,
    pub warnings: Vec<String>,
    pub policy_name: String,
    pub user_role: String,
    pub requested_permissions: Option<Vec<String>>,
    pub used_defaults: bool,
}

/// The role may not create tasks at all (spec §7.2 step 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Role '{role}' is not permitted to create tasks")]
pub struct RoleNotPermitted {
    pub role: String,
}

/// Input of [`resolve_permissions`].
#[derive(Debug, Clone, Copy)]
pub struct ResolutionRequest<'a> {
    /// The requested permissions; `None` or empty takes the preset's defaults.
    pub requested: Option<&'a [String]>,
    pub preset: &'a Preset,
    pub user_id: &'a str,
    /// The user's role (lower-cased here).
    pub role: &'a str,
    /// The composed profile's `permission_ceiling`, if any (spec §8.5).
    pub profile_ceiling: Option<&'a [String]>,
}

fn usable_profile_ceiling(ceiling: Option<&[String]>) -> Option<&[String]> {
    ceiling.filter(|c| !c.iter().any(|p| p.contains('*')))
}

/// Resolves permissions exactly as spec §7.2. Never fails except for read-only roles; callers
/// test "effective is empty" and "has denials".
pub fn resolve_permissions(req: ResolutionRequest<'_>) -> Result<PermissionResolution, RoleNotPermitted> {
    let role = req.role.trim().to_lowercase();
    let preset = req.preset;
    let name = preset.name();
    let principal = Principal {
        user_id: req.user_id.to_owned(),
        role: role.clone(),
    };
    let forbidden_prefix = format!("{}.forbidden.", preset.key());
    let ceiling_id = format!("{}.ceiling", preset.key());

    let mut resolution = PermissionResolution {
        effective_permissions: Vec::new(),
        denied: Vec::new(),
        warnings: Vec::new(),
        policy_name: name.to_owned(),
        user_role: role.clone(),
        requested_permissions: None,
        used_defaults: false,
    };

    let requested = req.requested.filter(|r| !r.is_empty());
    let Some(requested) = requested else {
        let defaults = &preset.manifest().permissions.default;
        if role == "viewer" || role == "auditor" {
            return Err(RoleNotPermitted { role });
        }
        resolution.used_defaults = true;
        for p in defaults {
            let answer = request_permission(preset, &principal, p);
            if answer.decided_by(ROLE_READ_ONLY) {
                return Err(RoleNotPermitted { role });
            }
            if answer.policy_ids.iter().any(|id| id.starts_with(&forbidden_prefix)) {
                resolution.denied.push(PermissionDenial {
                    permission: p.clone(),
                    reason: DenialReason::ForbiddenByPolicy,
                    detail: format!(
                        "Permission '{p}' is in the policy defaults but also in the forbidden list - stripped as a safety precaution"
                    ),
                });
            } else {
                resolution.effective_permissions.push(p.clone());
            }
        }
        if let Some(ceiling) = usable_profile_ceiling(req.profile_ceiling).filter(|c| !c.is_empty()) {
            if resolution.effective_permissions == ["*"] {
                resolution.effective_permissions = ceiling.to_vec();
            } else {
                resolution.effective_permissions.retain(|p| covered(p, ceiling));
            }
        }
        return Ok(resolution);
    };

    if role == "viewer" || role == "auditor" {
        return Err(RoleNotPermitted { role });
    }
    resolution.requested_permissions = Some(requested.to_vec());
    let closed = preset.manifest().ceiling().is_some();
    let profile = usable_profile_ceiling(req.profile_ceiling);
    for p in requested {
        let answer = request_permission(preset, &principal, p);
        if answer.decided_by(ROLE_READ_ONLY) {
            return Err(RoleNotPermitted { role });
        }
        let denial = if answer.policy_ids.iter().any(|id| id.starts_with(&forbidden_prefix)) {
            Some((
                DenialReason::ForbiddenByPolicy,
                format!("Permission '{p}' is forbidden under '{name}' compliance policy"),
            ))
        } else if p == "*" && closed {
            Some((
                DenialReason::WildcardDeniedUnderCompliance,
                format!("Wildcard permission '*' is not allowed under '{name}' compliance policy; request specific permissions from the allowed set"),
            ))
        } else if answer.decided_by(&ceiling_id) {
            Some((
                DenialReason::ExceedsPolicyCeiling,
                format!("Permission '{p}' is not within the '{name}' policy's allowed permission set"),
            ))
        } else if answer.decided_by(ROLE_OPERATOR_CEILING) {
            Some((
                DenialReason::ExceedsRoleAllowance,
                format!("Role 'operator' cannot request permission '{p}' beyond the policy default set"),
            ))
        } else if profile.is_some_and(|c| !covered(p, c)) {
            Some((
                DenialReason::ExceedsPolicyCeiling,
                format!("Permission '{p}' exceeds the task verification profile ceiling"),
            ))
        } else if !answer.allowed {
            // A rule of the preset's own policy.cedar forbade it.
            Some((
                DenialReason::ForbiddenByPolicy,
                format!(
                    "Permission '{p}' is forbidden under '{name}' compliance policy ({})",
                    answer.policy_ids.join(", ")
                ),
            ))
        } else {
            None
        };
        match denial {
            Some((reason, detail)) => resolution.denied.push(PermissionDenial {
                permission: p.clone(),
                reason,
                detail,
            }),
            None => {
                if !resolution.effective_permissions.contains(p) {
                    resolution.effective_permissions.push(p.clone());
                }
            }
        }
    }
    if !resolution.denied.is_empty() {
        resolution.warnings.push(format!(
            "{} requested permission(s) denied by '{name}' policy",
            resolution.denied.len()
        ));
    }
    if closed && requested.iter().any(|p| p.contains('*')) {
        resolution.warnings.push(format!(
            "Wildcard permissions are restricted under '{name}' compliance policy"
        ));
    }
    Ok(resolution)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::PresetRegistry;
    use crate::profile::{build_profile, compose_with_preset, ProfileRequest};

    fn s(items: &[&str]) -> Vec<String> {
        items.iter().map(|x| (*x).to_owned()).collect()
    }

    fn resolve(
        preset: &str,
        role: &str,
        requested: Option<&[&str]>,
        ceiling: Option<&[String]>,
    ) -> PermissionResolution {
        let registry = PresetRegistry::builtin();
        let preset = registry.get(preset).unwrap();
        let requested = requested.map(s);
        resolve_permissions(ResolutionRequest {
            requested: requested.as_deref(),
            preset: &preset,
            user_id: "u1",
            role,
            profile_ceiling: ceiling,
        })
        .unwrap()
    }

    fn reasons(r: &PermissionResolution) -> Vec<(String, DenialReason)> {
        r.denied.iter().map(|d| (d.permission.clone(), d.reason)).collect()
    }

    fn composed_ceiling(preset: &str, text: &str) -> Vec<String> {
        let registry = PresetRegistry::builtin();
        let preset = registry.get(preset).unwrap();
        compose_with_preset(
            &build_profile(&ProfileRequest {
                text,
                ..Default::default()
            }),
            &preset,
        )
        .permission_ceiling
    }

    #[test]
    fn hipaa_wildcard_is_denied() {
        let r = resolve("hipaa", "admin", Some(&["*"]), None);
        assert!(r.effective_permissions.is_empty());
        assert_eq!(
            reasons(&r),
            [("*".to_owned(), DenialReason::WildcardDeniedUnderCompliance)]
        );
        assert_eq!(
            r.denied[0].detail,
            "Wildcard permission '*' is not allowed under 'HIPAA' compliance policy; request specific permissions from the allowed set"
        );
    }

    #[test]
    fn hipaa_forbidden_permission() {
        let r = resolve("hipaa", "admin", Some(&["network:smtp:send:external"]), None);
        assert!(r.effective_permissions.is_empty());
        assert_eq!(r.denied[0].reason, DenialReason::ForbiddenByPolicy);
        assert_eq!(
            r.denied[0].detail,
            "Permission 'network:smtp:send:external' is forbidden under 'HIPAA' compliance policy"
        );
    }

    #[test]
    fn hipaa_outside_ceiling() {
        let r = resolve("hipaa", "admin", Some(&["network:http:read"]), None);
        assert!(r.effective_permissions.is_empty());
        assert_eq!(r.denied[0].reason, DenialReason::ExceedsPolicyCeiling);
        assert_eq!(
            r.denied[0].detail,
            "Permission 'network:http:read' is not within the 'HIPAA' policy's allowed permission set"
        );
    }

    #[test]
    fn hipaa_operator_beyond_defaults() {
        let r = resolve("hipaa", "operator", Some(&["compute:python:eval"]), None);
        assert!(r.effective_permissions.is_empty());
        assert_eq!(r.denied[0].reason, DenialReason::ExceedsRoleAllowance);
        assert_eq!(
            r.denied[0].detail,
            "Role 'operator' cannot request permission 'compute:python:eval' beyond the policy default set"
        );
        let ok = resolve("hipaa", "operator", Some(&["filesystem:read"]), None);
        assert_eq!(ok.effective_permissions, ["filesystem:read"]);
    }

    #[test]
    fn hipaa_admin_within_ceiling() {
        let r = resolve("hipaa", "admin", Some(&["compute:python:eval"]), None);
        assert_eq!(r.effective_permissions, ["compute:python:eval"]);
        assert!(r.denied.is_empty() && r.warnings.is_empty());
        assert_eq!(
            (r.used_defaults, r.policy_name.as_str(), r.user_role.as_str()),
            (false, "HIPAA", "admin")
        );
    }

    #[test]
    fn hipaa_mixed_request_has_two_warnings() {
        let r = resolve(
            "hipaa",
            "Admin",
            Some(&["database:read:patient_data", "network:admin:root", "*"]),
            None,
        );
        assert_eq!(r.effective_permissions, ["database:read:patient_data"]);
        assert_eq!(
            reasons(&r),
            [
                ("network:admin:root".to_owned(), DenialReason::ExceedsPolicyCeiling),
                ("*".to_owned(), DenialReason::WildcardDeniedUnderCompliance)
            ]
        );
        assert_eq!(
            r.warnings,
            [
                "2 requested permission(s) denied by 'HIPAA' policy",
                "Wildcard permissions are restricted under 'HIPAA' compliance policy"
            ]
        );
        assert_eq!(r.user_role, "admin");
        assert_eq!(r.requested_permissions.as_ref().unwrap().len(), 3);
    }

    #[test]
    fn sox_forbidden_then_ceiling() {
        let r = resolve(
            "sox",
            "admin",
            Some(&[
                "database:read:financial_data",
                "database:write:financial_data",
                "network:http:read",
            ]),
            None,
        );
        assert_eq!(r.effective_permissions, ["database:read:financial_data"]);
        assert_eq!(
            reasons(&r),
            [
                (
                    "database:write:financial_data".to_owned(),
                    DenialReason::ForbiddenByPolicy
                ),
                ("network:http:read".to_owned(), DenialReason::ExceedsPolicyCeiling)
            ]
        );
        assert_eq!(r.warnings, ["2 requested permission(s) denied by 'SOX' policy"]);
    }

    #[test]
    fn default_custom_permission_under_general_profile() {
        for role in ["admin", "operator", "writer"] {
            let ceiling = composed_ceiling("default", "Tell me about llamas");
            assert_eq!(ceiling, ["*"]);
            let r = resolve("default", role, Some(&["custom:perm"]), Some(&ceiling));
            assert_eq!(r.effective_permissions, ["custom:perm"], "{role}");
            assert!(r.denied.is_empty());
        }
    }

    #[test]
    fn default_defaults_take_the_financial_audit_ceiling() {
        let ceiling = composed_ceiling("default", "Analyse quarterly report");
        let r = resolve("default", "admin", None, Some(&ceiling));
        assert!(r.used_defaults);
        assert_eq!(r.requested_permissions, None);
        assert_eq!(
            r.effective_permissions,
            [
                "database:read:financial_data",
                "database:read:audit_logs",
                "document:write:reports",
                "document:read:reports"
            ]
        );
        assert!(r.denied.is_empty() && r.warnings.is_empty());
    }

    #[test]
    fn legal_request_outside_empty_profile_ceiling() {
        let ceiling = composed_ceiling("legal", "Quarterly expense audit");
        assert!(ceiling.is_empty());
        let r = resolve("legal", "admin", Some(&["filesystem:read"]), Some(&ceiling));
        assert!(r.effective_permissions.is_empty());
        assert_eq!(r.denied[0].reason, DenialReason::ExceedsPolicyCeiling);
        assert_eq!(
            r.denied[0].detail,
            "Permission 'filesystem:read' exceeds the task verification profile ceiling"
        );
        assert_eq!(r.policy_name, "Legal Privilege");
    }

    #[test]
    fn legal_defaults_ignore_an_empty_profile_ceiling() {
        let ceiling = composed_ceiling("legal", "Quarterly expense audit");
        let r = resolve("legal", "admin", Some(&[]), Some(&ceiling));
        assert!(r.used_defaults);
        assert_eq!(
            r.effective_permissions,
            ["document:read:legal_docs", "document:write:legal_docs"]
        );
    }

    #[test]
    fn read_only_roles_cannot_create_tasks() {
        let registry = PresetRegistry::builtin();
        let preset = registry.get("hipaa").unwrap();
        for role in ["viewer", "Auditor"] {
            for requested in [None, Some(&s(&["filesystem:read"])[..])] {
                let err = resolve_permissions(ResolutionRequest {
                    requested,
                    preset: &preset,
                    user_id: "u",
                    role,
                    profile_ceiling: None,
                })
                .unwrap_err();
                assert_eq!(
                    err.to_string(),
                    format!("Role '{}' is not permitted to create tasks", role.to_lowercase())
                );
            }
        }
    }

    #[test]
    fn effective_is_deduplicated_and_defaults_drop_forbidden_entries() {
        let r = resolve("hipaa", "admin", Some(&["filesystem:read", "filesystem:read"]), None);
        assert_eq!(r.effective_permissions, ["filesystem:read"]);
        // Without its plugins, which this test does not need the modules of.
        let builtin = include_str!("../../../presets/hipaa/preset.toml");
        let toml = builtin[..builtin.find("[[plugins]]").unwrap()].replace(
            "forbidden = [\"network:smtp:send:external\"]",
            "forbidden = [\"filesystem:*\"]",
        );
        let files = std::collections::BTreeMap::from([
            ("preset.toml".to_owned(), toml.into_bytes()),
            ("policy.cedar".to_owned(), Vec::new()),
        ]);
        let preset = crate::preset::load_bundle(&files, "t", crate::preset::PresetSource::Uploaded).unwrap();
        let r = resolve_permissions(ResolutionRequest {
            requested: None,
            preset: &preset,
            user_id: "u",
            role: "admin",
            profile_ceiling: None,
        })
        .unwrap();
        assert_eq!(
            r.effective_permissions,
            ["database:read:patient_data", "document:write:reports"]
        );
        assert_eq!(r.denied[0].permission, "filesystem:read");
        assert_eq!(r.denied[0].reason, DenialReason::ForbiddenByPolicy);
        assert!(r.denied[0].detail.ends_with("stripped as a safety precaution"));
    }
}
