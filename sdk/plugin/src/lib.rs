//! Guest-side SDK for Certior policy plugins (Plugin ABI v1).
//!
//! A plugin is a `wasm32-unknown-unknown` `cdylib` that the Certior host runs in a fresh sandboxed
//! instance for every evaluation. The host speaks JSON over linear memory; this crate hides that
//! behind one trait, [`Plugin`], and one macro, [`export_plugin!`]. An author writes:
//!
//! * a configuration type (the `[plugins.config]` table of `preset.toml`, parsed with serde),
//! * [`Plugin::new`], which does the expensive set-up (compiling patterns, building tables), and
//! * [`Plugin::evaluate`], a function from [`Input`] to [`Verdict`].
//!
//! The macro generates the exports of the ABI: `certior_abi_version`, `certior_alloc`,
//! `certior_evaluate` and `certior_init`. The host pre-initializes each module by running
//! `certior_init` once with the preset's configuration and snapshotting memory, so whatever
//! [`Plugin::new`] builds is paid for once per preset load, never per call. A host that skips
//! pre-initialization still gets correct answers: the plugin is then built from the input's
//! `config` on first use.
//!
//! Helpers for the usual chores: [`Span`] (byte ranges, merging), [`redact`] with the
//! `[REDACTED-<ENTITY>]` token format, [`luhn_valid`] for card numbers, [`ascii_pattern`] to
//! give regular expressions ASCII digit and word-boundary semantics, and [`PatternSet`] to
//! locate the matches of many regular expressions in about one pass over the text, with a
//! [`Screen`] that skips the ones whose required text is absent.
//!
//! # Example
//!
//! A plugin that blocks the word "forbidden" and labels the data it saw:
//!
//! ```
//! use certior_plugin::{export_plugin, Category, Input, Plugin, Verdict, Violation};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! pub struct Config {
//!     word: String,
//! }
//!
//! pub struct WordFilter {
//!     word: String,
//! }
//!
//! impl Plugin for WordFilter {
//!     type Config = Config;
//!
//!     fn new(config: Config) -> Result<Self, String> {
//!         if config.word.is_empty() {
//!             return Err("`word` must not be empty".to_string());
//!         }
//!         Ok(WordFilter { word: config.word })
//!     }
//!
//!     fn evaluate(&self, input: &Input) -> Verdict {
//!         let violations: Vec<Violation> = input
//!             .content
//!             .match_indices(self.word.as_str())
//!             .map(|(start, word)| {
//!                 Violation::block("word_found", Category::Profanity, format!("Blocked keyword: {word}"))
//!                     .at(certior_plugin::Span::new(start, start + word.len()))
//!             })
//!             .collect();
//!         Verdict::from_violations(violations).with_label("sensitive")
//!     }
//! }
//!
//! export_plugin!(WordFilter);
//! # fn main() {
//! #     let plugin = WordFilter::new(Config { word: "forbidden".into() }).unwrap();
//! #     let verdict = plugin.evaluate(&Input::new(certior_plugin::Phase::ToolOutput, "a forbidden word"));
//! #     assert_eq!(verdict.action, certior_plugin::Action::Deny);
//! # }
//! ```
//!
//! Build it with `cargo build --release --target wasm32-unknown-unknown` and a `cdylib` crate type.

pub mod abi;
mod category;
mod export;
mod input;
mod luhn;
mod normalize;
mod pattern_set;
mod plugin;
mod recombine;
mod redact;
mod screen;
mod span;
mod verdict;

pub use category::Category;
pub use input::{Hook, Input, Json, Phase, Profile, Subject};
pub use luhn::luhn_valid;
pub use normalize::ascii_pattern;
pub use pattern_set::{PatternMatch, PatternSet};
pub use plugin::Plugin;
pub use recombine::recombinations;
pub use redact::{redact, redaction_token, Finding};
pub use screen::Screen;
pub use span::Span;
pub use verdict::{Action, Severity, Verdict, Violation};
