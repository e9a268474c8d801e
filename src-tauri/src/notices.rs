//! The words of the system notifications, in the interface's language.

use crate::jobs::Notice;

/// The language for notifications: the user's choice, else the system's (`LANG`), else English.
pub fn language(choice: &str) -> String {
    if matches!(choice, "en" | "ko") {
        return choice.to_owned();
    }
    let system = std::env::var("LC_ALL")
        .or_else(|_| std::env::var("LC_MESSAGES"))
        .or_else(|_| std::env::var("LANG"))
        .unwrap_or_default();
    if system.to_ascii_lowercase().starts_with("ko") {
        "ko".to_owned()
    } else {
        "en".to_owned()
    }
}

/// The title and body of the notification for `notice`.
pub fn words(notice: &Notice, language: &str) -> (String, String) {
    let korean = language == "ko";
    let title = if korean { "DDN 전송" } else { "DDN Transfer" }.to_owned();
    let body = match (notice.ready, notice.failed, &notice.name) {
        (1, 0, Some(name)) if korean => format!("{name}: 결과가 준비되었습니다."),
        (1, 0, Some(name)) => format!("The result of {name} is ready."),
        (0, 1, Some(name)) if korean => format!("{name}: 전송에 실패했습니다."),
        (0, 1, Some(name)) => format!("{name} could not be transferred."),
        (ready, 0, _) if korean => format!("결과 {ready}개가 준비되었습니다."),
        (ready, 0, _) => format!("{} ready.", results_are(ready)),
        (0, failed, _) if korean => format!("전송 {failed}개가 실패했습니다."),
        (0, failed, _) => format!("{} failed.", transfers(failed)),
        (ready, failed, _) if korean => {
            format!("결과 {ready}개가 준비되었고 {failed}개가 실패했습니다.")
        }
        (ready, failed, _) => format!(
            "{} ready; {} failed.",
            results_are(ready),
            transfers(failed)
        ),
    };
    (title, body)
}

/// "1 result is" / "2 results are": English counts follow the number (Korean has no plural).
fn results_are(count: usize) -> String {
    if count == 1 {
        "1 result is".to_owned()
    } else {
        format!("{count} results are")
    }
}

/// "1 transfer" / "2 transfers".
fn transfers(count: usize) -> String {
    if count == 1 {
        "1 transfer".to_owned()
    } else {
        format!("{count} transfers")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(ready: usize, failed: usize, name: Option<&str>) -> Notice {
        Notice {
            ready,
            failed,
            name: name.map(str::to_owned),
        }
    }

    #[test]
    fn one_file_is_named_and_batches_are_counted() {
        assert_eq!(
            words(&notice(1, 0, Some("scan.pdf")), "en").1,
            "The result of scan.pdf is ready."
        );
        assert_eq!(words(&notice(12, 0, None), "en").1, "12 results are ready.");
        assert_eq!(
            words(&notice(3, 2, None), "en").1,
            "3 results are ready; 2 transfers failed."
        );
        assert_eq!(
            words(&notice(0, 1, Some("a.txt")), "ko"),
            (
                "DDN 전송".to_owned(),
                "a.txt: 전송에 실패했습니다.".to_owned()
            )
        );
    }

    #[test]
    fn english_counts_follow_the_number() {
        assert_eq!(
            words(&notice(1, 1, None), "en").1,
            "1 result is ready; 1 transfer failed."
        );
        assert_eq!(
            words(&notice(2, 1, None), "en").1,
            "2 results are ready; 1 transfer failed."
        );
        assert_eq!(words(&notice(1, 0, None), "en").1, "1 result is ready.");
        assert_eq!(words(&notice(0, 1, None), "en").1, "1 transfer failed.");
        assert_eq!(words(&notice(0, 2, None), "en").1, "2 transfers failed.");
    }

    #[test]
    fn a_chosen_language_wins() {
        assert_eq!(language("ko"), "ko");
        assert_eq!(language("en"), "en");
    }
}
