import { test } from "node:test";
import assert from "node:assert/strict";

import { formatBytes, formatDuration, formatSpeed, percent } from "../src/format.js";
import { translator } from "../src/i18n.js";

test("sizes use decimal units and at most three significant digits", () => {
  const cases = [
    [0, "0 B"],
    [1, "1 B"],
    [999, "999 B"],
    [1000, "1 kB"],
    [1536, "1.54 kB"],
    [12_345_678, "12.3 MB"],
    [999_950, "1 MB"],
    [1_073_741_824, "1.07 GB"],
    [5 * 1000 ** 4, "5 TB"],
  ];
  for (const [bytes, expected] of cases) {
    assert.equal(formatBytes(bytes), expected, `${bytes}`);
  }
});

test("sizes drop trailing zeros and refuse nonsense", () => {
  assert.equal(formatBytes(1_500_000), "1.5 MB");
  assert.equal(formatBytes(2_000_000_000), "2 GB");
  assert.equal(formatBytes(10_050_000), "10.1 MB");
  assert.equal(formatBytes(-1), "–");
  assert.equal(formatBytes(Number.NaN), "–");
});

test("speeds are sizes per second, unknown until there is one", () => {
  assert.equal(formatSpeed(2_500_000), "2.5 MB/s");
  for (const unknown of [null, undefined, 0, -5, Number.POSITIVE_INFINITY]) {
    assert.equal(formatSpeed(unknown), "–");
  }
});

test("time left shows the two largest units, in each language", () => {
  const en = translator("en");
  const ko = translator("ko");
  const cases = [
    [0, "0 s", "0초"],
    [0.2, "1 s", "1초"],
    [45, "45 s", "45초"],
    [60, "1 min", "1분"],
    [125, "2 min 5 s", "2분 5초"],
    [3600, "1 h", "1시간"],
    [3 * 3600 + 4 * 60 + 59, "3 h 4 min", "3시간 4분"],
  ];
  for (const [seconds, english, korean] of cases) {
    assert.equal(formatDuration(seconds, en), english, `${seconds}`);
    assert.equal(formatDuration(seconds, ko), korean, `${seconds}`);
  }
  assert.equal(formatDuration(null, en), "–");
});

test("a part of a whole drops its unit when the whole has the same one", async () => {
  const { formatBytesOf } = await import("../src/format.js");
  assert.deepEqual(formatBytesOf(3_100_000_000, 7_900_000_000), ["3.1", "7.9 GB"]);
  assert.deepEqual(formatBytesOf(950_000_000, 7_900_000_000), ["950 MB", "7.9 GB"]);
  assert.deepEqual(formatBytesOf(0, 10), ["0", "10 B"]);
  assert.deepEqual(formatBytesOf(-1, 10), ["–", "10 B"]);
});

test("progress bars stay between 0 and 100", () => {
  assert.equal(percent(0, 100), 0);
  assert.equal(percent(50, 200), 25);
  assert.equal(percent(199, 200), 99);
  assert.equal(percent(300, 200), 100);
  assert.equal(percent(0, 0), 0);
});

test("a row's detail line says what is happening in the row's language", async () => {
  const { detail } = await import("../src/view.js");
  const base = { name: "a.png", size: 2_000_000, transferred: 500_000, total: 2_000_000, bytesPerSecond: 250_000, etaSeconds: 6, error: null, retrying: null };
  const en = { t: translator("en"), language: "en" };
  const ko = { t: translator("ko"), language: "ko" };
  assert.equal(detail({ ...base, status: "uploading" }, en), "500 kB of 2 MB · 250 kB/s · 6 s left");
  assert.equal(detail({ ...base, status: "downloading" }, ko), "2 MB 중 500 kB · 250 kB/s · 6초 남음");
  assert.equal(
    detail({ ...base, status: "processing" }, en),
    "Sent. The result will download by itself when it is ready.",
  );
  assert.equal(detail({ ...base, status: "waiting" }, en), "");
  assert.equal(
    detail({ ...base, status: "failed", error: { kind: "stalled", message: "x" } }, ko),
    "전송이 멈췄습니다.",
  );
  assert.equal(
    detail({ ...base, status: "uploading", retrying: { kind: "connection", reason: "x", delaySeconds: 5 } }, en),
    "The connection dropped. Trying again in 5 s.",
  );
  // The pending retry is worded from its kind, in the row's language, not from the English reason.
  assert.equal(
    detail({ ...base, status: "uploading", retrying: { kind: "timeout", reason: "x", delaySeconds: 65 } }, ko),
    "서버의 응답이 너무 늦습니다. 1분 5초 후 다시 시도합니다.",
  );
});

test("a paused, resumed or restarted row says so in the row's language", async () => {
  const { detail } = await import("../src/view.js");
  const base = {
    name: "scan.tif",
    size: 7_900_000_000,
    transferred: 3_100_000_000,
    total: 7_900_000_000,
    bytesPerSecond: null,
    etaSeconds: null,
    error: null,
    retrying: null,
    resuming: null,
    startedOver: null,
  };
  const en = { t: translator("en"), language: "en" };
  const ko = { t: translator("ko"), language: "ko" };
  const resuming = { ...base, resuming: { alreadySent: 3_100_000_000, total: 7_900_000_000 } };
  assert.equal(detail({ ...resuming, status: "uploading" }, en), "Resuming: 3.1 of 7.9 GB already sent");
  assert.equal(detail({ ...resuming, status: "uploading" }, ko), "이어서 보내는 중: 7.9 GB 중 3.1 전송 완료");
  assert.equal(detail({ ...resuming, status: "downloading" }, en), "Resuming: 3.1 of 7.9 GB already received");
  assert.equal(detail({ ...resuming, status: "downloading" }, ko), "이어서 받는 중: 7.9 GB 중 3.1 수신 완료");
  const little = { ...base, resuming: { alreadySent: 950_000_000, total: 7_900_000_000 } };
  assert.equal(detail({ ...little, status: "uploading" }, en), "Resuming: 950 MB of 7.9 GB already sent");
  assert.equal(
    detail({ ...base, status: "uploading", transferred: 0, startedOver: "fileChanged" }, en),
    "The file changed since it was paused; sending it again from the start. 0 B of 7.9 GB · – · – left",
  );
  assert.equal(
    detail({ ...base, status: "uploading", transferred: 0, startedOver: "expired" }, ko),
    "이전 업로드가 만료되어 다시 보냅니다. 7.9 GB 중 0 B · – · – 남음",
  );
  // A download that starts over says it fetches the result again, not that it sends a file.
  assert.equal(
    detail({ ...base, status: "downloading", transferred: 0, startedOver: "expired" }, en),
    "The result changed since its download began; fetching it again from the start. 0 B of 7.9 GB · – · – left",
  );
  for (const reason of ["fileChanged", "expired", "recordDamaged"]) {
    for (const status of ["uploading", "downloading"]) {
      for (const t of [en, ko]) {
        const line = detail({ ...base, status, startedOver: reason }, t);
        assert.ok(!line.includes("row."), `${status} ${reason} in ${t.language}: ${line}`);
        assert.notEqual(line, detail({ ...base, status }, t), `${status} ${reason} has a note`);
      }
    }
  }
  // A reason this page does not know yet shows the progress alone, never a message key.
  assert.equal(
    detail({ ...base, status: "uploading", startedOver: "somethingNew" }, en),
    "3.1 GB of 7.9 GB · – · – left",
  );
  assert.equal(detail({ ...base, status: "paused" }, en), "Paused. Resume goes on from where it stopped.");
  assert.equal(detail({ ...base, status: "paused" }, ko), "일시 정지했습니다. 이어서 하면 멈춘 곳부터 계속합니다.");
});
