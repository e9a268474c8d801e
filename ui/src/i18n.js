// The interface's words in English and Korean. The language follows the system unless the user
// chose one in the settings; keys missing from a language fall back to English, and a missing key
// shows itself, so a gap is visible rather than blank. A message that counts something has one
// form per plural category of its language (`{ one, other }` in English; Korean has no plural
// form, so its messages are plain text), chosen by the `count` it is given.

/** @typedef {string | Partial<Record<Intl.LDMLPluralRule, string>>} Message */

/** @type {Record<string, Record<string, Message>>} */
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
    "status.paused": "Paused",
    "action.pause": "Pause",
    "action.resume": "Resume",
    "action.cancel": "Cancel",
    "action.retry": "Retry",
    "action.open": "Open",
    "action.showInFolder": "Show in folder",
    "action.remove": "Remove from list",
    "totals.summary": {
      one: "{count} file · {ready} ready · {active} in progress · {failed} failed",
      other: "{count} files · {ready} ready · {active} in progress · {failed} failed",
    },
    "totals.empty": "No files yet",
    "row.retrying": "{reason} Trying again in {delay}.",
    "row.progress": "{done} of {total} · {speed} · {left} left",
    "row.processing": "Sent. The result will download by itself when it is ready.",
    "row.paused": "Paused. Resume goes on from where it stopped.",
    "row.resumingUpload": "Resuming: {done} of {total} already sent",
    "row.resumingDownload": "Resuming: {done} of {total} already received",
    "row.startedOverUpload.fileChanged": "The file changed since it was paused; sending it again from the start.",
    "row.startedOverUpload.expired": "The earlier upload had expired; sending it again.",
    "row.startedOverUpload.recordDamaged": "What was kept of the earlier upload could not be read; sending it again from the start.",
    "row.startedOverDownload.fileChanged": "The result changed since its download began; fetching it again from the start.",
    "row.startedOverDownload.expired": "The result changed since its download began; fetching it again from the start.",
    "row.startedOverDownload.recordDamaged": "What was kept of the earlier download could not be used; fetching it again from the start.",
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
    "error.processingFailed": "The file could not be processed: {reason}",
    "error.unknown": "Something went wrong.",
    "nav.label": "Views",
    "nav.transfers": "Transfers",
    "nav.results": "Results on the server",
    "nav.settings": "Settings",
    "welcome.title": "Welcome to DDN Transfer",
    "welcome.body": "To send files, enter the service address and the access token you were given. You only do this once.",
    "welcome.setup": "Set up",
    "settings.title": "Settings",
    "settings.apiUrl": "Service address",
    "settings.apiUrlHint": "Starts with https://",
    "settings.fromEnvironment": "Set for this run by the environment.",
    "settings.token": "Access token",
    "settings.tokenSaved": "A token is saved. Leave empty to keep it.",
    "settings.tokenMissing": "No token saved yet.",
    "settings.resultsDir": "Results folder",
    "settings.chooseFolder": "Choose…",
    "settings.language": "Language",
    "settings.languageSystem": "Same as the system",
    "settings.test": "Test connection",
    "settings.testing": "Testing…",
    "settings.testOk": "Connected. The service accepted the token.",
    "settings.save": "Save",
    "settings.close": "Cancel",
    "settings.saved": "Settings saved.",
    "results.title": "Results on the server",
    "results.hint": "Results of files sent from this computer or elsewhere. Download one to add it to your results folder.",
    "results.refresh": "Refresh",
    "results.loading": "Loading…",
    "results.empty": "No results on the server yet.",
    "results.download": "Download",
    "results.added": "Added to the transfers: {name}",
    "results.count": { one: "{count} result", other: "{count} results" },
    "results.countMore": { one: "{count} result so far; more as you scroll", other: "{count} results so far; more as you scroll" },
    "error.notConfigured": "Set the service address and access token in the settings first.",
    "error.invalidSettings": "Check the settings: {message}",
    "error.keyring": "The token could not be saved in the system's keyring.",
    "error.notFound": "That file is no longer there.",
    "error.duplicate": "A file with this name is already on its way; retry once it is done.",
    "error.busy": "Cancel the transfer first.",
    "error.internal": "The app stopped a task unexpectedly. Try again.",
    "nav.about": "About",
    "about.title": "About DDN Transfer",
    "about.version": "Version {version}",
    "about.service": "Service: {url}",
    "about.noService": "No service is set up yet.",
    "about.help": "Help",
    "about.close": "Close",
    "update.check": "Check for updates",
    "update.checking": "Checking for updates…",
    "update.notConfigured": "This copy of the app does not check for updates.",
    "update.upToDate": "You have the newest version.",
    "update.available": "Version {version} is available.",
    "update.install": "Install update",
    "update.later": "Later",
    "update.waiting": "The update will be installed when the transfers are done.",
    "update.downloading": "Downloading the update… {percent}",
    "update.installing": "Installing the update…",
    "update.installed": "Version {version} is installed. Restart the app to use it.",
    "update.restart": "Restart now",
    "error.updateUnverified": "The update could not be verified, so it was not installed. The app is unchanged.",
    "error.updateUnreachable": "The update server could not be reached. Try again later.",
    "error.updateFailed": "The update could not be installed. The app is unchanged.",
    "error.transfersMoving": "Transfers are still moving. Restart when they are done.",
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
    "status.paused": "일시 정지됨",
    "action.pause": "일시 정지",
    "action.resume": "이어서 하기",
    "action.cancel": "취소",
    "action.retry": "다시 시도",
    "action.open": "열기",
    "action.showInFolder": "폴더에서 보기",
    "action.remove": "목록에서 제거",
    "totals.summary": "파일 {count}개 · 완료 {ready} · 진행 중 {active} · 실패 {failed}",
    "totals.empty": "아직 파일이 없습니다",
    "row.retrying": "{reason} {delay} 후 다시 시도합니다.",
    "row.progress": "{total} 중 {done} · {speed} · {left} 남음",
    "row.processing": "전송했습니다. 결과가 준비되면 자동으로 다운로드됩니다.",
    "row.paused": "일시 정지했습니다. 이어서 하면 멈춘 곳부터 계속합니다.",
    "row.resumingUpload": "이어서 보내는 중: {total} 중 {done} 전송 완료",
    "row.resumingDownload": "이어서 받는 중: {total} 중 {done} 수신 완료",
    "row.startedOverUpload.fileChanged": "일시 정지한 뒤 파일이 바뀌어 처음부터 다시 보냅니다.",
    "row.startedOverUpload.expired": "이전 업로드가 만료되어 다시 보냅니다.",
    "row.startedOverUpload.recordDamaged": "이전 업로드 기록을 읽을 수 없어 처음부터 다시 보냅니다.",
    "row.startedOverDownload.fileChanged": "다운로드를 시작한 뒤 결과가 바뀌어 처음부터 다시 받습니다.",
    "row.startedOverDownload.expired": "다운로드를 시작한 뒤 결과가 바뀌어 처음부터 다시 받습니다.",
    "row.startedOverDownload.recordDamaged": "이전 다운로드 기록을 쓸 수 없어 처음부터 다시 받습니다.",
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
    "error.processingFailed": "파일을 처리할 수 없습니다: {reason}",
    "error.unknown": "문제가 발생했습니다.",
    "nav.label": "화면",
    "nav.transfers": "전송",
    "nav.results": "서버의 결과",
    "nav.settings": "설정",
    "welcome.title": "DDN 전송에 오신 것을 환영합니다",
    "welcome.body": "파일을 보내려면 받은 서비스 주소와 액세스 토큰을 입력하세요. 한 번만 하면 됩니다.",
    "welcome.setup": "설정하기",
    "settings.title": "설정",
    "settings.apiUrl": "서비스 주소",
    "settings.apiUrlHint": "https://로 시작합니다",
    "settings.fromEnvironment": "이번 실행에는 환경 변수의 값이 사용됩니다.",
    "settings.token": "액세스 토큰",
    "settings.tokenSaved": "토큰이 저장되어 있습니다. 유지하려면 비워 두세요.",
    "settings.tokenMissing": "저장된 토큰이 없습니다.",
    "settings.resultsDir": "결과 폴더",
    "settings.chooseFolder": "선택…",
    "settings.language": "언어",
    "settings.languageSystem": "시스템과 같게",
    "settings.test": "연결 테스트",
    "settings.testing": "테스트 중…",
    "settings.testOk": "연결되었습니다. 서비스가 토큰을 승인했습니다.",
    "settings.save": "저장",
    "settings.close": "취소",
    "settings.saved": "설정을 저장했습니다.",
    "results.title": "서버의 결과",
    "results.hint": "이 컴퓨터나 다른 곳에서 보낸 파일의 결과입니다. 다운로드하면 결과 폴더에 추가됩니다.",
    "results.refresh": "새로 고침",
    "results.loading": "불러오는 중…",
    "results.empty": "서버에 아직 결과가 없습니다.",
    "results.download": "다운로드",
    "results.added": "전송 목록에 추가했습니다: {name}",
    "results.count": "결과 {count}개",
    "results.countMore": "지금까지 결과 {count}개 · 스크롤하면 더 불러옵니다",
    "error.notConfigured": "먼저 설정에서 서비스 주소와 액세스 토큰을 입력하세요.",
    "error.invalidSettings": "설정을 확인하세요: {message}",
    "error.keyring": "시스템 키링에 토큰을 저장할 수 없습니다.",
    "error.notFound": "그 파일은 더 이상 없습니다.",
    "error.duplicate": "같은 이름의 파일이 이미 전송 중입니다. 끝난 뒤에 다시 시도하세요.",
    "error.busy": "먼저 전송을 취소하세요.",
    "error.internal": "앱이 작업을 예기치 않게 중단했습니다. 다시 시도하세요.",
    "nav.about": "정보",
    "about.title": "DDN 전송 정보",
    "about.version": "버전 {version}",
    "about.service": "서비스: {url}",
    "about.noService": "아직 서비스가 설정되지 않았습니다.",
    "about.help": "도움말",
    "about.close": "닫기",
    "update.check": "업데이트 확인",
    "update.checking": "업데이트를 확인하는 중…",
    "update.notConfigured": "이 앱은 업데이트를 확인하지 않습니다.",
    "update.upToDate": "최신 버전을 사용하고 있습니다.",
    "update.available": "새 버전 {version}을 설치할 수 있습니다.",
    "update.install": "업데이트 설치",
    "update.later": "나중에",
    "update.waiting": "전송이 끝나면 업데이트를 설치합니다.",
    "update.downloading": "업데이트를 내려받는 중… {percent}",
    "update.installing": "업데이트를 설치하는 중…",
    "update.installed": "버전 {version}이 설치되었습니다. 앱을 다시 시작하면 적용됩니다.",
    "update.restart": "지금 다시 시작",
    "error.updateUnverified": "업데이트를 검증할 수 없어 설치하지 않았습니다. 앱은 그대로입니다.",
    "error.updateUnreachable": "업데이트 서버에 연결할 수 없습니다. 나중에 다시 시도하세요.",
    "error.updateFailed": "업데이트를 설치하지 못했습니다. 앱은 그대로입니다.",
    "error.transfersMoving": "전송이 아직 진행 중입니다. 끝난 뒤에 다시 시작하세요.",
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

/** One plural rule set per language, made once (building one costs more than using it). */
/** @type {Map<string, Intl.PluralRules>} */
const pluralRules = new Map();

/**
 * The form of `message` for `count` in `language`: its own category's (`one` for 1 in English),
 * else `other`.
 * @param {Message} message
 * @param {string} language
 * @param {unknown} count
 * @returns {string}
 */
export function pluralForm(message, language, count) {
  if (typeof message === "string") return message;
  let rules = pluralRules.get(language);
  if (!rules) {
    rules = new Intl.PluralRules(language);
    pluralRules.set(language, rules);
  }
  const category = rules.select(Number(count ?? 0));
  return message[category] ?? message.other ?? "";
}

/**
 * A translator for `language`: `t("key", { name: "x" })` fills `{name}` placeholders; a message
 * with plural forms takes the one for `params.count`.
 * @param {string} language
 * @returns {(key: string, params?: Record<string, unknown>) => string}
 */
export function translator(language) {
  const own = MESSAGES[language] ?? MESSAGES.en;
  return (key, params = {}) => {
    const message = own[key] ?? MESSAGES.en[key] ?? key;
    const template = pluralForm(message, own[key] ? language : "en", params.count);
    return template.replace(/\{(\w+)\}/g, (whole, name) =>
      Object.hasOwn(params, name) ? String(params[name]) : whole,
    );
  };
}

/**
 * The key of the message for an error of `kind`: the app spells kinds in snake_case
 * (`wait_timed_out`), message keys are camelCase (`error.waitTimedOut`).
 * @param {string} kind
 */
export function errorKey(kind) {
  return `error.${kind.replace(/_([a-z])/g, (_, letter) => letter.toUpperCase())}`;
}

/**
 * The plain-language message for an error from the app: by its kind, never by parsing its text.
 * The engine's own message is used for refusals, which carry the service's reason.
 * @param {{ kind?: string, message?: string, detail?: string | null } | null | undefined} error
 * @param {(key: string, params?: Record<string, unknown>) => string} t
 */
export function errorMessage(error, t) {
  const kind = String(error?.kind ?? "");
  if (kind === "refused" && error?.message) return error.message;
  // The processor's own reason, as it came, inside the user's language.
  if (kind === "processing_failed") return t("error.processingFailed", { reason: error?.detail ?? "" });
  const key = errorKey(kind);
  const text = t(key, { message: error?.message ?? "" });
  return text === key ? t("error.unknown") : text;
}
