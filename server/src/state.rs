use std::sync::Arc;

use crate::settings::Settings;
use crate::store::Store;

/// What every handler may reach, passed explicitly through axum's `State`.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub settings: Arc<Settings>,
}
