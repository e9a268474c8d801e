// Numbers as people read them: sizes, speeds and time left, in the interface's language.
//
// Sizes use decimal units (1 MB = 1,000,000 bytes), as the file managers of macOS and of most Linux
// desktops show them, so a file's size here matches what the user sees elsewhere.

const UNITS = ["B", "kB", "MB", "GB", "TB", "PB"];

/**
 * A byte count as "0 B", "999 B", "1.5 MB", "12 GB": three significant digits at most.
 * The same in both of the app's languages: both write decimals with a point.
 * @param {number} bytes
 */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return "–";
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  // Rounding can carry into the next unit: 999,950 B is "1 MB", not "1,000 kB".
  if (unit < UNITS.length - 1 && Number(value.toPrecision(3)) >= 1000) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  // No number here reaches a thousand, so there is no grouping to do and no Intl formatter is
  // needed (WebKit's first one costs about 10 MiB of locale data).
  const number = String(Number(value.toFixed(digits)));
  return `${number} ${UNITS[unit]}`;
}

/**
 * A part of a whole, both sizes as {@link formatBytes} writes them, except that the part drops
 * its unit when the whole has the same one: ("3.1", "7.9 GB"), read as "3.1 of 7.9 GB", but
 * ("950 MB", "7.9 GB").
 * @param {number} part
 * @param {number} whole
 * @returns {[string, string]}
 */
export function formatBytesOf(part, whole) {
  const partText = formatBytes(part);
  const wholeText = formatBytes(whole);
  const unit = (/** @type {string} */ text) => text.slice(text.indexOf(" "));
  const sameUnit = partText !== "–" && wholeText !== "–" && unit(partText) === unit(wholeText);
  return [sameUnit ? partText.slice(0, partText.indexOf(" ")) : partText, wholeText];
}

/**
 * A speed as "12.5 MB/s"; "–" when unknown.
 * @param {number | null | undefined} bytesPerSecond
 */
export function formatSpeed(bytesPerSecond) {
  if (bytesPerSecond == null || !Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) return "–";
  return `${formatBytes(bytesPerSecond)}/s`;
}

/**
 * Time left in the two largest units that matter: "45 s", "2 min 5 s", "1 h 3 min" (or in Korean
 * "45초", "2분 5초", "1시간 3분"). Seconds are dropped from an hour or more; "–" when unknown.
 * @param {number | null | undefined} seconds
 * @param {(key: string, params?: Record<string, unknown>) => string} t the translator
 */
export function formatDuration(seconds, t) {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return "–";
  const whole = Math.ceil(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  if (hours > 0) {
    return minutes > 0
      ? t("duration.hoursMinutes", { hours, minutes })
      : t("duration.hours", { hours });
  }
  if (minutes > 0) {
    return rest > 0
      ? t("duration.minutesSeconds", { minutes, seconds: rest })
      : t("duration.minutes", { minutes });
  }
  return t("duration.seconds", { seconds: rest });
}

/**
 * A share done as a whole percentage for a progress bar, 0 to 100 (0 while the total is unknown
 * or zero: the row's status says when such a transfer is done).
 * @param {number} transferred
 * @param {number} total
 */
export function percent(transferred, total) {
  if (!(total > 0)) return 0;
  return Math.max(0, Math.min(100, Math.floor((transferred / total) * 100)));
}
