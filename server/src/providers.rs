//! The LLM provider table (spec §4.9) and the server's default provider (spec §9.3).
//!
//! Which providers are available follows from the process settings (API keys, base URLs);
//! which one is the default follows from what an admin stored with `POST /settings/provider`,
//! else `CERTIOR_LLM_PROVIDER`, else the first available LLM provider.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::settings::ProviderSettings;

/// A provider of the fixed table, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Anthropic,
    Openai,
    Plan,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Anthropic, Provider::Openai, Provider::Plan];

    pub fn parse(id: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.id() == id)
    }

    pub fn id(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::Openai => "openai",
            Provider::Plan => "plan",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Anthropic => "Anthropic (Claude)",
            Provider::Openai => "OpenAI (GPT)",
            Provider::Plan => "Deterministic plan",
        }
    }

    /// The variable that makes the provider available; `plan` needs none.
    pub fn key_variable(self) -> Option<&'static str> {
        match self {
            Provider::Anthropic => Some("ANTHROPIC_API_KEY"),
            Provider::Openai => Some("OPENAI_API_KEY"),
            Provider::Plan => None,
        }
    }

    pub fn models(self) -> &'static [&'static str] {
        match self {
            Provider::Anthropic => &[
                "claude-sonnet-4-20250514",
                "claude-haiku-4-5-20251001",
                "claude-opus-4-20250514",
                "claude-sonnet-4-5-20250929",
            ],
            Provider::Openai => &[
                "gpt-4o",
                "gpt-4o-mini",
                "gpt-4-turbo",
                "o3-mini",
                "o4-mini",
                "gpt-4.1",
                "o1",
            ],
            Provider::Plan => &["plan"],
        }
    }

    /// The 400 text for a provider this server cannot use (spec §4.9.2).
    pub fn not_configured(self) -> String {
        format!(
            "{} API key not configured. Set {} environment variable and restart.",
            self.name(),
            self.key_variable().unwrap_or_default()
        )
    }

    /// The first model of the table is the default.
    pub fn default_model(self) -> &'static str {
        self.models()[0]
    }

    /// Whether this process can use the provider: a key for `anthropic`; a key or an explicit
    /// base URL (a keyless local server) for `openai`; always for `plan`.
    pub fn available(self, settings: &ProviderSettings) -> bool {
        match self {
            Provider::Anthropic => settings.anthropic_api_key.is_some(),
            Provider::Openai => settings.openai_api_key.is_some() || settings.openai_base_url.is_some(),
            Provider::Plan => true,
        }
    }

    /// Where requests to the provider go, without a trailing slash (`plan`: nowhere).
    pub fn base_url(self, settings: &ProviderSettings) -> &str {
        let url = match self {
            Provider::Anthropic => settings.anthropic_base_url.as_str(),
            Provider::Openai => settings.openai_base_url.as_deref().unwrap_or(OPENAI_DEFAULT_BASE_URL),
            Provider::Plan => "",
        };
        url.trim_end_matches('/')
    }

    /// The server's own key for the provider, if configured.
    pub fn server_key(self, settings: &ProviderSettings) -> Option<&str> {
        match self {
            Provider::Anthropic => settings.anthropic_api_key.as_deref(),
            Provider::Openai => settings.openai_api_key.as_deref(),
            Provider::Plan => None,
        }
    }

    /// Whether the provider is a language model (`plan` is not).
    pub fn is_llm(self) -> bool {
        self != Provider::Plan
    }
}

const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The server's default provider and model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultProvider {
    pub provider: Provider,
    pub model: String,
}

/// The store key under which `POST /settings/provider` keeps the default.
pub const DEFAULT_PROVIDER_SETTING: &str = "default_provider";

/// The current default: the stored choice, else `CERTIOR_LLM_PROVIDER`, else `anthropic` or
/// `openai` when available (with `CERTIOR_MODEL` as the model of the last two); `None` when
/// nothing applies. A stored choice whose provider is no
/// longer available (its key was removed) does not count.
pub fn current_default(stored: Option<DefaultProvider>, settings: &ProviderSettings) -> Option<DefaultProvider> {
    let initial = |provider: Provider| DefaultProvider {
        provider,
        model: match (&settings.model, provider) {
            (Some(model), Provider::Anthropic | Provider::Openai) => model.clone(),
            _ => provider.default_model().to_owned(),
        },
    };
    let configured = settings.llm_provider.map(initial);
    let first_llm = [Provider::Anthropic, Provider::Openai]
        .into_iter()
        .find(|p| p.available(settings))
        .map(initial);
    [stored, configured, first_llm]
        .into_iter()
        .flatten()
        .find(|choice| choice.provider.available(settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(anthropic: bool, openai_base_url: bool, llm_provider: Option<Provider>) -> ProviderSettings {
        ProviderSettings {
            anthropic_api_key: anthropic.then(|| "sk-ant-test".to_owned()),
            anthropic_base_url: "https://api.anthropic.com/".to_owned(),
            openai_api_key: None,
            openai_base_url: openai_base_url.then(|| "http://127.0.0.1:9/v1".to_owned()),
            llm_provider,
            model: None,
        }
    }

    fn choice(provider: Provider, model: &str) -> DefaultProvider {
        DefaultProvider {
            provider,
            model: model.to_owned(),
        }
    }

    #[test]
    fn availability_follows_keys_and_base_urls() {
        let none = settings(false, false, None);
        assert!(!Provider::Anthropic.available(&none) && !Provider::Openai.available(&none));
        assert!(Provider::Plan.available(&none));
        assert!(
            Provider::Openai.available(&settings(false, true, None)),
            "a base URL alone enables openai"
        );
        assert_eq!(Provider::Openai.base_url(&none), "https://api.openai.com/v1");
        assert_eq!(Provider::Anthropic.base_url(&none), "https://api.anthropic.com");
    }

    #[test]
    fn the_default_is_stored_then_configured_then_the_first_available_llm() {
        let both = settings(true, true, Some(Provider::Openai));
        assert_eq!(
            current_default(Some(choice(Provider::Plan, "plan")), &both),
            Some(choice(Provider::Plan, "plan"))
        );
        assert_eq!(current_default(None, &both), Some(choice(Provider::Openai, "gpt-4o")));
        assert_eq!(
            current_default(None, &settings(true, true, None)),
            Some(choice(Provider::Anthropic, "claude-sonnet-4-20250514"))
        );
        assert_eq!(current_default(None, &settings(false, false, None)), None);
        // A stored provider whose key is gone gives way to the next rule.
        assert_eq!(
            current_default(Some(choice(Provider::Anthropic, "x")), &settings(false, true, None)),
            Some(choice(Provider::Openai, "gpt-4o"))
        );
    }
}
