//! Display names that impersonate: a mixed-script name (`аdmin` with a Cyrillic `а`) whose
//! Unicode TR39 skeleton matches another user's display name or username is refused with
//! `confusable_display_name`. Single-script names are not flagged: two people may share a
//! name, and a look-alike needs a second script.

use livesurgery_projections::UserFilter;
use unicode_security::{MixedScript, skeleton};
use uuid::Uuid;

use super::{App, AppError};

/// The TR39 skeleton of a name, case-folded: what it looks like, whatever it is made of.
pub fn looks_like(name: &str) -> String {
    skeleton(&name.trim().to_lowercase()).collect::<String>()
}

/// Whether a name mixes scripts (Latin with Cyrillic, …).
pub fn is_mixed_script(name: &str) -> bool {
    !name.is_single_script()
}

impl App {
    /// Refuses a mixed-script display name that looks like another user's display name or
    /// username (`except`: the user being renamed).
    pub async fn check_confusable_display_name(
        &self,
        name: &str,
        except: Option<Uuid>,
    ) -> Result<(), AppError> {
        if !is_mixed_script(name) {
            return Ok(());
        }
        let wanted = looks_like(name);
        let mut after_username = None;
        loop {
            let page = self
                .read_models
                .list_users(&UserFilter {
                    active: None,
                    role: None,
                    after_username: after_username.clone(),
                    limit: 1000,
                })
                .await?;
            for user in &page {
                if Some(user.user_id) == except {
                    continue;
                }
                if looks_like(&user.display_name) == wanted || looks_like(&user.username) == wanted
                {
                    return Err(AppError::conflict(
                        "confusable_display_name",
                        "this display name mixes scripts and looks like another user's name; \
                         choose one written in a single script",
                    ));
                }
            }
            match page.last() {
                Some(last) if page.len() == 1000 => after_username = Some(last.username.clone()),
                _ => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cyrillic_a_makes_admin_mixed_script_and_the_same_skeleton() {
        let spoof = "\u{0430}dmin";
        assert!(is_mixed_script(spoof));
        assert_eq!(looks_like(spoof), looks_like("admin"));
        assert!(!is_mixed_script("admin") && !is_mixed_script("Лапароскопия"));
    }
}
