//! Who reads what (spec §2.3): owners read their own resources, `admin` and `auditor` read
//! everyone's, and a list's `scope=all` is theirs alone.

use utoipa::IntoParams;

use crate::auth::Role;
use crate::error::ApiError;
use crate::store::{Page, User};
use crate::validate::{page, Fields, FromQuery};

/// Administrators and auditors read every user's resources.
pub fn reads_all(role: Role) -> bool {
    matches!(role, Role::Admin | Role::Auditor)
}

/// Whether `user` may read a resource owned by `owner_id`.
pub fn may_read(user: &User, owner_id: &str) -> bool {
    owner_id == user.id || reads_all(user.role)
}

/// Whether `user` may cancel or revoke a resource owned by `owner_id`: its owner or an `admin`.
pub fn may_change(user: &User, owner_id: &str) -> bool {
    owner_id == user.id || user.role == Role::Admin
}

/// The `scope` query parameter of a list: `own` (default) or `all`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Own,
    All,
}

impl Scope {
    /// Reads `scope`, recording a 422 for any other word.
    pub fn read(fields: &mut Fields<'_>) -> Scope {
        let scope = fields.optional::<String>("scope");
        fields
            .one_of(
                "scope",
                scope,
                |s| match s {
                    "own" => Some(Scope::Own),
                    "all" => Some(Scope::All),
                    _ => None,
                },
                &["own", "all"],
            )
            .unwrap_or(Scope::Own)
    }

    /// The owner to filter a list by (`None`: everyone's); `all` needs `admin` or `auditor`.
    pub fn owner(self, user: &User) -> Result<Option<&str>, ApiError> {
        match self {
            Scope::Own => Ok(Some(user.id.as_str())),
            Scope::All if reads_all(user.role) => Ok(None),
            Scope::All => Err(ApiError::forbidden("Requires one of: ['admin', 'auditor']")),
        }
    }
}

/// The query of a list of owned resources with a status filter (executions, workflows).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusListQuery {
    /// Only resources with this status; a word that is not one of the resource's statuses is 400.
    pub status: Option<String>,
    /// `own` (default) or `all` (admin and auditor only).
    #[param(value_type = Option<String>)]
    pub scope: Scope,
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: i64,
    /// ≥ 0, default 0.
    #[param(minimum = 0, default = 0)]
    offset: i64,
}

impl StatusListQuery {
    pub fn page(&self) -> Page {
        Page {
            limit: self.limit,
            offset: self.offset,
        }
    }
}

impl FromQuery for StatusListQuery {
    fn from_query(fields: &mut Fields<'_>) -> Option<Self> {
        let status = fields.optional::<String>("status");
        let scope = Scope::read(fields);
        let Page { limit, offset } = page(fields)?;
        Some(StatusListQuery {
            status,
            scope,
            limit,
            offset,
        })
    }
}
