//! The authenticated caller, as an extractor. The role gate runs inside it, so a request is
//! refused (401, then 403) before its body is validated, in the order of spec §1.7.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{presented_key, ApiKey, Role};
use crate::error::ApiError;
use crate::routes::ownership::reads_all;
use crate::state::AppState;
use crate::store::{KeyOwner, User};

/// Which roles may call a route.
pub trait RoleSet: Send + Sync + 'static {
    const ALLOWED: &'static [Role];

    /// The 403 text for a role outside the set.
    fn refusal(_role: Role) -> String {
        format!("Requires one of: {}", Role::quoted_list(Self::ALLOWED))
    }
}

pub struct AnyRole;
impl RoleSet for AnyRole {
    const ALLOWED: &'static [Role] = &Role::ALL;
}

pub struct AdminOnly;
impl RoleSet for AdminOnly {
    const ALLOWED: &'static [Role] = &[Role::Admin];
}

/// The roles that may change state (spec §2.2): all but `viewer` and `auditor`.
pub struct Writers;
impl RoleSet for Writers {
    const ALLOWED: &'static [Role] = &[Role::Admin, Role::Operator, Role::Approver, Role::PolicyAuthor];
}

/// Who may upload and deprecate presets (spec §2.2).
pub struct PresetAuthors;
impl RoleSet for PresetAuthors {
    const ALLOWED: &'static [Role] = &[Role::Admin, Role::PolicyAuthor];
}

/// Who attests, rejects and revokes releases (spec/RELEASES.md §2).
pub struct ReleaseApprovers;
impl RoleSet for ReleaseApprovers {
    const ALLOWED: &'static [Role] = &[Role::Admin, Role::Approver];
}

/// Who records release evidence (spec/RELEASES.md §2).
pub struct EvidenceRecorders;
impl RoleSet for EvidenceRecorders {
    const ALLOWED: &'static [Role] = &[Role::Admin, Role::Operator];
}

/// [`Writers`], refused with the workflow endpoint's own sentence (spec §4.5.1 step 1).
pub struct WorkflowCreators;
impl RoleSet for WorkflowCreators {
    const ALLOWED: &'static [Role] = Writers::ALLOWED;

    fn refusal(role: Role) -> String {
        let name = role.as_str();
        let mut chars = name.chars();
        let capitalised: String = chars
            .next()
            .map(|c| c.to_ascii_uppercase())
            .into_iter()
            .chain(chars)
            .collect();
        format!("{capitalised} role cannot create workflows")
    }
}

/// [`Writers`], refused with the task endpoint's own sentence (spec §4.3 step 1).
pub struct TaskCreators;
impl RoleSet for TaskCreators {
    const ALLOWED: &'static [Role] = Writers::ALLOWED;

    fn refusal(role: Role) -> String {
        format!("Role '{}' is not permitted to create tasks", role.as_str())
    }
}

/// A user who presented a live key of an active account and holds one of `R`'s roles.
pub struct Caller<R: RoleSet = AnyRole> {
    pub user: User,
    /// The key this request presented (rotate and logout act on it).
    pub key_id: String,
    roles: PhantomData<R>,
}

const MISSING_KEY: &str = "Missing API key.  Supply via Authorization: Bearer <key> or X-API-Key header.";
const INVALID_KEY: &str = "Invalid API key.";

/// Looks up the presented key; `None` when it is unknown, revoked or its user is inactive.
///
/// The lookup compares SHA-256 digests, never the keys themselves: any timing difference of
/// the index search tells an attacker about digest prefixes, which do not help guess a
/// 256-bit random key. A second, constant-time comparison of the digest the database just
/// matched would be a check that cannot fail.
async fn key_owner(state: &AppState, key: &str) -> Result<Option<KeyOwner>, ApiError> {
    let owner = state.store.key_owner(&ApiKey::digest(key)).await?;
    Ok(owner.filter(|owner| owner.user.is_active))
}

impl<R: RoleSet> FromRequestParts<AppState> for Caller<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = presented_key(&parts.headers).ok_or_else(|| ApiError::unauthorized(MISSING_KEY))?;
        let owner = key_owner(state, key)
            .await?
            .ok_or_else(|| ApiError::unauthorized(INVALID_KEY))?;
        if !R::ALLOWED.contains(&owner.user.role) {
            return Err(ApiError::forbidden(R::refusal(owner.user.role)));
        }
        Ok(Caller {
            user: owner.user,
            key_id: owner.key_id,
            roles: PhantomData,
        })
    }
}

/// For routes where a credential is optional and only an administrator's counts (register):
/// any other credential, valid or not, makes the caller anonymous and never fails.
pub struct MaybeAdmin(pub Option<User>);

impl FromRequestParts<AppState> for MaybeAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(key) = presented_key(&parts.headers) else {
            return Ok(MaybeAdmin(None));
        };
        let owner = key_owner(state, key).await?;
        Ok(MaybeAdmin(
            owner.map(|owner| owner.user).filter(|user| user.role == Role::Admin),
        ))
    }
}

/// Who reads the delegation graph and the glass-box listing: anyone, globally, when
/// `CERTIOR_PUBLIC_GLASS_BOX=true` (credentials are then ignored); otherwise an authenticated
/// user of any role.
pub enum GlassBoxReader {
    Public,
    User(User),
}

impl GlassBoxReader {
    /// The owner to filter by: `None` (everyone's) in public mode and for `admin`/`auditor`.
    pub fn owner(&self) -> Option<&str> {
        match self {
            GlassBoxReader::Public => None,
            GlassBoxReader::User(user) if reads_all(user.role) => None,
            GlassBoxReader::User(user) => Some(&user.id),
        }
    }
}

impl FromRequestParts<AppState> for GlassBoxReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.settings.public_glass_box {
            return Ok(GlassBoxReader::Public);
        }
        let caller = Caller::<AnyRole>::from_request_parts(parts, state).await?;
        Ok(GlassBoxReader::User(caller.user))
    }
}
