/**
 * Local calendar arithmetic in an IANA zone with nothing but `Intl`: the patient's local
 * month of an instant, and the next local midnight (zone rules and DST included).
 */

function parts(at: Date, tz: string): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const fmt = new Intl.DateTimeFormat("en-US", {
    timeZone: tz,
    hourCycle: "h23",
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const out: Record<string, number> = {};
  for (const p of fmt.formatToParts(at)) if (p.type !== "literal") out[p.type] = Number(p.value);
  return {
    year: out.year!, month: out.month!, day: out.day!,
    hour: out.hour!, minute: out.minute!, second: out.second!,
  };
}

/** The local date (`YYYY-MM-DD`) of `at` in `tz`. */
export function localDate(at: Date, tz: string): string {
  const p = parts(at, tz);
  return `${String(p.year).padStart(4, "0")}-${String(p.month).padStart(2, "0")}-${String(p.day).padStart(2, "0")}`;
}

/** The local month (`YYYY-MM`) of `at` in `tz`: the month document an entry belongs in. */
export function localMonth(at: Date, tz: string): string {
  return localDate(at, tz).slice(0, 7);
}

/** The month after `month` (`YYYY-MM`). */
export function nextMonth(month: string): string {
  const [y, m] = month.split("-").map(Number) as [number, number];
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, "0")}`;
}

/** The zone's offset from UTC at `at`, in milliseconds. */
function offsetMs(at: Date, tz: string): number {
  const p = parts(at, tz);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - Math.floor(at.getTime() / 1000) * 1000;
}

/** The first instant after `at` whose local date in `tz` is the next day. */
export function nextLocalMidnight(at: Date, tz: string): Date {
  const p = parts(at, tz);
  const wallMidnight = Date.UTC(p.year, p.month - 1, p.day + 1, 0, 0, 0);
  // Two rounds settle the offset across a DST change.
  let guess = wallMidnight - offsetMs(new Date(wallMidnight), tz);
  guess = wallMidnight - offsetMs(new Date(guess), tz);
  // A zone that skips midnight (DST at 00:00) starts the day later: step forward to it.
  const today = localDate(at, tz);
  while (localDate(new Date(guess), tz) === today) guess += 15 * 60 * 1000;
  return new Date(Math.max(guess, at.getTime() + 1));
}
