// The interface's words in English and Korean. The language follows the system unless the user
// chose one in the settings; keys missing from a language fall back to English, and a missing key
// shows itself, so a gap is visible rather than blank.

/** @type {Record<string, Record<string, string>>} */
export const MESSAGES = {
  en: {
    "app.title": "DDN Transfer",
    "drop.title": "Drop files here",
    "drop.or": "or",
    "drop.choose": "Choose files",
    "drop.chooseFolder": "Choose a folder",
    "drop.hover": "Release to send",
    "status.waiting": "Waiting",
    "status.uploading": "Uploading",
    "status.processing": "Processing",
    "status.downloading": "Downloading",
    "status.ready": "Ready",
    "status.failed": "Failed",
    "status.cancelled": "Cancelled",
    "action.cancel": "Cancel",
    "action.retry": "Retry",
    "action.open": "Open",
    "action.showInFolder": "Show in folder",
    "action.remove": "Remove from list",
    "totals.summary": "{count} files · {ready} ready · {active} in progress · {failed} failed",
    "totals.empty": "No files yet",
    "row.retrying": "{reason} Trying again in {delay}.",
    "row.progress": "{done} of {total} · {speed} · {left} left",
    "duration.seconds": "{seconds} s",
    "duration.minutes": "{minutes} min",
    "duration.minutesSeconds": "{minutes} min {seconds} s",
    "duration.hours": "{hours} h",
    "duration.hoursMinutes": "{hours} h {minutes} min",
    "error.connection": "The connection dropped.",
    "error.timeout": "The server took too long to answer.",
    "error.stalled": "The transfer stalled.",
    "error.unauthorized": "The access token was not accepted. Check it in the settings.",
    "error.refused": "The service refused this file.",
    "error.notReady": "The result is not ready yet.",
    "error.waitTimedOut": "The result did not arrive in time.",
    "error.service": "The service had a problem. Try again later.",
    "error.storage": "The storage service refused the transfer.",
    "error.integrity": "The downloaded data was damaged, so it was not saved.",
    "error.io": "The file could not be read or written.",
    "error.tooLarge": "This file is too large to send.",
    "error.cancelled": "Cancelled.",
    "error.unknown": "Something went wrong.",
  },
  ko: {
    "app.title": "DDN 전송",
    "drop.title": "여기에 파일을 놓으세요",
    "drop.or": "또는",
    "drop.choose": "파일 선택",
    "drop.chooseFolder": "폴더 선택",
    "drop.hover": "놓으면 전송됩니다",
    "status.waiting": "대기 중",
    "status.uploading": "업로드 중",
    "status.processing": "처리 중",
    "status.downloading": "다운로드 중",
    "status.ready": "완료",
    "status.failed": "실패",
    "status.cancelled": "취소됨",
    "action.cancel": "취소",
    "action.retry": "다시 시도",
    "action.open": "열기",
    "action.showInFolder": "폴더에서 보기",
    "action.remove": "목록에서 제거",
    "totals.summary": "파일 {count}개 · 완료 {ready} · 진행 중 {active} · 실패 {failed}",
    "totals.empty": "아직 파일이 없습니다",
    "row.retrying": "{reason} {delay} 후 다시 시도합니다.",
    "row.progress": "{total} 중 {done} · {speed} · {left} 남음",
    "duration.seconds": "{seconds}초",
    "duration.minutes": "{minutes}분",
    "duration.minutesSeconds": "{minutes}분 {seconds}초",
    "duration.hours": "{hours}시간",
    "duration.hoursMinutes": "{hours}시간 {minutes}분",
    "error.connection": "연결이 끊어졌습니다.",
    "error.timeout": "서버의 응답이 너무 늦습니다.",
    "error.stalled": "전송이 멈췄습니다.",
    "error.unauthorized": "액세스 토큰이 승인되지 않았습니다. 설정에서 확인하세요.",
    "error.refused": "서비스가 이 파일을 거부했습니다.",
    "error.notReady": "결과가 아직 준비되지 않았습니다.",
    "error.waitTimedOut": "결과가 제시간에 도착하지 않았습니다.",
    "error.service": "서비스에 문제가 있습니다. 잠시 후 다시 시도하세요.",
    "error.storage": "저장소 서비스가 전송을 거부했습니다.",
    "error.integrity": "받은 데이터가 손상되어 저장하지 않았습니다.",
    "error.io": "파일을 읽거나 쓸 수 없습니다.",
    "error.tooLarge": "이 파일은 너무 커서 보낼 수 없습니다.",
    "error.cancelled": "취소되었습니다.",
    "error.unknown": "문제가 발생했습니다.",
  },
};

/** The languages the interface speaks. */
export const LANGUAGES = Object.freeze(["en", "ko"]);

/**
 * The language to show: the user's choice when it is one we speak, else the first of the system's
 * preferred languages that we speak (by its primary subtag: "ko-KR" is Korean), else English.
 * @param {string | null | undefined} choice "en", "ko", or "system"/empty for the system's
 * @param {readonly string[]} systemLanguages e.g. `navigator.languages`
 */
export function pickLanguage(choice, systemLanguages) {
  if (choice && LANGUAGES.includes(choice)) return choice;
  for (const tag of systemLanguages ?? []) {
    const primary = String(tag).toLowerCase().split(/[-_]/)[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  return "en";
}

/**
 * A translator for `language`: `t("key", { name: "x" })` fills `{name}` placeholders.
 * @param {string} language
 * @returns {(key: string, params?: Record<string, unknown>) => string}
 */
export function translator(language) {
  const own = MESSAGES[language] ?? MESSAGES.en;
  return (key, params = {}) => {
    const template = own[key] ?? MESSAGES.en[key] ?? key;
    return template.replace(/\{(\w+)\}/g, (whole, name) =>
      Object.hasOwn(params, name) ? String(params[name]) : whole,
    );
  };
}

/**
 * The plain-language message for an error from the app: by its kind, never by parsing its text.
 * The engine's own message is used for refusals, which carry the service's reason.
 * @param {{ kind?: string, message?: string } | null | undefined} error
 * @param {(key: string, params?: Record<string, unknown>) => string} t
 */
export function errorMessage(error, t) {
  const kind = error?.kind;
  if (kind === "refused" && error?.message) return error.message;
  const key = `error.${kind}`;
  const text = t(key);
  return text === key ? t("error.unknown") : text;
}
