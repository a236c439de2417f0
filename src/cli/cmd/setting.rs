//! `setting …`: system and personal settings.

use clap::Subcommand;

use crate::cli::context::{parse_opt, Ctx};
use crate::cli::error::CliResult;
use crate::cli::views;
use crate::domain::SettingType;
use crate::service::{Actor, Services};

/// `setting …`
#[derive(Debug, Subcommand)]
pub enum SettingCmd {
    /// List system settings (or, with --mine, your own).
    List {
        /// Your personal settings.
        #[arg(long)]
        mine: bool,
    },
    /// Show one system setting.
    Get {
        /// Key.
        key: String,
    },
    /// Set a setting (system: admin for is_system keys; --mine: your own).
    Set {
        /// Key.
        key: String,
        /// Value.
        value: String,
        /// Your personal setting.
        #[arg(long)]
        mine: bool,
        /// Type of a new key: string, number, boolean or json.
        #[arg(long = "type")]
        setting_type: Option<String>,
    },
    /// Delete a setting (non-system ones; --mine: your own).
    Rm {
        /// Key.
        key: String,
        /// Your personal setting.
        #[arg(long)]
        mine: bool,
    },
}
/// Runs a `setting` command as `a`.
pub(crate) async fn run(ctx: &Ctx, s: &Services, a: &Actor, c: &SettingCmd) -> CliResult<()> {
    match c {
        SettingCmd::List { mine: true } => views::list(ctx.json, &s.user_settings_list(a).await?),
        SettingCmd::List { mine: false } => views::list(ctx.json, &s.settings_list(a).await?),
        SettingCmd::Get { key } => {
            let r = s.setting_get(a, key).await?;
            if ctx.json {
                views::print_json(&r);
            } else {
                println!("{}", r.setting_value.unwrap_or_default());
            }
        }
        SettingCmd::Set {
            key,
            value,
            mine,
            setting_type,
        } => {
            let ty: Option<SettingType> = parse_opt(setting_type)?;
            if *mine {
                s.user_setting_set(a, key, value, ty.unwrap_or(SettingType::String))
                    .await?;
                println!("your setting {key} = {value}");
            } else {
                let r = s.setting_set(a, key, value, ty).await?;
                println!("{} = {}", r.setting_key, r.setting_value.unwrap_or_default());
            }
        }
        SettingCmd::Rm { key, mine } => {
            if *mine {
                s.user_setting_delete(a, key).await?;
            } else {
                s.setting_delete(a, key).await?;
            }
            println!("deleted setting {key}");
        }
    }
    Ok(())
}
