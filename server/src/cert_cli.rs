//! `certior cert verify`: offline verification of signed evidence (spec §11.1).

use std::path::Path;

use certior::certificate::{verify_document, TrustedKeys};
use serde_json::Value;

use crate::cli::CertCommand;
use crate::clock::now;

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|err| anyhow::anyhow!("cannot read {}: {err}", path.display()))?;
    serde_json::from_str(&text).map_err(|err| anyhow::anyhow!("{} is not valid JSON: {err}", path.display()))
}

pub fn run(command: CertCommand) -> anyhow::Result<()> {
    match command {
        CertCommand::Verify { file, keys } => {
            let document = read_json(&file)?;
            let keys = TrustedKeys::from_json(&read_json(&keys)?)
                .map_err(|err| anyhow::anyhow!("{}: {err}", keys.display()))?;
            let outcome = verify_document(&document, &keys, now());
            println!("{}", serde_json::to_string_pretty(&outcome)?);
            if outcome.valid {
                Ok(())
            } else {
                anyhow::bail!("{} is not valid", file.display())
            }
        }
    }
}
